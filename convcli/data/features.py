"""The feature cache: a frozen base's outputs for every image of a dataset, computed once.

The book's fast feature extraction runs the convolutional base over each image a single
time and trains a small classifier on what comes out. Those outputs are kept on disk
under a key the caller derives from everything that shapes them (the base and its
weights, the image size, the preprocessing, the class order, every file's size and
modification time), so a rerun with the same key runs the base zero times.
"""

from __future__ import annotations

import shutil
import time
from pathlib import Path

import keras
import numpy as np

from convcli.data.folders import Files
from convcli.data.pipeline import make_dataset
from convcli.files import staged_folder

SPLITS = ("train", "validation", "test")


def cached_features(root: Path, key: str, extractor: keras.Model, files: Files,
                    image_size: tuple[int, int], batch_size: int,
                    channels: int = 3) -> tuple[dict, dict]:
    """({split: features array}, a record of the lookup) — computed on a miss, read on a hit.

    The record says `hit` or `miss`, how many images went through the base, and how
    long the lookup took; it goes into summary.json.
    """
    began = time.perf_counter()
    folder = root / key
    splits = {name: getattr(files, name) for name in SPLITS if getattr(files, name)}
    features = _read(folder, list(splits))
    status, images = "hit", 0
    if features is None:
        status, features = "miss", {}
        for name, split in splits.items():
            dataset = make_dataset(split, files.num_classes, image_size, batch_size, cache="none",
                                   channels=channels)
            features[name] = extractor.predict(dataset.map(lambda x, y: x), verbose=0)
            images += len(split)
        _write(folder, features)
    record = {"status": status, "key": key, "images_through_base": images,
              "seconds": round(time.perf_counter() - began, 3), "path": str(folder)}
    return features, record


def _read(folder: Path, names: list[str]) -> dict | None:
    """The cached arrays, or None when they are not all there or do not load (then rebuilt)."""
    if not folder.is_dir():
        return None
    try:
        return {name: np.load(folder / f"{name}.npy", allow_pickle=False) for name in names}
    except (OSError, ValueError):
        shutil.rmtree(folder, ignore_errors=True)
        return None


def _write(folder: Path, features: dict) -> None:
    """Write the arrays into a fresh directory beside `folder`, then rename it into place."""
    try:
        with staged_folder(folder) as staging:
            for name, array in features.items():
                np.save(staging / f"{name}.npy", array, allow_pickle=False)
    except OSError:
        if not folder.is_dir():  # another run may have written the same key meanwhile
            raise
