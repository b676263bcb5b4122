"""The images of a run an export meets: the split it is checked on, and int8's calibration.

The check uses the run's test split, else its validation split; full-integer int8 is
calibrated on a few hundred images of its training split. Both are read as training
read them (the same files, the same bad files left out) and go through the run's
pipeline without augmentation: the one resize path, raw [0, 255] float32 pixels.
"""

from __future__ import annotations

from pathlib import Path
from typing import Callable, Iterator

import numpy as np

from convcli.config import BUILTIN, Config
from convcli.data import folders
from convcli.data.check import screen
from convcli.data.folders import Files, Split
from convcli.errors import DataError
from convcli.runs import Run

CALIBRATION_IMAGES = 300  # "a few hundred": more adds time, not accuracy, in TFLite's guide


def check_split(run: Run, cfg: Config, class_names: list[str]) -> tuple[str, Split]:
    """("test" or "validation", its images): the test split when the run has one.

    A test or validation folder is read on its own, so an export can be checked when the
    training images are gone.
    """
    data = cfg.data
    name = "test" if data.test_dir or data.train_dir == BUILTIN else "validation"
    key = f"{name}_dir"
    try:
        if data.train_dir != BUILTIN and getattr(data, key):
            found, split = folders.scan(Path(getattr(data, key)), key)
            # screen() wants every split non-empty: the one split stands in for all three.
            files = screen(Files(found, split, split, split), data.on_bad_file)
        else:
            files = screen(folders.resolve(data, cfg.seed), data.on_bad_file)
            found = files.class_names
    except DataError as error:
        # Paths in config.yaml are as the user typed them: relative to where they trained.
        raise DataError(f"the export is checked on run {run.name}'s {name} images, which cannot be "
                        f"read: {error}; run from where it was trained") from None
    _same_classes(found, class_names, run)
    return name, getattr(files, name)


def calibration_split(run: Run, cfg: Config, class_names: list[str]) -> Split:
    """Up to CALIBRATION_IMAGES training images, drawn by the run's seed, every class in."""
    try:
        files = screen(folders.resolve(cfg.data, cfg.seed), cfg.data.on_bad_file)
    except DataError as error:
        raise DataError(f"--quantize int8 calibrates on run {run.name}'s training images, which "
                        f"cannot be read: {error}; restore them (run from where it was trained), or "
                        "pass --quantize dynamic-int8, which quantizes the weights without images") from None
    _same_classes(files.class_names, class_names, run)
    return sample(files.train, cfg.seed)


def sample(split: Split, seed: int) -> Split:
    """Up to CALIBRATION_IMAGES of a split's images, drawn by `seed`, in their order."""
    chosen = sorted(np.random.default_rng(seed).permutation(len(split))[:CALIBRATION_IMAGES])
    return Split([split.paths[i] for i in chosen], [split.labels[i] for i in chosen])


def calibration_images(split: Split, num_classes: int, image_size: tuple[int, int], channels: int
                       ) -> Callable[[], Iterator[list[np.ndarray]]]:
    """TFLiteConverter's representative_dataset: one (1, height, width, channels) image at a time."""
    from convcli.data.pipeline import make_dataset

    def images():
        for batch, _ in make_dataset(split, num_classes, image_size, 1, cache="none",
                                     channels=channels):
            yield [batch.numpy()]

    return images


def _same_classes(found: list[str], class_names: list[str], run: Run) -> None:
    if found != class_names:
        raise DataError(f"run {run.name}'s data now has classes {found}, but it trained on "
                        f"{class_names}; restore its data folders")
