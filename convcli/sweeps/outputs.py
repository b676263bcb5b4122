"""A finished sweep's pictures and page: plots/ and report.html.

plots/<param>.png: the metric against each param, mean ± std over seeds as error bars,
one line per combination of the other params; plots/curves.png: every trial's
validation curve, pruned trials dashed and ending in an x. report.html is
convcli/pages/sweep.py's, drawn from the sweep directory's files.
"""

from __future__ import annotations

from pathlib import Path

from convcli.pages.plots import pyplot, save_figure
from convcli.pages.sweep import write_sweep_page
from convcli.sweeps.directory import SweepDir
from convcli.sweeps.display import short, value_text
from convcli.sweeps.records import PointRow
from convcli.sweeps.spec import Sweep
from convcli.sweeps.trial import epoch_metric, read_rows


def write_outputs(folder: SweepDir, sweep: Sweep, points: list[PointRow], best: PointRow | None) -> None:
    import matplotlib

    matplotlib.use("Agg")
    folder.plots.mkdir(exist_ok=True)
    for key in sweep.spec.params:
        plot_param(sweep, points, key, folder.plots / f"{short(key)}.png")
    plot_curves(sweep, points, folder.plots / "curves.png")
    write_sweep_page(folder.path)  # from the files just written: a page needs no study


def plot_param(sweep: Sweep, points: list[PointRow], key: str, out: Path) -> None:
    plt = pyplot()

    others = [k for k in sweep.spec.params if k != key]
    groups: dict[tuple, list[PointRow]] = {}
    for point in points:
        if point.summary.mean is not None:
            groups.setdefault(tuple(value_text(point.params.get(k)) for k in others), []).append(point)
    values = sorted({value_text(p.params.get(key)) for p in points})
    numeric = all(isinstance(p.params.get(key), (int, float)) for p in points)
    scale = 100 if sweep.spec.metric.endswith("accuracy") else 1
    figure, ax = plt.subplots(figsize=(6.5, 4))
    for label, members in groups.items():
        members.sort(key=lambda p: p.params.get(key) if numeric else value_text(p.params.get(key)))
        xs = [p.params.get(key) if numeric else values.index(value_text(p.params.get(key))) for p in members]
        ys = [scale * p.summary.mean for p in members]
        errors = [scale * (p.summary.std or 0) for p in members]
        name = ", ".join(f"{short(k)}={v}" for k, v in zip(others, label)) or None
        ax.errorbar(xs, ys, yerr=errors, marker="o", capsize=4, label=name)
    if numeric and sweep.spec.params[key][0] == "loguniform" or _spans_decades(points, key):
        ax.set_xscale("log")
    if not numeric:
        ax.set_xticks(range(len(values)), values)
    unit = " (%)" if scale == 100 else ""
    ax.set(xlabel=key, ylabel=f"{sweep.spec.metric}{unit}",
           title=f"{sweep.spec.metric} against {short(key)}: mean ± std over seeds")
    if len(groups) > 1:
        ax.legend(fontsize=8)
    save_figure(figure, out)


def _spans_decades(points: list[PointRow], key: str) -> bool:
    values = [p.params.get(key) for p in points]
    if not values or not all(isinstance(v, (int, float)) and v > 0 for v in values):
        return False
    return max(values) / min(values) >= 100


def plot_curves(sweep: Sweep, points: list[PointRow], out: Path) -> None:
    plt = pyplot()

    key = epoch_metric(sweep.spec.metric)
    figure, ax = plt.subplots(figsize=(7.5, 4.5))
    colours = plt.get_cmap("tab10")
    for index, point in enumerate(points):
        for trial in point.trials:
            rows = read_rows(Path(trial.run) / "metrics.csv") if trial.run else []
            xs = [r["epoch"] for r in rows if isinstance(r.get(key), float)]
            ys = [r[key] for r in rows if isinstance(r.get(key), float)]
            if not xs:
                continue
            pruned = trial.status == "pruned"
            ax.plot(xs, ys, linestyle="--" if pruned else "-", color=colours(index % 10), linewidth=1,
                    label=f"point {point.point}" if trial is point.trials[0] else None)
            if pruned:
                ax.plot(xs[-1], ys[-1], "x", color=colours(index % 10), markersize=8)
    ax.set(xlabel="epoch", ylabel=key, title=f"every trial's {key} (dashed, x: pruned)")
    if len(points) <= 12:
        ax.legend(fontsize=8)
    save_figure(figure, out)
