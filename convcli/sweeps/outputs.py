"""A finished sweep's pictures and page: plots/ and report.html.

plots/<param>.png: the metric against each param, mean ± std over seeds as error bars,
one line per combination of the other params; plots/curves.png: every trial's
validation curve, pruned trials dashed and ending in an x. report.html embeds them with
the points table and links each trial's own report.html.
"""

from __future__ import annotations

import os
from html import escape
from pathlib import Path

from convcli.pages.plots import pyplot, save_figure
from convcli.pages.parts import STYLE, figure_html, html_table, section
from convcli.files import atomic_write_text
from convcli.sweeps.directory import SweepDir
from convcli.sweeps.display import interval_text, short, summary_text, value_text
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
    atomic_write_text(folder.report, page(folder, sweep, points, best))


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




def page(folder: SweepDir, sweep: Sweep, points: list[PointRow], best: PointRow | None) -> str:
    """report.html: the points table, the plots, and a link to every trial's page."""
    metric, keys = sweep.spec.metric, list(sweep.spec.params)
    points_html = html_table(
        ["point", *keys, f"{metric}: mean ± std (n)", "95% CI", "status"],
        [[p.point, *(value_text(p.params.get(k)) for k in keys), summary_text(metric, p),
          interval_text(metric, p), p.status] for p in points],
        [best is not None and p.point == best.point for p in points])
    figures = "".join(figure_html(folder.plots / f"{short(k)}.png", f"{metric} against {k}") for k in keys)
    figures += figure_html(folder.plots / "curves.png", "every trial's validation curve")
    trial_items = []
    for point in points:
        for trial in point.trials:
            link = _link(folder, trial.run)
            value = "-" if trial.value is None else f"{trial.value:.4f}"
            name = escape(Path(trial.run).name) if trial.run else f"trial {trial.number}"
            entry = f'<a href="{escape(link)}">{name}</a>' if link else name
            trial_items.append(f"<li>point {point.point}, seed {trial.seed}: {entry} — "
                               f"{escape(trial.status)}, {escape(metric)} {value}</li>")
    best_text = (f"point {best.point}: {escape(summary_text(metric, best))}; "
                 f"<code>convcli train {escape(str(folder.best_yaml.name))}</code> trains it"
                 if best else "no point has completed all its seeds")
    body = "\n".join([
        f"<h1>sweep {escape(folder.name)}</h1>",
        f"<p>{sweep.point_count} point(s) x {sweep.spec.seeds} seed(s), search "
        f"{escape(sweep.spec.search)}, pruning {escape(sweep.spec.pruning.method)}; judged by "
        f"{escape(metric)} ({escape(sweep.spec.mode)}). Best: {best_text}.</p>",
        section("points", "points", f'<div class="scroll">{points_html}</div>'),
        section("plots", "plots", figures),
        section("trials", "trials", "<ul>" + "".join(trial_items) + "</ul>"),
    ])
    return (f"<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
            f"<title>sweep {escape(folder.name)}</title><style>{STYLE}</style></head>"
            f"<body>\n{body}\n</body></html>\n")


def _link(folder: SweepDir, run: str | None) -> str | None:
    """A relative link to a trial's report.html when the trial ran on this machine."""
    if not run or not Path(run, "report.html").is_file():
        return None
    return os.path.relpath(Path(run, "report.html"), folder.path)
