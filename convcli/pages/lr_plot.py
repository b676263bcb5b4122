"""lr-find.png: the range test's smoothed loss against the learning rate, on a log axis,
with the suggested rate marked (convcli/lr_find.py)."""

from __future__ import annotations

from pathlib import Path

from convcli.pages.plots import BEST_COLOUR, VALIDATION_COLOUR, pyplot, save_figure


def write_lr_plot(out: Path, rates: list[float], smoothed: list[float], suggestion: float | None,
                  title: str) -> None:
    """The smoothed loss per step's rate; a dashed line and its value at the suggestion."""
    figure, axis = pyplot().subplots(figsize=(6.4, 4.0))
    axis.plot(rates, smoothed, color=VALIDATION_COLOUR, label="training loss (smoothed)")
    axis.set_xscale("log")
    axis.set_xlabel("learning rate")
    axis.set_ylabel("loss")
    low, high = min(smoothed), min(max(smoothed), 4 * min(smoothed) + 1e-9)
    axis.set_ylim(low - 0.05 * (high - low), high + 0.05 * (high - low))  # the divergence off-scale
    if suggestion is not None:
        axis.axvline(suggestion, color=BEST_COLOUR, linestyle="--",
                     label=f"suggested: {suggestion:.1e} (steepest fall)")
    axis.legend(loc="upper left", fontsize="small")
    axis.set_title(title, fontsize="medium")
    axis.grid(alpha=0.3)
    save_figure(figure, out)
