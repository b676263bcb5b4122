"""The demo page: what `convcli demo` measured, in one page beside its runs.

The terminal's table against the book's figures (with --seeds, also the chapter's
lessons), each stage's validation curve (the mean over seeds with a band of ± one
standard deviation), and links to each stage's run or sweep page. The cells are
run_tables' own, so the page and the terminal say the same numbers.
"""

from __future__ import annotations

import datetime as dt
import os
import statistics
from html import escape
from pathlib import Path

from convcli.files import atomic_write_text
from convcli.formats import duration
from convcli.pages.charts import Series, colour, line_chart
from convcli.pages.curves import number
from convcli.pages.curves import read_rows as read_metrics
from convcli.pages.parts import document, html_table, section
from convcli.run_tables import (DEMO_CAPTION, DEMO_HEADER, LESSONS_CAPTION, SEEDED_DEMO_CAPTION,
                                SEEDED_DEMO_HEADER, demo_rows, lessons, seeded_demo_rows)

NAV = (("results", "results"), ("curves", "curves"), ("runs", "runs"))


def write_demo_page(rows: list[dict], runs_dir: Path, wall_seconds: float, seeds: int = 1) -> Path:
    """Write `<runs_dir>/demo_<time>.html` (never over an earlier demo's); return its path."""
    path = Path(runs_dir) / f"demo_{dt.datetime.now():%Y-%m-%d_%H-%M-%S}.html"
    atomic_write_text(path, demo_html(rows, Path(runs_dir), wall_seconds, seeds))
    return path


def demo_html(rows: list[dict], runs_dir: Path, wall_seconds: float, seeds: int) -> str:
    if seeds > 1:
        table = html_table(list(SEEDED_DEMO_HEADER), seeded_demo_rows(rows))
        results = (scrolled(table) + f'<p class="note">{escape(SEEDED_DEMO_CAPTION)}</p>'
                   + "<h3>the chapter's lessons, measured</h3>"
                   + scrolled(html_table(["lesson", "points"], [list(pair) for pair in lessons(rows)]))
                   + f'<p class="note">{escape(LESSONS_CAPTION)}</p>')
    else:
        results = (scrolled(html_table(list(DEMO_HEADER), demo_rows(rows)))
                   + f'<p class="note">{escape(DEMO_CAPTION)}</p>')
    how = f"{seeds} seeds a stage" if seeds > 1 else "one seed a stage"
    body = "\n".join([
        "<h1>the workflow on the built-in data</h1>",
        f"<p>scratch → augment → extract → fine-tune, {how}, {duration(wall_seconds)} in all.</p>",
        section("results", "results", results),
        section("curves", "curves", '<div class="charts">' + curves_chart(rows, runs_dir) + "</div>"),
        section("runs", "runs", links(rows, runs_dir)),
    ])
    return document("demo", NAV, body)


def scrolled(table: str) -> str:
    return f'<div class="scroll">{table}</div>'


def stage_curves(row: dict, runs_dir: Path) -> list[list]:
    """A stage's validation accuracy per epoch, one list per seed."""
    if "curves" in row:
        return row["curves"]
    rows = read_metrics(runs_dir / row["run"] / "metrics.csv") if row.get("run") else []
    return [[number(r.get("val_accuracy")) for r in rows]]


def band(curves: list[list]) -> tuple[list, list]:
    """(epoch, mean) and (epoch, mean - std, mean + std) over the seeds that reached each epoch."""
    means, spread = [], []
    for index in range(max((len(c) for c in curves), default=0)):
        column = [c[index] for c in curves if index < len(c) and isinstance(c[index], (int, float))]
        if not column:
            continue
        mean = statistics.fmean(column)
        std = statistics.stdev(column) if len(column) > 1 else 0.0
        means.append((index + 1, mean))
        spread.append((index + 1, mean - std, mean + std))
    return means, spread


def curves_chart(rows: list[dict], runs_dir: Path) -> str:
    series = []
    for index, row in enumerate(rows):
        curves = stage_curves(row, runs_dir)
        means, spread = band(curves)
        label = f"{row['stage']} ({len(curves)} seed{'s' if len(curves) > 1 else ''})"
        series.append(Series(label, means, colour(index), band=spread if len(curves) > 1 else []))
    title = "validation accuracy per stage" + (": mean ± std over seeds" if any(s.band for s in series) else "")
    return line_chart(title, series, "epoch", "validation accuracy", percent=True, zoom_id="zoom-demo")


def links(rows: list[dict], runs_dir: Path) -> str:
    """Each stage's run page (one seed) or sweep page (its seeds' runs)."""
    items = []
    for row in rows:
        target = Path(row["sweep"]) if row.get("sweep") else runs_dir / row.get("run", "")
        page = target / "report.html"
        href = os.path.relpath(page if page.is_file() else target, runs_dir)
        what = "its sweep of seeds" if row.get("sweep") else "its run"
        items.append(f'<li>{escape(row["stage"])}: <a href="{escape(href)}">{escape(target.name)}</a> '
                     f"({what})</li>")
    return f"<ul>{''.join(items)}</ul>"
