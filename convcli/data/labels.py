"""Image labels where datasets keep them: class folders, file names, or a CSV file.

`read_labels` gives every image of a source with its label, or a DataError naming what
is wrong (files a CSV names that are not there, a CSV without a label column, a class
folder with no images, a pattern that matches no file name).
"""

from __future__ import annotations

import csv
import itertools
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

from convcli.data.check import listing
from convcli.data.folders import IMAGE_EXTENSIONS, class_folders, list_images
from convcli.errors import DataError

# The text before the first `.`, `_` or digit: cat.123.jpg -> cat, dog_7.png -> dog.
DEFAULT_PATTERN = r"^[^._0-9]+"
LABEL_COLUMNS = ("label", "class", "category", "target")
FILE_COLUMNS = ("file", "filename", "path", "image", "filepath", "image_path")
SOURCES = ("folders", "filename", "csv")
MAX_MISSING = 1_000  # a CSV is read no further than this many files that do not exist


@dataclass(frozen=True)
class Labelled:
    """One image file and its class."""

    path: Path
    label: str


def read_labels(source: Path, labels_from: str | None, csv_file: Path | None,
                pattern: str | None) -> tuple[str, list[Labelled]]:
    """(where the labels came from, every image with its label).

    Default: csv when a CSV is given (--csv, or SRC is a .csv file), folders when SRC
    has class folders, else the file names.
    """
    if not source.exists():
        raise DataError(f"{source} does not exist")
    if csv_file is None and source.is_file() and source.suffix.lower() == ".csv":
        csv_file = source
    labels_from = labels_from or ("csv" if csv_file else "folders" if source.is_dir()
                                  and class_folders(source) else "filename")
    if labels_from not in SOURCES:
        raise DataError(f"--labels-from {labels_from!r} is not one of {', '.join(SOURCES)}")
    if (labels_from == "csv") != (csv_file is not None):
        raise DataError("--labels-from csv needs --csv FILE" if csv_file is None else
                        f"--csv {csv_file} gives the labels; it cannot go with --labels-from {labels_from}")
    if pattern is not None and labels_from != "filename":
        raise DataError(f"--pattern reads labels from file names; it cannot go with --labels-from {labels_from}")
    if labels_from != "csv" and not source.is_dir():
        raise DataError(f"{source} is not a folder of images (nor a .csv file of labels)")
    if labels_from == "folders":
        return labels_from, from_folders(source)
    if labels_from == "filename":
        return labels_from, from_file_names(source, pattern or DEFAULT_PATTERN)
    return labels_from, from_csv(csv_file)


def from_folders(source: Path) -> list[Labelled]:
    """Each class folder's images (in subfolders too), labelled with the folder's name."""
    images = []
    for label in class_folders(source):
        found = list_images(source / label)
        if not found:
            raise DataError(f"class folder {source / label} holds no images ({' '.join(IMAGE_EXTENSIONS)}); "
                            "add images or remove the folder")
        images += [Labelled(Path(path), label) for path in found]
    return images


def from_file_names(source: Path, pattern: str) -> list[Labelled]:
    """Every image under SRC, labelled by `pattern` searched in its file name: the group
    named label, else the first group, else the whole match."""
    try:
        regex = re.compile(pattern)
    except re.error as error:
        raise DataError(f"--pattern {pattern!r} is not a valid regular expression ({error})") from None
    paths = [Path(path) for path in list_images(source)]
    if not paths:
        raise DataError(f"{source} holds no images ({' '.join(IMAGE_EXTENSIONS)})")
    images, unmatched = [], []
    for path in paths:
        found = regex.search(path.name)
        label = _label(found) if found else ""
        if label:
            images.append(Labelled(path, label))
        else:
            unmatched.append(path.name)
    if unmatched:
        which = "no file name" if not images else f"{len(unmatched)} of {len(paths)} file names"
        raise DataError(f"--pattern {pattern!r} finds no label in {which}: {listing(unmatched)}; "
                        "give a --pattern whose first group is the label, e.g. '^(.+)_\\d+' for "
                        "great_pyrenees_12.jpg")
    for image in images:
        check_label(image.label, str(image.path))
    return images


def _label(found: re.Match) -> str:
    if "label" in found.re.groupindex:
        return found.group("label") or ""
    return (found.group(1) if found.re.groups else found.group(0)) or ""


def from_csv(csv_file: Path) -> list[Labelled]:
    """The images a CSV names (file,label rows; a header is optional), relative to its folder.

    Read row by row, and no further than MAX_MISSING files that do not exist: a CSV
    costs no more than the images it names (a repeated file is refused where it repeats).
    """
    images, missing, seen, more = [], [], set(), False
    try:
        with open(csv_file, newline="", encoding="utf-8-sig") as handle:
            rows = (row for row in csv.reader(handle) if any(cell.strip() for cell in row))
            file_column, label_column, rows = _columns(csv_file, rows)
            for number, row in enumerate(rows, start=1):
                image = _labelled(csv_file, number, row, file_column, label_column)
                if image.path in seen:
                    raise DataError(f"{csv_file} names {row[file_column].strip()} twice; each image "
                                    "needs one row, one label")
                seen.add(image.path)
                if not image.path.is_file():
                    more = len(missing) == MAX_MISSING
                    if more:
                        break
                    missing.append(row[file_column].strip())
                    continue
                images.append(image)
    except FileNotFoundError:
        raise DataError(f"--csv {csv_file} does not exist") from None
    except (OSError, UnicodeDecodeError, csv.Error) as error:
        raise DataError(f"cannot read --csv {csv_file}: {error}") from None
    if missing:
        count = f"more than {MAX_MISSING:,} (read no further)" if more else f"{len(missing)}"
        raise DataError(f"{csv_file} names {count} file(s) that do not exist: {listing(missing)} "
                        f"(paths are relative to the CSV's folder, {csv_file.parent})")
    others = [image.path.name for image in images if image.path.suffix.lower() not in IMAGE_EXTENSIONS]
    if others:
        raise DataError(f"{csv_file} names {len(others)} file(s) training cannot read: {listing(others)}; "
                        f"it reads {' '.join(IMAGE_EXTENSIONS)}")
    if not images:
        raise DataError(f"{csv_file} names no images; it needs file,label rows")
    return images


def _labelled(csv_file: Path, number: int, row: list[str], file_column: int, label_column: int) -> Labelled:
    """One row's image and label, or a DataError naming the row."""
    name = row[file_column].strip() if len(row) > file_column else ""
    label = row[label_column].strip() if len(row) > label_column else ""
    if not name or not label:
        raise DataError(f"{csv_file} row {number} ({','.join(row)}) has no {'file' if not name else 'label'}")
    check_label(label, f"{csv_file} row {number}")
    return Labelled(csv_file.parent / name, label)


def _columns(csv_file: Path, rows: Iterator[list[str]]) -> tuple[int, int, Iterator[list[str]]]:
    """(file column, label column, the rows after any header)."""
    first = next(rows, None)
    if first is None:
        raise DataError(f"{csv_file} is empty; it needs file,label rows")
    names = [cell.strip().lower() for cell in first]
    is_file = (csv_file.parent / first[0].strip()).is_file()
    if not is_file and set(names) & set(LABEL_COLUMNS + FILE_COLUMNS):  # a header
        label = next((names.index(n) for n in LABEL_COLUMNS if n in names), None)
        if label is None:
            raise DataError(f"{csv_file} has no label column: its header names {', '.join(first)}; "
                            f"name the column of classes {' or '.join(LABEL_COLUMNS[:2])}")
        file = next((names.index(n) for n in FILE_COLUMNS if n in names), 0 if label != 0 else 1)
        return file, label, rows
    if len(first) < 2:
        raise DataError(f"{csv_file} has no label column: its rows have one column ({first[0]}); "
                        "it needs file,label rows")
    return 0, 1, itertools.chain([first], rows)


def check_label(label: str, where: str) -> None:
    """A label becomes a folder name: no path separators, not hidden, not `.` or `..`."""
    if "/" in label or "\\" in label or label.startswith(".") or label != label.strip():
        raise DataError(f"label {label!r} ({where}) cannot name a class folder: it has a slash, "
                        "starts with a dot or has spaces at its ends")
