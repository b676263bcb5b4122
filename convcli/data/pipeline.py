"""The input pipeline: tf.data from file lists (decode, resize, cache, augment, prefetch).

Images are decoded and resized once (bilinear, like `image_dataset_from_directory`) in
parallel, rounded to whole uint8 pixel values (a quarter of float32's memory in the
cache), cached, then shuffled and batched; augmentation (augmentation.py) runs on the
training batches only, in the pipeline rather than in the model, so it overlaps with
training and the saved model stays free of random layers (docs/notes.md#keras-3-and-augmentation). Pixels stay in [0, 255]: the
model rescales them itself, so a saved model takes raw images.

`data.cache: auto` keeps the decoded images in memory when they fit in
MEMORY_CACHE_LIMIT (and a quarter of the memory available), and otherwise in a disk
cache of the decoded, resized images in the cache folder (`images/`, keyed like the
features by every file's size and modification time, so the next run on the same folder
reads it too; `convcli cache prune` removes it), so memory does not grow with the folder
and no epoch after the first decodes a JPEG (issue 28: decoding every epoch cost 9%).
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
from dataclasses import dataclass, field
from pathlib import Path

import tensorflow as tf

from convcli import cache as cache_entries
from convcli.config import Augment, Config
from convcli.data.augmentation import Augmenter
from convcli.data.folders import Files, Split
from convcli.data.modern_augment import ModernAugmenter, make_modern_augmenter, one_hot_labels
from convcli.files import cache_dir

AUTOTUNE = tf.data.AUTOTUNE
MEMORY_CACHE_LIMIT = 1 << 30  # bytes of decoded pixels `cache: auto` keeps in memory
SHUFFLE_LIMIT = 2048  # images a disk-cached split shuffles among (the buffer is in memory)


def decode_image(path, image_size: tuple[int, int], channels: int = 3) -> tf.Tensor:
    """One image file as a uint8 (height, width, channels) tensor, resized.

    The one resize path of convcli: training, evaluation and explanation all use it.
    Bilinear values are rounded to whole pixels, as a file stores them. channels 1
    (data.color_mode: grayscale): every file is decoded as RGB, whatever its own mode
    (TensorFlow's GIF and BMP decoders give no single channel), then weighted to luma
    as tf.image.rgb_to_grayscale does; a gray file's three equal channels stay its value.
    """
    data = tf.io.read_file(path)
    image = tf.io.decode_image(data, channels=3, expand_animations=False)
    image = tf.image.resize(image, image_size, method="bilinear")
    if channels == 1:
        image = tf.image.rgb_to_grayscale(image)
    image = tf.cast(tf.round(image), tf.uint8)
    image.set_shape((*image_size, channels))
    return image


def load_image(path, image_size: tuple[int, int], channels: int = 3) -> tf.Tensor:
    """One image file as a float32 (height, width, channels) tensor of [0, 255] pixels."""
    return tf.cast(decode_image(path, image_size, channels), tf.float32)


def make_labels(labels: list[int], num_classes: int, one_hot: bool = False) -> tf.Tensor:
    """Binary tasks use one sigmoid unit (float labels of shape (n, 1)); others sparse ints,
    or one-hot floats when the recipe smooths or mixes labels (modern_augment.py)."""
    if num_classes == 2:
        return tf.constant(labels, dtype=tf.float32)[:, None]
    if one_hot:
        return tf.one_hot(tf.constant(labels, dtype=tf.int32), num_classes)
    return tf.constant(labels, dtype=tf.int32)


def make_dataset(split: Split, num_classes: int, image_size: tuple[int, int], batch_size: int, *,
                 shuffle_seed: int | None = None, augmenter: Augmenter | None = None,
                 cache: str = "memory", cache_file: Path | None = None,
                 channels: int = 3, modern: ModernAugmenter | None = None,
                 one_hot: bool = False) -> tf.data.Dataset:
    """Batches of float32 (images, labels). Pass shuffle_seed (and augmenter, modern) for
    training.

    cache: memory, disk (to cache_file) or none (decode every epoch); channels: 3 (rgb)
    or 1 (grayscale); one_hot: labels as make_labels makes them.
    """
    paths = tf.data.Dataset.from_tensor_slices(split.paths)
    labels = tf.data.Dataset.from_tensor_slices(make_labels(split.labels, num_classes, one_hot))
    dataset = tf.data.Dataset.zip(paths, labels)
    if shuffle_seed is not None and cache == "none":  # shuffle paths: no image is held
        dataset = dataset.shuffle(len(split), seed=shuffle_seed, reshuffle_each_iteration=True)
    dataset = dataset.map(lambda path, label: (decode_image(path, image_size, channels), label),
                          num_parallel_calls=AUTOTUNE)
    if cache == "memory":
        dataset = dataset.cache()
    elif cache == "disk":
        cache_file.parent.mkdir(parents=True, exist_ok=True)
        dataset = dataset.cache(str(cache_file))
    if shuffle_seed is not None and cache != "none":
        # Shuffle after the cache, so every epoch sees a new order; from disk, the
        # buffer is bounded, since it holds decoded images in memory.
        buffer = len(split) if cache == "memory" else min(len(split), SHUFFLE_LIMIT)
        dataset = dataset.shuffle(buffer, seed=shuffle_seed, reshuffle_each_iteration=True)
    dataset = dataset.batch(batch_size).map(lambda images, y: (tf.cast(images, tf.float32), y))
    if augmenter is not None:
        # Each batch carries its own seed, new every epoch: stateless augmentation that
        # is the same for the same seed whatever order the parallel map finishes in.
        seeds = tf.data.Dataset.random(seed=augmenter.seed, rerandomize_each_iteration=True).batch(2)
        dataset = tf.data.Dataset.zip(dataset, seeds).map(
            lambda batch, seed: (augmenter(batch[0], seed), batch[1]), num_parallel_calls=AUTOTUNE)
    if modern is not None:
        # Keras' layers draw from a seed generator of their own, whose state advances with
        # each call: one batch at a time, in order, so the same seed gives the same batches.
        seeds = tf.data.Dataset.random(seed=modern.seed, rerandomize_each_iteration=True).batch(2)
        dataset = tf.data.Dataset.zip(dataset, seeds).map(lambda batch, seed: modern(*batch, seed))
    return dataset.prefetch(AUTOTUNE).with_options(pipeline_options())


def pipeline_options() -> tf.data.Options:
    """Options for every dataset convcli trains on: no autotuning, sharded by batch.

    make_dataset applies them, and so does extract's dataset of cached features.

    tf.data's autotuning runs a model of the pipeline in a background thread; deleting a
    spent iterator waits for it, 0.15 s and, one time in three or four, 5 s with the
    CPU idle (docs/notes.md#tfdata-autotuning). Keras makes a new iterator every epoch, so that wait
    cost up to a third of the wall time of training; AUTOTUNE parallelism and prefetch
    still start at their defaults (one call per core, a growing prefetch buffer).
    Under a tf.distribute strategy batches are split, not files (they are not sharded).
    """
    options = tf.data.Options()
    options.autotune.enabled = False
    options.experimental_distribute.auto_shard_policy = tf.data.experimental.AutoShardPolicy.DATA
    return options


def choose_cache(cache: str, files: Files, image_size: tuple[int, int], channels: int = 3) -> str:
    """The cache a run uses: `auto` becomes memory when the decoded images fit, else disk."""
    if cache != "auto":
        return cache
    return "memory" if decoded_bytes(files, image_size, channels) <= memory_cache_limit() else "disk"


def decoded_bytes(files: Files, image_size: tuple[int, int], channels: int = 3) -> int:
    """What every split's images take decoded and resized, as uint8."""
    images = sum(files.counts().values())
    return images * image_size[0] * image_size[1] * channels


def memory_cache_limit() -> int:
    """MEMORY_CACHE_LIMIT, or a quarter of the memory available now if that is less."""
    available = available_memory()
    return MEMORY_CACHE_LIMIT if available is None else min(MEMORY_CACHE_LIMIT, available // 4)


def available_memory(meminfo: Path = Path("/proc/meminfo")) -> int | None:
    """Bytes a new allocation can get without swapping; None where it is not reported.

    Linux's MemAvailable counts the page cache it can drop; free pages alone
    (SC_AVPHYS_PAGES, the fallback elsewhere) understate it on a machine that has read
    many files.
    """
    try:
        for line in meminfo.read_text().splitlines():
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) * 1024  # reported in kB
    except (OSError, ValueError, IndexError):
        pass
    try:
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):  # not every system reports it
        return None


def make_augmenter(augment: Augment, seed: int) -> Augmenter | None:
    """The book's augmentation as one warp per image; None when it changes nothing."""
    augmenter = Augmenter(augment, seed)
    return None if augmenter.is_identity() else augmenter


@dataclass
class Datasets:
    train: tf.data.Dataset
    validation: tf.data.Dataset
    test: tf.data.Dataset | None
    held: list = field(default_factory=list)  # the disk cache's lock, released with these


def image_cache_key(files: Files, image_size: tuple[int, int], channels: int) -> str:
    """What the decoded images depend on: every file (size, mtime), the size, the channels."""
    parts = {"files": files.fingerprint(), "image_size": list(image_size), "channels": channels,
             "tensorflow": tf.__version__}
    return hashlib.sha256(json.dumps(parts, sort_keys=True).encode()).hexdigest()[:16]


def shared_disk_cache(files: Files, image_size: tuple[int, int], channels: int,
                      root: Path) -> tuple[Path | None, object]:
    """The folder of `auto`'s disk cache under `root` and the open lock that keeps it ours,
    or (None, None) when another process is using it (then the run caches privately)."""
    folder = root / image_cache_key(files, image_size, channels)
    folder.mkdir(parents=True, exist_ok=True)
    handle = open(cache_entries.lock_path(folder), "a")
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        handle.close()
        return None, None
    # tf.data refuses a cache whose writer was killed (its .lockfile stays); ours is held.
    for stale in folder.glob("*.lockfile"):
        stale.unlink(missing_ok=True)
    if not (folder / cache_entries.RECORD).exists():
        first = Path(files.train.paths[0]).resolve().parents[1] if files.train.paths else ""
        cache_entries.write_record(folder, {"dataset": str(first), "image_size": list(image_size),
                                            "color_mode": "grayscale" if channels == 1 else "rgb"})
        with contextlib.suppress(OSError):
            cache_entries.replace_stale(folder, ("dataset", "image_size", "color_mode"))
    cache_entries.record_use(folder)
    return folder, handle


def make_datasets(cfg: Config, files: Files, scratch_dir: Path,
                  augmenter: Augmenter | None = None) -> Datasets:
    """The three splits of a run; only the training split is shuffled and augmented
    (the book's warp by `augmenter`, then cfg.augment's Keras layers).

    scratch_dir holds the `cache: disk` files, which live only as long as the run;
    `auto`'s disk cache lives in the cache folder, for the next run too.
    """
    data = cfg.data
    cache = choose_cache(data.cache, files, data.image_size, data.channels)
    folder, lock = scratch_dir, None
    if cache == "disk" and data.cache == "auto":
        folder, lock = shared_disk_cache(files, data.image_size, data.channels, cache_dir() / "images")
        folder = folder or scratch_dir

    one_hot = one_hot_labels(cfg.train, cfg.augment, files.num_classes)

    def split(name: str, **training) -> tf.data.Dataset:
        return make_dataset(getattr(files, name), files.num_classes, data.image_size, data.batch_size,
                            cache=cache, cache_file=folder / f"{name}.cache",
                            channels=data.channels, **training)

    # test labels stay as evaluation reads them; the compiled loss sees train and validation
    return Datasets(train=split("train", shuffle_seed=cfg.seed, augmenter=augmenter, one_hot=one_hot,
                                modern=make_modern_augmenter(cfg.augment, cfg.seed)),
                    validation=split("validation", one_hot=one_hot),
                    test=split("test") if files.test else None, held=[lock] if lock else [])


def to_channels(images: tf.Tensor, channels: int) -> tf.Tensor:
    """Images (..., height, width, 1 or 3) with `channels` channels, for a model that takes
    them: colour to grayscale by luminance (ITU-R 601, as Pillow's "L" and Keras'
    `color_mode="grayscale"`), rounded to whole pixel levels; grayscale to colour by
    repeating the channel."""
    if images.shape[-1] == channels:
        return images
    if channels == 1:
        return tf.round(tf.image.rgb_to_grayscale(images))
    return tf.image.grayscale_to_rgb(images)
