"""Plots: the figures of training and evaluation, drawn with matplotlib into PNG files.

curves.png (a run's accuracy and loss per epoch, as the book plots them), the demo's
mean ± std bands over seeds, the confusion matrix's picture, and `write_series_png`: a
page's chart (charts.Series) as a PNG, so a sweep's plots/ shows what its page shows;
`pyplot` and `save_figure`: matplotlib without a display, PNGs written atomically.
"""

from __future__ import annotations

import csv
from pathlib import Path

from convcli.files import atomic_path
from convcli.pages.charts import Series


def pyplot():
    """matplotlib.pyplot drawing into files only (the Agg backend: no display needed)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def save_figure(figure, out: Path) -> None:
    """Lay the figure out, write it to `out` as a PNG atomically, and free it."""
    figure.tight_layout()
    with atomic_path(out) as temp:
        figure.savefig(temp, format="png", dpi=100)
    pyplot().close(figure)


def read_metrics(path: Path) -> list[dict]:
    with open(path, newline="") as handle:
        return list(csv.DictReader(handle))


# Okabe & Ito's colour-blind-safe colours, as the pages' charts use them (pages/charts.py).
TRAINING_COLOUR, VALIDATION_COLOUR, BEST_COLOUR = "#E69F00", "#0072B2", "#D55E00"


def best_row(rows: list[dict], monitor: str) -> dict | None:
    """The row of the best epoch by `monitor` (highest accuracy, lowest loss)."""
    scored = [r for r in rows if r.get(monitor) not in (None, "")]
    if not scored:
        return None
    pick = max if monitor.endswith("accuracy") else min
    return pick(scored, key=lambda r: float(r[monitor]))


def write_curves(metrics_path: Path, out: Path, title: str = "", monitor: str = "val_loss") -> None:
    """Training (dots) and validation (line) accuracy (in %) and loss per epoch, as the book
    plots them, in two colour-blind-safe colours; whole epochs on the axis; a labelled
    dashed line where a new phase begins (fine-tuning), a dotted one at the best epoch;
    a third panel with the learning rate when a schedule changes it."""
    from matplotlib.ticker import MaxNLocator

    plt = pyplot()
    rows = read_metrics(metrics_path)
    epochs = [int(r["epoch"]) for r in rows]
    best = best_row(rows, monitor)
    rates = [float(r["learning_rate"]) for r in rows if r.get("learning_rate") not in (None, "")]
    scheduled = len(rates) == len(rows) and len(set(rates)) > 1  # a schedule: its own panel
    figure, axes = plt.subplots(1, 3 if scheduled else 2, figsize=(16 if scheduled else 11, 4))
    if scheduled:
        _learning_rate_panel(axes[2], epochs, rates)
    for ax, metric in zip(axes, ("accuracy", "loss")):
        scale = 100 if metric == "accuracy" else 1
        drawn = []
        for key, style, colour, label in ((metric, "o", TRAINING_COLOUR, "training"),
                                          (f"val_{metric}", "-", VALIDATION_COLOUR, "validation")):
            values = [scale * float(r[key]) if r.get(key) not in (None, "") else float("nan") for r in rows]
            if any(v == v for v in values):  # a column left empty (not measured: mixup) is not drawn
                ax.plot(epochs, values, style, color=colour, label=label, markersize=4)
                drawn.append(label)
        for previous, row in zip(rows, rows[1:]):
            if row["phase"] != previous["phase"]:
                ax.axvline(int(row["epoch"]) - 0.5, color="grey", linestyle="--")
                ax.annotate(f" {row['phase']} →", (int(row["epoch"]) - 0.5, 1), xycoords=("data", "axes fraction"),
                            va="top", fontsize=8, color="grey")
        if best is not None:
            ax.axvline(int(best["epoch"]), color=BEST_COLOUR, linestyle=":", label=f"best ({monitor})")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.set(title=f"{' and '.join(drawn) or 'no'} {metric}", xlabel="epoch",
               ylabel=f"{metric} (%)" if scale == 100 else metric)
        if metric == "accuracy" and "training" not in drawn and rows:
            ax.annotate("training accuracy not recorded\n(mixup/cutmix mix its labels)", (0.98, 0.02),
                        xycoords="axes fraction", ha="right", va="bottom", fontsize=8, color="grey")
        ax.legend(fontsize=8)
    figure.suptitle(title)
    save_figure(figure, out)


def _learning_rate_panel(ax, epochs: list[int], rates: list[float]) -> None:
    """The learning rate of each epoch (its last step's): on a log axis when it spans a
    factor of 10 to 10,000 (steps, exponential decay), else linear (a cosine to 0 would
    fill a log axis with its last few epochs)."""
    from matplotlib.ticker import MaxNLocator

    ax.plot(epochs, rates, "o-", color=VALIDATION_COLOUR, markersize=3)
    if min(rates) > 0 and 10 <= max(rates) / min(rates) <= 1e4:
        ax.set_yscale("log")
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set(title="learning rate", xlabel="epoch", ylabel="learning rate")


def write_band_curves(curves: dict[str, list[list]], out: Path, title: str = "") -> None:
    """Each name's validation curves (one per seed) as their mean per epoch, with a band of
    ± one standard deviation across the seeds that reached that epoch."""
    import numpy as np

    plt = pyplot()
    figure, ax = plt.subplots(figsize=(8, 4.5))
    for name, runs in curves.items():
        length = max((len(run) for run in runs), default=0)
        columns = [[run[i] for run in runs if i < len(run) and isinstance(run[i], float)]
                   for i in range(length)]
        epochs = [i + 1 for i, column in enumerate(columns) if column]
        mean = np.array([np.mean(c) for c in columns if c])
        std = np.array([np.std(c, ddof=1) if len(c) > 1 else 0.0 for c in columns if c])
        (line,) = ax.plot(epochs, mean, label=f"{name} ({len(runs)} seeds)")
        ax.fill_between(epochs, mean - std, mean + std, color=line.get_color(), alpha=0.2)
    ax.set(xlabel="epoch", ylabel="validation accuracy", title=title or "mean ± std over seeds")
    ax.legend(fontsize=8)
    save_figure(figure, out)


def write_confusion_matrix(class_names: list[str], confusion: list[list[int]], out: Path,
                           title: str = "") -> None:
    """confusion[true][predicted] as a picture: counts in the cells, darker for more images."""
    import numpy as np

    plt = pyplot()
    names, counts = class_names, np.array(confusion)
    side = max(4.0, 1.5 + 0.6 * len(names))
    figure, ax = plt.subplots(figsize=(side + 1, side))
    image = ax.imshow(counts, cmap="Blues", vmin=0)
    figure.colorbar(image, ax=ax, fraction=0.046, pad=0.04)
    for (true, predicted), count in np.ndenumerate(counts):
        dark = count > counts.max() / 2  # white text on the dark cells
        ax.text(predicted, true, str(count), ha="center", va="center",
                color="white" if dark else "black")
    slanted = len(names) > 4  # long rows of names overlap unless slanted
    ax.set_xticks(range(len(names)), names, rotation=45 if slanted else 0,
                  ha="right" if slanted else "center")
    ax.set_yticks(range(len(names)), names)
    ax.set(xlabel="predicted", ylabel="true")
    ax.set_title(title, fontsize=9)
    save_figure(figure, out)


def write_series_png(series: list[Series], out: Path, title: str, x_label: str, y_label: str, *,
                     percent: bool = False, x_names: list[str] | None = None, legend_limit: int = 16) -> None:
    """The page's chart of `series` (charts.line_chart draws the same as SVG) as a PNG: the
    same colours and dashes, whiskers where a series has a band but no line, shaded bands
    where it has both; the legend left out past `legend_limit` labelled series."""
    from matplotlib.ticker import MaxNLocator

    plt = pyplot()
    scale = 100 if percent else 1
    figure, ax = plt.subplots(figsize=(7.5, 4.5))
    for s in series:
        xs = [x for x, _ in s.points]
        ys = [scale * y if y is not None else float("nan") for _, y in s.points]
        style = (0, tuple(float(v) for v in s.dash.split())) if s.dash else "-"
        label = s.label or None
        if s.band and not s.line:  # error bars: low to high around each value, as the page's whiskers
            spread = [[y - scale * low for y, (_, low, _) in zip(ys, s.band)],
                      [scale * high - y for y, (_, _, high) in zip(ys, s.band)]]
            ax.errorbar(xs, ys, yerr=spread, fmt="o", color=s.colour, capsize=4, label=label)
            continue
        ax.plot(xs, ys, linestyle=style if s.line else "none", marker="o" if s.dots else None,
                markersize=4, color=s.colour, linewidth=1.5, label=label)
        if s.band:
            ax.fill_between([x for x, _, _ in s.band], [scale * low for _, low, _ in s.band],
                            [scale * high for _, _, high in s.band], color=s.colour, alpha=0.18)
    if x_names is not None:
        every = -(-len(x_names) // 12)  # every n-th of many names (random draws), as the page's chart
        shown = range(0, len(x_names), every)
        slanted = sum(len(x_names[i]) for i in shown) > 60  # long rows of names overlap unless slanted
        ax.set_xticks(list(shown), [x_names[i] for i in shown], rotation=45 if slanted else 0,
                      ha="right" if slanted else "center")
        ax.set_xlim(-0.5, len(x_names) - 0.5)
    else:
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set(title=title, xlabel=x_label, ylabel=f"{y_label} (%)" if percent else y_label)
    labelled = sum(1 for s in series if s.label)
    if 0 < labelled <= legend_limit:
        ax.legend(fontsize=7)
    save_figure(figure, out)
