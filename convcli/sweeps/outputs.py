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


OKABE_ITO = ("#0072B2", "#E69F00", "#009E73", "#D55E00", "#CC79A7", "#56B4E9", "#000000", "#F0E442")
SEED_STYLES = ("-", "--", ":", "-.")  # one per seed: a point's identical curves stay apart


def plot_curves(sweep: Sweep, points: list[PointRow], out: Path) -> None:
    """Every trial's validation curve: a colour per point (its params in the legend), a line
    style per seed; a pruned trial ends in an x."""
    plt = pyplot()

    key = epoch_metric(sweep.spec.metric)
    scale = 100 if key.endswith("accuracy") else 1
    figure, ax = plt.subplots(figsize=(7.5, 4.5))
    for index, point in enumerate(points):
        colour = OKABE_ITO[index % len(OKABE_ITO)]
        params = ", ".join(f"{short(k)}={value_text(point.params.get(k))}" for k in sweep.spec.params)
        for seed_index, trial in enumerate(point.trials):
            rows = read_rows(Path(trial.run) / "metrics.csv") if trial.run else []
            xs = [r["epoch"] for r in rows if isinstance(r.get(key), float)]
            ys = [scale * r[key] for r in rows if isinstance(r.get(key), float)]
            if not xs:
                continue
            ax.plot(xs, ys, linestyle=SEED_STYLES[seed_index % len(SEED_STYLES)], color=colour, linewidth=1,
                    label=f"point {point.point}" + (f" ({params})" if params else "") + f", seed {trial.seed}")
            if trial.status == "pruned":
                ax.plot(xs[-1], ys[-1], "x", color=colour, markersize=8)
    ax.xaxis.get_major_locator().set_params(integer=True)
    ax.set(xlabel="epoch", ylabel=f"{key} (%)" if scale == 100 else key,
           title=f"every trial's {key} (x: pruned)")
    if sum(len(p.trials) for p in points) <= 16:
        ax.legend(fontsize=7)
    save_figure(figure, out)
