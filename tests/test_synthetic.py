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
