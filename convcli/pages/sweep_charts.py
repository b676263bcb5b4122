"""A sweep's charts: every trial's curve and the metric against each swept key, as the
pages' Series (charts.py), drawn from the sweep directory's files.

The sweep page draws them as SVG and plots/ as PNG files (pages/sweep.py), so both show
the same curves in the same colours: one per point, a dash per seed.
"""

from __future__ import annotations

from pathlib import Path

from convcli.pages.charts import Series, colour, dash
from convcli.pages.curves import epoch_of, number, read_rows


def trial_metric(name: str) -> str:
    """The per-epoch column a sweep's metric is followed by (val_accuracy for test_accuracy)."""
    return "val_accuracy" if name == "test_accuracy" else name


def short(key: str) -> str:
    """A param's short name, as plots/ names its file: train.learning_rate -> learning_rate."""
    return key.rsplit(".", 1)[-1]


def params_text(row: dict, keys: list[str]) -> str:
    return ", ".join(f"{short(key)}={row.get(key)}" for key in keys) or "the base config"


def point_colours(points: list[dict], trials: list[dict]) -> dict[str, str]:
    """One colour per point id, the same in every chart of the page and of plots/."""
    ids = {row.get("point", "") for row in points + trials}
    order = sorted(ids, key=lambda p: (number(p) is None, number(p) or 0, p))
    return {point: colour(index) for index, point in enumerate(order)}


def trial_run(folder: Path, run: str | None) -> Path | None:
    """A trial's run directory, found under this sweep's trials/ even when the sweep was moved."""
    if not run:
        return None
    path = folder / "trials" / Path(run).name
    return path if path.is_dir() else None


def curve_series(folder: Path, trials: list[dict], keys: list[str], name: str,
                 colours: dict[str, str]) -> list[Series]:
    """Every trial's per-epoch metric: a colour per point, a dash per seed; an empty or
    missing cell is a gap in the curve."""
    key = trial_metric(name)
    seeds = sorted({t.get("seed", "") for t in trials})
    series = []
    for t in trials:
        path = trial_run(folder, t.get("run"))
        rows = read_rows(path / "metrics.csv") if path else []
        values = [(epoch_of(r), number(r.get(key))) for r in rows if epoch_of(r) is not None]
        if any(value is not None for _, value in values):
            label = f"point {t.get('point')} ({params_text(t, keys)}), seed {t.get('seed')}"
            if t.get("status") == "pruned":
                label += ", pruned"
            series.append(Series(label, values, colours.get(t.get("point", ""), colour(0)),
                                 dash(seeds.index(t.get("seed", "")))))
    return series


def param_series(points: list[dict], key: str, keys: list[str],
                 colours: dict[str, str]) -> tuple[list[str], list[Series]]:
    """(the values `key` took, in order; a dot per point at its mean, a whisker of ± one std
    over its seeds). The values are evenly spaced: a grid's 1e-4, 3e-4, 1e-3 read apart,
    which a linear axis would crowd into one corner."""
    names = sorted({row.get(key, "") for row in points}, key=lambda v: (number(v) is None, number(v) or 0, v))
    series = []
    for row in points:
        x, mean, std = names.index(row.get(key, "")), number(row.get("mean")), number(row.get("std")) or 0.0
        if mean is not None:
            series.append(Series(f"point {row.get('point')}" if len(keys) == 1 else "", [(x, mean)],
                                 colours.get(row.get("point", ""), colour(0)), line=False, dots=True,
                                 band=[(x, mean - std, mean + std)]))
    return names, series


def param_title(name: str, key: str) -> str:
    return f"{name} against {key} (mean ± std)"
