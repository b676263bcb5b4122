"""Tables of a model and its inputs: the layer table, Grad-CAM's results, the data check.

Tables are rich Tables; `as_text` renders one to plain text for files like model.txt,
so the terminal and the run directory show the same table.
"""

from __future__ import annotations

import io
from pathlib import Path
from typing import TYPE_CHECKING

from rich import box
from rich.console import Console, Group
from rich.table import Table
from rich.text import Text

from convcli.models.table import (LayerRow, format_count, format_shape, receptive_field_column,
                                  totals_caption)
from convcli.formats import Fitted, percent

if TYPE_CHECKING:
    from convcli.data.check import Report as CheckReport


def layer_table(rows: list[LayerRow], title: str) -> Fitted:
    """One row per layer: shape, parameters, multiply-adds and receptive field; totals below.

    Names, shapes and numbers stay whole: a narrow terminal first gets shorter headers, then
    loses the type column (a layer's name says most of it), then the batch size (None) of
    every shape, so shapes read as Keras prints them for as long as they fit.
    """
    return Fitted(*(_layer_layout(rows, title, types, batch, short) for types, batch, short in
                    ((True, True, False), (True, True, True), (False, True, True), (False, False, True))))


def _layer_layout(rows: list[LayerRow], title: str, types: bool, batch: bool, short: bool) -> Table:
    notes = ([] if batch else ["shape: without the batch size"]) + (["train: whether the layer trains"]
                                                                       if short else [])
    table = Table(title=title, title_justify="left", caption_justify="left",
                  caption="\n".join([totals_caption(rows), "; ".join(notes)] if notes else [totals_caption(rows)]),
                  box=box.SIMPLE_HEAD, show_edge=False, collapse_padding=True)
    table.add_column("layer", no_wrap=True)
    if types:
        table.add_column("type", no_wrap=True)
    table.add_column("shape" if short else "output shape", justify="right", no_wrap=True)
    table.add_column("params", justify="right", no_wrap=True)
    table.add_column("train" if short else "trainable")
    table.add_column("MACs", justify="right", no_wrap=True)
    table.add_column("field", justify="right", no_wrap=True)  # receptive field: see the caption
    for row, field in zip(rows, receptive_field_column(rows)):
        shape = format_shape(row.output_shape) if batch else _without_batch(row.output_shape)
        table.add_row(row.name, *([row.type] if types else []), shape, f"{row.params:,}",
                      row.trainable, format_count(row.macs), field)
    return table


def _without_batch(shape: tuple) -> str:
    """(None, 62, 62, 32) as (62, 62, 32), (None, 4) as (4,); several outputs keep their shapes."""
    if not shape or isinstance(shape[0], tuple):
        return format_shape(shape)
    return format_shape(shape[1:]) if len(shape) > 2 else f"({shape[1]},)"


def as_text(table: Table, width: int = 120) -> str:
    buffer = io.StringIO()
    Console(file=buffer, width=width, color_system=None, legacy_windows=False).print(table)
    return buffer.getvalue()


def gradcam_table(results: list[dict], class_names: list[str], title: str, explained: str | None = None,
                  top: int = 3) -> Fitted:
    """Per image: the explained class and the top predictions with their probabilities;
    the caption names the tensor explained."""
    table = Table(title=f"Grad-CAM — {title}", title_justify="left", caption_justify="left",
                  caption=f"explained: the gradient of {explained}" if explained else None)
    table.add_column("image", no_wrap=True)
    table.add_column("explained", no_wrap=True)
    table.add_column("top predictions")
    for result in results:
        probabilities = result["probabilities"]
        best = sorted(range(len(probabilities)), key=lambda i: -probabilities[i])[:top]
        table.add_row(Text(result["path"].name), Text(class_names[result["class"]]),
                      Text("\n".join(f"{class_names[i]} {percent(probabilities[i])}" for i in best)))
    return Fitted(table)


def check_tables(report: CheckReport, limit: int = 50) -> Group:
    """`convcli data check`: images per split and class, the problems, the sizes, a verdict."""
    counts = Table(title=f"data check — {report.directory}", title_justify="left")
    counts.add_column("class", no_wrap=True)  # names from files or CSVs can be long
    for split in report.splits:
        counts.add_column(split, justify="right")
    for class_name in sorted({name for classes in report.splits.values() for name in classes}):
        counts.add_row(class_name, *("-" if class_name not in classes else f"{classes[class_name]:,}"
                                     for classes in report.splits.values()))
    counts.add_row("total", *(f"{sum(classes.values()):,}" for classes in report.splits.values()))
    parts = [Fitted(counts)]
    if report.problems:
        parts.append(Fitted(_check_problems(report, limit)))
    if report.sizes["images"]:
        parts.append(_check_sizes(report.sizes))
        parts.append(_check_modes(report.modes))
    return Group(*parts, _check_verdict(report))


def _check_modes(modes: dict[str, dict[str, int]]) -> Group:
    """Grayscale and colour images per split, and which data.color_mode fits them."""
    gray = sum(counts["grayscale"] for counts in modes.values())
    total = sum(sum(counts.values()) for counts in modes.values())
    advice = ("all grayscale: data.color_mode: grayscale trains on their one channel" if gray == total
              else "mixed: color_mode rgb repeats a gray image to 3 channels, grayscale drops colour"
              if gray else "all in colour: data.color_mode: rgb (the default)")
    table = Table(title="colour (data.color_mode)", title_justify="left")
    table.add_column("")
    for split in modes:
        table.add_column(split, justify="right")
    for mode in ("rgb", "grayscale"):
        table.add_row(mode, *(f"{counts[mode]:,}" for counts in modes.values()))
    return Group(table, Text(advice))


def _check_problems(report: CheckReport, limit: int) -> Table:
    """The first `limit` problems, errors in red, files named from the dataset folder."""
    more = len(report.problems) - limit
    table = Table(title="problems", title_justify="left", caption_justify="left",
                  caption=f"and {more:,} more" if more > 0 else None)
    table.add_column("problem", no_wrap=True)
    table.add_column("file", no_wrap=True)
    table.add_column("detail", ratio=1)
    for problem in report.problems[:limit]:
        path = Path(problem.path)
        shown = path.relative_to(report.directory) if path.is_relative_to(report.directory) else path
        style = "red" if problem.severity == "error" else "yellow"
        table.add_row(Text(problem.kind, style=style), Text(str(shown)), Text(problem.detail))
    return table


def _check_sizes(sizes: dict) -> Table:
    small = next(key for key in sizes if key.startswith("smaller_than_"))
    table = Table(title=f"image sizes ({sizes['images']:,} images)", title_justify="left",
                  caption_justify="left",
                  caption=f"{sizes[small]:,} smaller than {small.rsplit('_', 1)[1]} px on a side")
    for column in ("", "min", "median", "max"):
        table.add_column(column, justify="right")
    for side in ("width", "height"):
        table.add_row(side, *(f"{sizes[side][stat]:,}" for stat in ("min", "median", "max")))
    return table


def _check_verdict(report: CheckReport) -> Text:
    severities = [problem.severity for problem in report.problems]
    errors, warnings = severities.count("error"), severities.count("warning")
    checked = f"{report.files_checked:,} images checked in {len(report.splits)} split(s)"
    if errors:
        return Text(f"{checked}: {errors} error(s), {warnings} warning(s); fix the errors before "
                    "training", style="red")
    if warnings:
        return Text(f"{checked}: ready to train, with {warnings} warning(s)", style="yellow")
    return Text(f"{checked}: ready to train, no problems found", style="green")
