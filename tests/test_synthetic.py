"""data/synthetic.py: the built-in dataset is deterministic, complete and boxed."""

import csv
import hashlib
import json

import pytest
from PIL import Image

from convcli.data.synthetic import TASKS, builtin_dataset, generate
from convcli.errors import DataError


def digest(root):
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file()}


def test_same_seed_same_bytes_other_seed_other_bytes(tmp_path):
    a = generate(tmp_path / "a", per_class=3, image_size=32, seed=5)
    b = generate(tmp_path / "b", per_class=3, image_size=32, seed=5)
    c = generate(tmp_path / "c", per_class=3, image_size=32, seed=6)
    assert digest(a) == digest(b)
    assert digest(a) != digest(c)


def test_layout_boxes_and_metadata(tmp_path):
    root = generate(tmp_path / "d", task="source", per_class=2, image_size=48)
    classes = TASKS["source"].classes
    for split in ("train", "validation", "test"):
        assert sorted(p.name for p in (root / split).iterdir()) == sorted(classes)
    rows = list(csv.DictReader(open(root / "boxes.csv")))
    assert len(rows) == 3 * 2 * len(classes)
    for row in rows:
        assert (root / row["path"]).is_file() and row["path"].split("/")[1] == row["class"]
        x0, y0, x1, y1 = (float(row[k]) for k in ("x_min", "y_min", "x_max", "y_max"))
        assert 0 <= x0 < x1 <= 48 and 0 <= y0 < y1 <= 48
    assert Image.open(root / rows[0]["path"]).size == (48, 48)
    info = json.loads((root / "dataset.json").read_text())
    assert info["task"] == "source" and info["counts"]["train"] == 2


def test_target_and_source_classes_are_disjoint():
    assert not set(TASKS["target"].classes) & set(TASKS["source"].classes)
    assert len(TASKS["target"].classes) == 2 and len(TASKS["source"].classes) > 2


def test_never_overwrites_and_rejects_bad_arguments(tmp_path):
    (tmp_path / "taken").mkdir()
    with pytest.raises(DataError, match="already exists"):
        generate(tmp_path / "taken")
    with pytest.raises(DataError, match="unknown task 'other'"):
        generate(tmp_path / "x", task="other")
    with pytest.raises(DataError, match="image_size >= 16"):
        generate(tmp_path / "y", image_size=4)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["taken"]


def test_builtin_dataset_is_made_once_and_reused(tmp_path):
    first = builtin_dataset(tmp_path)
    stamp = (first / "dataset.json").stat().st_mtime_ns
    assert builtin_dataset(tmp_path) == first
    assert (first / "dataset.json").stat().st_mtime_ns == stamp
    recipe = TASKS["target"]
    assert len(list((first / "train").rglob("*.jpg"))) == recipe.per_class * len(recipe.classes)


def test_a_dataset_another_process_made_meanwhile_is_used(tmp_path, monkeypatch):
    """Parallel sweep trials on an empty cache all generate it; the first rename wins and
    the others use its copy, leaving no staging directory behind."""
    from convcli.data import synthetic

    cache, made = tmp_path / "cache", []
    encode = synthetic._encode_jpeg

    def a_rival_finishes_first(image):
        if not made:  # while this process draws, another one completes the same dataset
            made.append(None)
            made[0] = builtin_dataset(cache)
        return encode(image)

    monkeypatch.setattr(synthetic, "_encode_jpeg", a_rival_finishes_first)
    monkeypatch.setitem(synthetic.TASKS, "target", TASKS["target"].__class__(
        **{**TASKS["target"].__dict__, "per_class": 2, "validation_per_class": 2, "test_per_class": 2}))
    assert builtin_dataset(cache) == made[0]
    # the dataset and the lock a run holds on it (convcli/cache.py), no staging directory
    assert [p.name for p in (cache / "data").iterdir() if p.suffix != ".lock"] == [made[0].name]


def test_the_base_fingerprint_covers_the_source_task_only(monkeypatch):
    """Retuning the target task keeps the shipped pretrained base; a new source task does not."""
    from dataclasses import replace

    from convcli.data import synthetic
    from convcli.pretraining import weights_path

    before = weights_path().name
    monkeypatch.setattr(synthetic, "GENERATOR_VERSION", synthetic.GENERATOR_VERSION + 1)
    monkeypatch.setitem(synthetic.TASKS, "target", replace(TASKS["target"], occluders=0))
    assert weights_path().name == before
    monkeypatch.setattr(synthetic, "SOURCE_GENERATOR_VERSION", synthetic.SOURCE_GENERATOR_VERSION + 1)
    assert weights_path().name != before


def test_the_source_pictures_are_the_ones_the_shipped_base_was_pretrained_on():
    """A change to the drawing code that alters the source task must bump its version."""
    import numpy as np

    from convcli.data.synthetic import render

    digest = hashlib.sha256()
    for label in range(len(TASKS["source"].classes)):  # image 0 of each class, as generate seeds it
        image, box = render(TASKS["source"], label, np.random.default_rng([0, 1, 0, label, 0]), 64)
        digest.update(np.asarray(image).tobytes())
        digest.update(box.tobytes())
    assert digest.hexdigest()[:16] == "13bf8fd13cd38141", (
        "the source task's pictures changed: bump SOURCE_GENERATOR_VERSION, then "
        "`convcli pretrain --force` and ship the new weights in convcli/assets/")
