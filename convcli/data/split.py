"""Dataset splits: labelled images made into train/validation/test class folders.

`split_dataset` is `convcli data split SRC DST`. The labels come from class folders,
from the file names (`cat.123.jpg` -> cat, the book's cats-vs-dogs download) or from a
CSV of file,label rows (labels.py). Each class is shuffled by the seed on its own and
cut into the fractions (stratified: every split keeps the classes' proportions), so
the same seed gives the same split. DST is written beside itself under a temporary
name and renamed when complete: a refused or failed split leaves nothing behind.
"""

from __future__ import annotations

import csv
import errno
import os
import shutil
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from convcli.data.check import Report, check_dataset, listing, scan_files
from convcli.data.folders import Files, Split
from convcli.data.labels import Labelled, read_labels
from convcli.errors import DataError
from convcli.files import staged_folder

SPLIT_NAMES = ("train", "validation", "test")
# Hard links cannot cross filesystems (EXDEV), and some filesystems have none (EPERM,
# ENOTSUP) or cap a file's links (EMLINK): those files are copied instead.
COPY_INSTEAD = {errno.EXDEV, errno.EPERM, errno.EMLINK, errno.ENOTSUP, errno.EOPNOTSUPP}


@dataclass
class SplitResult:
    """What `split_dataset` wrote: images per split and class, and how."""

    destination: Path
    labels_from: str
    counts: dict[str, dict[str, int]]  # split -> class -> images
    linked: int = 0
    copied: int = 0
    rows: list[tuple[str, str, str, str]] = field(default_factory=list)  # split.csv rows
    report: Report | None = None  # data check of what was written

    @property
    def images(self) -> int:
        return len(self.rows)


def split_dataset(source: Path, destination: Path, labels_from: str | None = None,
                  csv_file: Path | None = None, pattern: str | None = None,
                  validation: float = 0.2, test: float = 0.2, per_class: int | None = None,
                  seed: int = 1337, link: bool = True) -> SplitResult:
    """Write DST/train|validation|test/<class>/ and DST/split.csv from the images of SRC,
    then run data check's scan on what was written (`result.report`)."""
    check_fractions(validation, test)
    how, images = read_labels(source, labels_from, csv_file, pattern)
    check_destination(source, destination, scanned=how != "csv")
    chosen = assign(group(images), validation, test, per_class, seed)
    _refuse_undecodable(chosen)
    result = SplitResult(destination, how, {name: {label: len(members) for label, members in classes.items()}
                                            for name, classes in chosen.items() if classes})
    _write(chosen, destination, link, result)
    result.report = check_dataset(destination)
    return result


def check_fractions(validation: float, test: float) -> None:
    """--validation in (0, 1), --test in [0, 1) (0: no test split), together below 1."""
    if not 0 < validation < 1:
        raise DataError(f"--validation {validation} is not a fraction between 0 and 1 (exclusive), "
                        "e.g. 0.2 for a fifth of each class")
    if not 0 <= test < 1:
        raise DataError(f"--test {test} is not a fraction between 0 and 1 (exclusive; 0 for no "
                        "test split), e.g. 0.2 for a fifth of each class")
    if validation + test >= 1:
        raise DataError(f"--validation {validation} and --test {test} add up to "
                        f"{validation + test:g}, leaving no training images; they must sum to less "
                        "than 1")


def check_destination(source: Path, destination: Path, scanned: bool = True) -> None:
    """DST is new or an empty folder, and not inside a scanned SRC (a second split would
    read what the first one wrote as more images)."""
    if scanned and destination.resolve().is_relative_to(source.resolve()):
        raise DataError(f"{destination} is inside {source}, whose images it splits; choose a "
                        "folder outside it")
    if destination.is_file() or (destination.is_dir() and any(destination.iterdir())):
        raise DataError(f"{destination} already exists and is not an empty folder; data split "
                        "never writes into one: choose a new folder")


def group(images: list[Labelled]) -> dict[str, list[Labelled]]:
    """Images by label, labels sorted, each label's images sorted by path."""
    classes: dict[str, list[Labelled]] = {}
    for image in images:
        classes.setdefault(image.label, []).append(image)
    if len(classes) < 2:
        found = f"one class ({next(iter(classes))})" if classes else "no classes"
        raise DataError(f"the labels give {found}; a classifier needs at least two")
    return {label: sorted(classes[label], key=lambda image: str(image.path)) for label in sorted(classes)}


def assign(classes: dict[str, list[Labelled]], validation: float, test: float,
           per_class: int | None, seed: int) -> dict[str, dict[str, list[Labelled]]]:
    """split -> label -> images: each class shuffled by (seed, its index), cut by fraction."""
    small = {label: len(members) for label, members in classes.items()
             if per_class is not None and len(members) < per_class}
    if small:
        shown = listing([f"{label} ({count})" for label, count in small.items()])
        raise DataError(f"--per-class {per_class} is more than {len(small)} class(es) have: "
                        f"{shown}; lower --per-class or leave it out to take every image")
    chosen: dict[str, dict[str, list[Labelled]]] = {name: {} for name in SPLIT_NAMES}
    for index, (label, members) in enumerate(classes.items()):
        # A generator per class: adding a class does not change the others' splits.
        order = np.random.default_rng([seed, index]).permutation(len(members))[:per_class]
        counts = _cut(len(order), validation, test)
        for name, count in zip(SPLIT_NAMES, counts):
            if count == 0 and (name != "test" or test > 0):
                raise DataError(f"class {label} has {len(order)} image(s): --validation {validation} "
                                f"and --test {test} leave it no {name} images; add images or change "
                                "the fractions")
        start = 0
        for name, count in zip(SPLIT_NAMES, counts):
            if count:
                chosen[name][label] = [members[i] for i in sorted(order[start:start + count])]
            start += count
    return chosen


def _cut(total: int, validation: float, test: float) -> tuple[int, int, int]:
    """(train, validation, test) counts of a class, rounded half up; train keeps the rest."""
    held = [int(total * fraction + 0.5) for fraction in (validation, test)]
    return total - sum(held), *held


def _refuse_undecodable(chosen: dict[str, dict[str, list[Labelled]]]) -> None:
    """A DataError listing the images TensorFlow cannot decode, before anything is written."""
    labels = sorted({label for classes in chosen.values() for label in classes})
    paths = [(str(image.path), labels.index(label)) for classes in chosen.values()
             for label, members in classes.items() for image in members]
    problems = scan_files(Files(labels, Split([p for p, _ in paths], [n for _, n in paths]), Split(), None))
    if problems:
        bad = [f"{problem.path} ({problem.kind})" for problem in problems]
        raise DataError(f"{len(bad)} image file(s) cannot be decoded: {listing(bad)}; fix or delete "
                        "them, then split again (convcli data check lists every problem)")


def _write(chosen: dict[str, dict[str, list[Labelled]]], destination: Path, link: bool,
           result: SplitResult) -> None:
    """Every image linked (or copied) into a temporary folder beside DST, then renamed to DST
    (onto a missing or empty folder)."""
    with staged_folder(destination) as temp:
        for name, classes in chosen.items():
            for label, members in classes.items():
                folder = temp / name / label
                folder.mkdir(parents=True)
                taken: set[str] = set()
                for image in members:
                    target = folder / _unique(image.path.name, taken)
                    _place(image.path, target, link, result)
                    result.rows.append((target.relative_to(temp).as_posix(), label, name, str(image.path)))
        _write_csv(temp / "split.csv", result.rows)


def _place(source: Path, target: Path, link: bool, result: SplitResult) -> None:
    if link:
        try:
            os.link(source, target)
            result.linked += 1
            return
        except OSError as error:
            if error.errno not in COPY_INSTEAD:
                raise
    shutil.copy2(source, target)
    result.copied += 1


def _unique(name: str, taken: set[str]) -> str:
    """The file name, or name-2.ext, name-3.ext... when a class already has it."""
    stem, suffix = os.path.splitext(name)
    candidate, number = name, 2
    while candidate in taken:
        candidate, number = f"{stem}-{number}{suffix}", number + 1
    taken.add(candidate)
    return candidate


def _write_csv(path: Path, rows: list[tuple[str, str, str, str]]) -> None:
    """split.csv: file (relative to DST), label, split, source (the image it came from)."""
    with open(path, "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(("file", "label", "split", "source"))
        writer.writerows(rows)
