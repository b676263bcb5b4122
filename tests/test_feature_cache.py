"""The feature cache streams to disk and trains memory-mapped; stale copies are replaced."""

import json
import subprocess
import sys

import keras
import numpy as np
from PIL import Image

from convcli import cache
from convcli.data.features import cached_features, feature_batches
from convcli.data.folders import Files, Split


def image_files(folder, count, side=8):
    rng = np.random.default_rng(0)
    paths = []
    for i in range(count):
        path = folder / "ab"[i % 2] / f"{i:03d}.png"
        path.parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(rng.integers(0, 256, (side, side, 3), np.uint8)).save(path)
        paths.append(str(path))
    labels = [i % 2 for i in range(count)]
    return Files(["a", "b"], Split(paths, labels), Split(paths[:4], labels[:4]), None)


def counting_base(side=8):
    """A base whose output's first value is the image's first pixel: rows are traceable."""
    image = keras.Input((side, side, 3))
    return keras.Model(image, keras.layers.Flatten()(image), name="counting")


def test_features_are_written_batch_by_batch_and_read_memory_mapped(tmp_path):
    files = image_files(tmp_path / "images", 21)
    base = counting_base()
    features, record = cached_features(tmp_path / "features", "k1", base, files, (8, 8), 4,
                                       about={"base": "counting"})
    assert record["status"] == "miss" and record["images_through_base"] == 25
    assert isinstance(features["train"], np.memmap) and features["train"].shape == (21, 192)
    first = np.asarray(Image.open(files.train.paths[5]))[0, 0, 0]
    assert features["train"][5, 0] == first  # row i is image i, across batches of 4
    again, record = cached_features(tmp_path / "features", "k1", base, files, (8, 8), 4)
    assert record["status"] == "hit" and np.array_equal(again["train"], features["train"])
    about = json.loads((tmp_path / "features" / "k1" / cache.RECORD).read_text())
    assert about["base"] == "counting" and about["dataset"] == str((tmp_path / "images").resolve())


def test_feature_batches_shuffle_indices_and_keep_labels_with_rows():
    features = np.arange(10, dtype=np.float32)[:, None] * np.ones((1, 3), np.float32)
    labels = [i % 2 for i in range(10)]
    batches = feature_batches(features, labels, 2, 4, seed=3)
    epochs = [[(x.numpy(), y.numpy()) for x, y in batches] for _ in range(2)]
    orders = [np.concatenate([x[:, 0] for x, _ in epoch]).astype(int).tolist() for epoch in epochs]
    assert sorted(orders[0]) == list(range(10)) and orders[0] != orders[1] != list(range(10))
    for x, y in epochs[0]:
        assert (x[:, 0].astype(int) % 2 == y[:, 0]).all()
    plain = np.concatenate([x[:, 0] for x, _ in feature_batches(features, labels, 2, 4)])
    assert plain.astype(int).tolist() == list(range(10))


def test_a_new_copy_replaces_the_stale_one_unless_it_is_in_use(tmp_path):
    files = image_files(tmp_path / "images", 6)
    root, base = tmp_path / "features", counting_base()
    about = {"base": "counting", "image_size": [8, 8], "color_mode": "rgb"}
    cached_features(root, "old", base, files, (8, 8), 4, about=about)
    cached_features(root, "other-size", base, files, (8, 8), 4, about={**about, "image_size": [9, 9]})
    cached_features(root, "new", base, files, (8, 8), 4, about=about)
    assert sorted(p.name for p in root.iterdir() if not p.name.startswith(".")) == ["new", "other-size"]

    # A process reading "new" (holding its lock) keeps it through the next copy.
    holder = subprocess.Popen([sys.executable, "-c",
                               "import sys, time; from pathlib import Path; from convcli import cache\n"
                               f"with cache.locked(Path({str(root / 'new')!r})):\n"
                               "    print('held', flush=True); time.sleep(30)"],
                              stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        cached_features(root, "newer", base, files, (8, 8), 4, about=about)
        assert (root / "new").is_dir() and (root / "newer").is_dir()
    finally:
        holder.kill()
        holder.wait()
