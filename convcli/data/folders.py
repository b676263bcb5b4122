"""Datasets on disk: class-per-subfolder directories, listed and checked before training.

`resolve(data_config, seed)` turns the config's `data` section into `Files`: the image
paths and labels of each split and the class names. Every structural problem (a missing
directory, no class subfolders, a single class, an empty class folder, classes that
differ between splits) is a DataError raised here, before a run directory exists.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from convcli.config import BUILTIN, Data
from convcli.files import cache_dir
from convcli.data import synthetic
from convcli.errors import DataError

# What TensorFlow's decoders read; other files in a class folder are left out.
IMAGE_EXTENSIONS = (".bmp", ".gif", ".jpeg", ".jpg", ".png")


@dataclass
class Split:
    """The images of one split: paths and integer labels, in a fixed order."""

    paths: list[str] = field(default_factory=list)
    labels: list[int] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.paths)


@dataclass
class Files:
    """The whole dataset a run trains on."""

    class_names: list[str]
    train: Split
    validation: Split
    test: Split | None
    left_out: list[str] = field(default_factory=list)  # "path (problem)" of files skipped

    @property
    def num_classes(self) -> int:
        return len(self.class_names)

    def fingerprint(self) -> str:
        """Changes when any file is added, removed, resized or touched."""
        digest = hashlib.sha256("\0".join(self.class_names).encode())
        for split in (self.train, self.validation, self.test or Split()):
            for path in split.paths:
                stat = Path(path).stat()
                digest.update(f"{path}\0{stat.st_size}\0{stat.st_mtime_ns}\n".encode())
        return digest.hexdigest()[:16]

    def counts(self) -> dict:
        return {"train": len(self.train), "validation": len(self.validation),
                "test": len(self.test) if self.test else 0}


def resolve(data: Data, seed: int) -> Files:
    """The files of every split the `data` section names."""
    if data.train_dir == BUILTIN:
        root = synthetic.builtin_dataset(cache_dir(), task="target")
        train_dir, validation_dir, test_dir = root / "train", root / "validation", root / "test"
    else:
        train_dir = Path(data.train_dir)
        validation_dir = Path(data.validation_dir) if data.validation_dir else None
        test_dir = Path(data.test_dir) if data.test_dir else None

    class_names, train = scan(train_dir, "train_dir")
    if validation_dir is None:
        train, validation = split_off(train, data.validation_split, seed, class_names)
    else:
        validation = _scan_same_classes(validation_dir, "validation_dir", class_names)
    test = _scan_same_classes(test_dir, "test_dir", class_names) if test_dir else None
    return Files(class_names, train, validation, test)


def scan(directory: Path, key: str) -> tuple[list[str], Split]:
    """Class names (sorted subfolder names) and the images in them."""
    if not directory.exists():
        raise DataError(f"data.{key} {directory} does not exist")
    if not directory.is_dir():
        raise DataError(f"data.{key} {directory} is not a directory")
    classes = class_folders(directory)
    if not classes:
        raise DataError(f"data.{key} {directory} has no class subfolders; put each class's "
                        f"images in its own subfolder, e.g. {directory}/cats/, {directory}/dogs/")
    if len(classes) == 1:
        raise DataError(f"data.{key} {directory} has a single class ({classes[0]}); "
                        "a classifier needs at least two class subfolders")
    split = Split()
    for label, name in enumerate(classes):
        images = list_images(directory / name)
        if not images:
            raise DataError(f"class folder {directory / name} holds no images "
                            f"({' '.join(IMAGE_EXTENSIONS)}); add images or remove the folder")
        split.paths += images
        split.labels += [label] * len(images)
    return classes, split


def class_folders(directory: Path) -> list[str]:
    """Sorted names of the subfolders that are classes (hidden ones are not)."""
    return sorted(p.name for p in directory.iterdir() if p.is_dir() and not p.name.startswith("."))


def list_images(folder: Path) -> list[str]:
    """Image files in one class folder, sorted; hidden files (macOS `._x.jpg`) skipped."""
    return sorted(str(p) for p in folder.rglob("*") if p.is_file() and not p.name.startswith(".")
                  and p.suffix.lower() in IMAGE_EXTENSIONS)


def _scan_same_classes(directory: Path, key: str, class_names: list[str]) -> Split:
    classes, split = scan(directory, key)
    if classes != class_names:
        raise DataError(f"data.{key} {directory} has classes {classes} but train_dir has "
                        f"{class_names}; every split needs the same class subfolders")
    return split


def split_off(train: Split, fraction: float, seed: int,
              class_names: list[str]) -> tuple[Split, Split]:
    """Hold out `fraction` of each class for validation, chosen by seed (stratified)."""
    rng = np.random.default_rng(seed)
    kept, held = Split(), Split()
    labels = np.array(train.labels)
    for label in np.unique(labels):
        members = np.flatnonzero(labels == label)
        rng.shuffle(members)
        count = int(round(len(members) * fraction))
        if count < 1 or count >= len(members):
            raise DataError(f"validation_split {fraction} leaves class {class_names[label]} with no "
                            f"{'validation' if count < 1 else 'training'} images "
                            f"({len(members)} images); use another split or a validation_dir")
        for target, chosen in ((held, members[:count]), (kept, members[count:])):
            for index in sorted(chosen):
                target.paths.append(train.paths[index])
                target.labels.append(int(label))
    return kept, held
