"""The feature cache: a frozen base's outputs for every image of a dataset, computed once.

The book's fast feature extraction runs the convolutional base over each image a single
time and trains a small classifier on what comes out. Those outputs are kept on disk
under a key the caller derives from everything that shapes them (the base and its
weights, the image size, the preprocessing, the class order, every file's size and
modification time), so a rerun with the same key runs the base zero times.

Features never sit in memory whole (issue 28: predict's array, a tensor copy and a
full shuffle buffer held them 3.3 times): each batch the base computes is written
into a `.npy` on disk, and training reads them memory-mapped, shuffling indices and
gathering one batch at a time. The mapped pages belong to the page cache, which the
kernel can drop, so anonymous memory stays flat as the dataset grows
(benchmarks/feature_memory.py).
"""

from __future__ import annotations

import shutil
import time
from pathlib import Path

import keras
import numpy as np
import tensorflow as tf

from convcli import cache
from convcli.data.folders import Files
from convcli.data.pipeline import make_dataset, make_labels, pipeline_options
from convcli.files import staged_folder

SPLITS = ("train", "validation", "test")
# What makes two caches copies of one another: the newer replaces the older.
SAME_DATASET = ("dataset", "base", "image_size", "color_mode")


def cached_features(root: Path, key: str, extractor: keras.Model, files: Files,
                    image_size: tuple[int, int], batch_size: int, channels: int = 3,
                    about: dict | None = None) -> tuple[dict, dict]:
    """({split: features memory-mapped}, a record of the lookup) — computed on a miss.

    The record says `hit` or `miss`, how many images went through the base, and how
    long the lookup took; it goes into summary.json. `about` (base, image_size, ...)
    goes into the cache's entry.json, for `convcli cache` and to replace stale copies.
    """
    began = time.perf_counter()
    folder = root / key
    splits = {name: getattr(files, name) for name in SPLITS if getattr(files, name)}
    with cache.locked(folder, exclusive=True):
        features = _read(folder, list(splits))
        status, images = "hit", 0
        if features is None:
            status, images = "miss", sum(len(split) for split in splits.values())
            _write(folder, extractor, splits, files.num_classes, image_size, batch_size, channels,
                   {**(about or {}), "dataset": dataset_folder(files), "key": key})
            cache.replace_stale(folder, SAME_DATASET)
            features = _read(folder, list(splits))
        cache.record_use(folder)
    record = {"status": status, "key": key, "images_through_base": images,
              "seconds": round(time.perf_counter() - began, 3), "path": str(folder)}
    return features, record


def dataset_folder(files: Files) -> str:
    """The training images' folder (the parent of the class folders)."""
    return str(Path(files.train.paths[0]).resolve().parents[1]) if files.train.paths else ""


def _read(folder: Path, names: list[str]) -> dict | None:
    """The cached arrays memory-mapped, or None when one is missing or damaged (rebuilt)."""
    if not folder.is_dir():
        return None
    try:
        return {name: np.load(folder / f"{name}.npy", mmap_mode="r", allow_pickle=False)
                for name in names}
    except (OSError, ValueError):
        shutil.rmtree(folder, ignore_errors=True)
        return None


def _write(folder: Path, extractor: keras.Model, splits: dict, num_classes: int,
           image_size: tuple[int, int], batch_size: int, channels: int, about: dict) -> None:
    """Run the base over every split into a fresh folder beside `folder`, then rename it."""
    try:
        with staged_folder(folder) as staging:
            for name, split in splits.items():
                images = make_dataset(split, num_classes, image_size, batch_size, cache="none",
                                      channels=channels).map(lambda x, y: x)
                _stream(extractor, images, len(split), staging / f"{name}.npy")
            cache.write_record(staging, about)
    except OSError:
        if not folder.is_dir():  # another run may have written the same key meanwhile
            raise


def _stream(extractor: keras.Model, images: tf.data.Dataset, count: int, path: Path) -> None:
    """Write the base's outputs batch by batch into a .npy of `count` rows."""
    array, row = None, 0
    for batch in images:
        outputs = np.asarray(extractor.predict_on_batch(batch), dtype=np.float32)
        if array is None:  # the shape is known once the base has run
            array = np.lib.format.open_memmap(path, mode="w+", dtype=np.float32,
                                              shape=(count, *outputs.shape[1:]))
        array[row:row + len(outputs)] = outputs
        row += len(outputs)
    array.flush()
    del array  # unmapped before the folder is renamed


def feature_batches(features: np.ndarray, labels: list[int], num_classes: int, batch_size: int,
                    seed: int | None = None, one_hot: bool = False) -> tf.data.Dataset:
    """Batches of (features, labels) gathered from a memory-mapped array.

    With a seed the order is shuffled anew every epoch, as a permutation of indices
    (8 bytes per image), never of the features themselves. one_hot: labels as
    pipeline.make_labels makes them.
    """
    label_values = make_labels(labels, num_classes, one_hot)
    indices = tf.data.Dataset.range(len(features))
    if seed is not None:
        indices = indices.shuffle(len(features), seed=seed, reshuffle_each_iteration=True)

    def gather(batch: np.ndarray) -> np.ndarray:
        return features[batch]  # a copy of this batch's rows only

    def load(batch: tf.Tensor):
        rows = tf.numpy_function(gather, [batch], tf.float32, stateful=False)
        rows.set_shape((None, *features.shape[1:]))
        return rows, tf.gather(label_values, batch)

    return (indices.batch(batch_size).map(load, num_parallel_calls=2)
            .prefetch(2).with_options(pipeline_options()))
