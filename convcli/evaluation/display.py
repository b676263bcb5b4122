"""An evaluation shown to a person: per-class precision and recall, the confusion matrix
as a table and as a picture (drawn by curves.py)."""

from __future__ import annotations

from pathlib import Path

from rich.table import Table
from rich.text import Text

from convcli.pages.plots import write_confusion_matrix
from convcli.evaluation.scores import Evaluation
from convcli.formats import Fitted, percent


def class_table(evaluation: Evaluation, title: str = "") -> Fitted:
    """Per true class: images, precision and recall."""
    table = Table(title=title or None, title_justify="left")
    table.add_column("class", no_wrap=True)
    for column in ("images", "precision", "recall"):
        table.add_column(column, justify="right", no_wrap=True)
    for name, support, precision, recall in zip(evaluation.class_names, evaluation.support,
                                                evaluation.precision, evaluation.recall):
        table.add_row(Text(name), str(support), percent(precision), percent(recall))
    return Fitted(table)


def tta_table(evaluation: Evaluation) -> Fitted:
    """Accuracy and loss with and without test-time augmentation, side by side."""
    table = Table(title=f"test-time augmentation: {evaluation.views} views "
                  f"({evaluation.views_described})",
                  title_justify="left")
    for column in ("", "accuracy", "correct", "loss"):
        table.add_column(column, justify="right" if column else "left", no_wrap=True)
    plain = evaluation.without_tta
    for label, shown in (("one view", plain), (f"{evaluation.views} views", evaluation)):
        table.add_row(label, percent(shown.accuracy, 2), f"{shown.correct} of {shown.images}",
                      f"{shown.loss:.4f}")
    gain = 100 * (evaluation.accuracy - plain.accuracy)
    table.caption = f"gain: {gain:+.2f} points of accuracy on these {evaluation.images} images"
    return Fitted(table)


def confusion_table(evaluation: Evaluation) -> Fitted:
    """Counts of images: a row per true class, a column per predicted class.

    Predicted classes are headed by name, or by number when the names do not fit side by side.
    """
    return Fitted(_confusion_layout(evaluation, numbered=False), _confusion_layout(evaluation, numbered=True))


def _confusion_layout(evaluation: Evaluation, numbered: bool) -> Table:
    names = evaluation.class_names
    table = Table(title="confusion matrix", title_justify="left", caption_justify="left",
                  caption="predicted classes by number: the rows' numbers" if numbered else None)
    table.add_column("true \\ predicted", no_wrap=True)
    for index, name in enumerate(names):
        table.add_column(str(index) if numbered else Text(name), justify="right", no_wrap=True)
    table.add_column("total", justify="right", no_wrap=True)
    for true, (name, row) in enumerate(zip(names, evaluation.confusion)):
        # The diagonal is bold: the images of a class the model got right.
        cells = [Text(str(count), style="bold" if predicted == true else "")
                 for predicted, count in enumerate(row)]
        label = Text(f"{true} {name}" if numbered else name)  # Text: a name is not rich markup
        table.add_row(label, *cells, str(sum(row)))
    return table


def write_confusion_png(evaluation: Evaluation, path: Path, title: str = "") -> None:
    """The confusion matrix as a picture, headed by the accuracy."""
    heading = f"accuracy {percent(evaluation.accuracy)} of {evaluation.images} images"
    write_confusion_matrix(evaluation.class_names, evaluation.confusion, path,
                           title=f"{title}\n{heading}" if title else heading)
