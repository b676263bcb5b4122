"""A run's training curves on its page: accuracy, loss and the learning rate per epoch,
as charts (charts.py) drawn from metrics.csv.

Training is drawn as dots and validation as a line, as the book plots them, in two
colours; the best epoch and each new phase are marked and labelled; the learning rate
gets a chart of its own only when it changes (else a note says it held). A column left
empty (training accuracy under mixup or cutmix) is not drawn, and the page says why.
"""

from __future__ import annotations

import csv
import math
from pathlib import Path

import yaml

from convcli import safeyaml
from convcli.pages.charts import Mark, Series, colour, line_chart

TRAINING, VALIDATION = colour(1), colour(0)  # orange dots, blue line


def read_rows(path: Path) -> list[dict]:
    """A CSV file's rows (metrics.csv, a sweep's trials.csv and points.csv); [] when it is
    missing or unreadable; cells stay text."""
    try:
        with open(path, newline="", encoding="utf-8", errors="replace") as handle:
            return list(csv.DictReader(handle))
    except (OSError, csv.Error):
        return []


def number(text) -> float | None:
    try:
        value = float(text)
    except (TypeError, ValueError):
        return None
    return value if math.isfinite(value) else None


def epoch_of(row: dict) -> int | None:
    value = number(row.get("epoch"))
    return int(value) if value is not None else None


def phase_marks(rows: list[dict], best_epoch: int | None, monitor: str) -> tuple[Mark, ...]:
    """A labelled line where each new phase begins, and one at the best epoch."""
    marks = [Mark(epoch_of(row) - 0.5, f"{row.get('phase')} →")
             for previous, row in zip(rows, rows[1:])
             if row.get("phase") != previous.get("phase") and epoch_of(row) is not None]
    if best_epoch is not None:
        marks.append(Mark(best_epoch, f"best ({monitor})", colour(3), "2 2"))
    return tuple(marks)


def training_charts(path: Path, best_epoch: int | None, monitor: str,
                    mixed_labels: bool = False) -> tuple[list[str], list[str]]:
    """(charts, notes) of a run's metrics.csv: accuracy (in %), loss, and the learning rate
    when it changes; a note when it does not. ([], []) without epochs. `mixed_labels`: the
    run trained on mixup or cutmix, whose training accuracy is not recorded."""
    rows = [row for row in read_rows(path) if epoch_of(row) is not None]
    if not rows:
        return [], []
    marks = phase_marks(rows, best_epoch, monitor)
    charts = [chart for name in ("accuracy", "loss") if (chart := metric_chart(rows, name, marks, mixed_labels))]
    rates = [(epoch_of(r), number(r.get("learning_rate"))) for r in rows]
    distinct = {f"{rate:.6g}" for _, rate in rates if rate is not None}  # float32 noise is no change
    if len(distinct) > 1:
        charts.append(line_chart("learning rate", [Series("learning rate", rates, colour(2), dots=True)],
                                 "epoch", "learning rate", marks=marks, log_y=True, zoom_id="zoom-lr"))
    notes = [f"learning rate {distinct.pop()} at every epoch (no chart: it never changed)"] if len(distinct) == 1 else []
    return charts, notes


def metric_chart(rows: list[dict], name: str, marks: tuple[Mark, ...], mixed_labels: bool) -> str:
    """Training (dots) and validation (line) `name` per epoch; a column left empty (not
    measured) or absent is not drawn, and for accuracy a line under the chart says why."""
    series = [Series(label, [(epoch_of(r), number(r.get(key))) for r in rows], tint, line=line, dots=not line)
              for label, key, tint, line in (("training", name, TRAINING, False),
                                             ("validation", f"val_{name}", VALIDATION, True))
              if any(number(r.get(key)) is not None for r in rows)]
    if not series:
        return ""
    note = ""
    if name == "accuracy" and series[0].label != "training":
        note = MIXED_LABELS_NOTE if mixed_labels else "training accuracy not recorded"
    return line_chart(name, series, "epoch", name, percent=name == "accuracy", marks=marks,
                      zoom_id=f"zoom-{name}", note=note)


# Under mixup or cutmix each training image is a blend of two, its label the blend of
# theirs: a prediction cannot be right or wrong, so training reports no accuracy.
MIXED_LABELS_NOTE = "training accuracy is not shown: mixup/cutmix mixes the labels"


def labels_mixed(config: str | None) -> bool:
    """Whether a run's config.yaml (its text) trains on mixup or cutmix."""
    try:
        parsed = safeyaml.load(config) if config else None
    except (ValueError, yaml.YAMLError):
        return False  # a damaged config: the page shows it as it is
    augment = parsed.get("augment") if isinstance(parsed, dict) else None
    return isinstance(augment, dict) and any(augment.get(key) not in (None, 0, False)
                                             for key in ("mixup", "cutmix"))
