"""`convcli data`: make the built-in dataset (`synth`), check a dataset (`check`), split
labelled images into train/validation/test (`split`)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Literal, Optional

import typer

from convcli.cli.main import new_console
from convcli.errors import DataError
from convcli.tfenv import import_tensorflow


def data_synth(directory: Path = typer.Argument(..., help="New folder to write (must not exist)."),
               task: str = typer.Option("target", help="target (2 classes, small) | source "
                                        "(8 other classes, for pretraining)."),
               seed: int = typer.Option(0, help="Same seed, same bytes."),
               per_class: Optional[int] = typer.Option(None, help="Images per class and split "
                                                       "(default: the task's own counts)."),
               image_size: int = typer.Option(64, help="Side of the square images, in pixels.")) -> None:
    """Write the built-in dataset: train/validation/test class folders of JPEGs + boxes.csv."""
    from convcli.data.synthetic import generate

    path = generate(directory, task=task, seed=seed, per_class=per_class, image_size=image_size)
    info = json.loads((path / "dataset.json").read_text())
    typer.echo(f"wrote {sum(info['counts'].values()) * len(info['recipe']['classes'])} images "
               f"({', '.join(info['recipe']['classes'])}) to {path}")


def data_check(directory: Path = typer.Argument(..., help="A dataset folder: train/, validation/ "
                                                "(or val/), test/ of class folders, or one folder "
                                                "of class folders."),
               as_json: bool = typer.Option(False, "--json", help="Print the report as JSON.")) -> None:
    """Decode every image and report what would break or mislead training; exit 1 if so.

    Corrupt, truncated, empty and oversized files, contents that do not match the
    extension, files training skips (other formats, hidden, macOS ._ files), empty or
    single classes, classes that differ between splits, imbalance, the same image in two
    splits (leakage) or twice in one, and image sizes.
    """
    import_tensorflow()
    from convcli.data.check import check_dataset

    report = check_dataset(directory)
    if as_json:
        typer.echo(json.dumps(report.as_dict(), indent=2))
    else:
        from convcli.tables import check_tables

        new_console().print(check_tables(report))
    if not report.ok:
        errors = sum(problem.severity == "error" for problem in report.problems)
        raise DataError(f"{directory}: {errors} problem(s) would break or mislead training "
                        f"({', '.join(sorted({p.kind for p in report.problems if p.severity == 'error'}))})")


def data_split(source: Path = typer.Argument(..., metavar="SRC", help="Labelled images: a folder of "
                                             "class folders, a flat folder (labels from file names) "
                                             "or a CSV file."),
               destination: Path = typer.Argument(..., metavar="DST", help="A new or empty folder to write."),
               labels_from: Optional[Literal["folders", "filename", "csv"]] = typer.Option(
                   None, "--labels-from", help="Default: csv with a CSV, folders when SRC has class "
                   "folders, else filename."),
               csv_file: Optional[Path] = typer.Option(None, "--csv", help="file,label rows (header "
                                                       "optional), paths relative to the CSV."),
               pattern: Optional[str] = typer.Option(None, "--pattern", help="With filename: a regex "
                                                     "whose first group is the label (default: the "
                                                     "text before the first ., _ or digit)."),
               validation: float = typer.Option(0.2, "--validation", help="Fraction of each class."),
               test: float = typer.Option(0.2, "--test", help="Fraction of each class (0: no test split)."),
               per_class: Optional[int] = typer.Option(None, "--per-class", min=1, help="Take N images "
                                                       "per class (by seed) before splitting."),
               seed: int = typer.Option(1337, "--seed", help="Same seed, same split."),
               link: bool = typer.Option(True, "--link/--copy", help="Hard links (copies across "
                                         "filesystems), or copies.")) -> None:
    """Split labelled images into DST/train, validation and test class folders (stratified, by
    seed) and DST/split.csv, then check what was written as `data check` does.

    The book's cats-vs-dogs subset from the flat Kaggle folder:
    convcli data split train/ cats_and_dogs_small --per-class 2000 --validation 0.25 --test 0.25
    """
    import_tensorflow()
    from convcli.data.split import split_dataset
    from convcli.tables import check_tables

    result = split_dataset(source, destination, labels_from, csv_file, pattern, validation, test,
                           per_class, seed, link)
    new_console().print(check_tables(result.report))
    typer.echo(f"wrote {result.images:,} images to {destination} (labels from {result.labels_from}; "
               f"{result.linked:,} hard links, {result.copied:,} copies); {destination / 'split.csv'} "
               "lists them")
    if not result.report.ok:
        raise DataError(f"{destination} was written, but data check finds problems in it (listed "
                        "above); they come from the source images")
