"""data/folders.py: every structural problem is found before a run starts."""

import shutil

import pytest

from convcli.config import validate
from convcli.data.folders import resolve
from convcli.errors import DataError


def data_config(train, **more):
    return validate({"stage": "scratch", "data": {"train_dir": str(train), **more}}).data


@pytest.fixture
def copy(tiny_data, tmp_path):
    target = tmp_path / "copy"
    shutil.copytree(tiny_data, target)
    return target


def test_resolves_splits_and_classes(tiny_data):
    files = resolve(data_config(tiny_data / "train", validation_dir=str(tiny_data / "validation"),
                                test_dir=str(tiny_data / "test")), seed=1)
    assert files.class_names == ["star4", "star6"]
    assert files.counts() == {"train": 24, "validation": 24, "test": 24}
    assert sorted(set(files.train.labels)) == [0, 1]


def test_validation_split_is_stratified_and_seeded(tiny_data):
    cfg = data_config(tiny_data / "train", validation_split=0.25)
    one, two = resolve(cfg, seed=1), resolve(cfg, seed=1)
    assert one.validation.paths == two.validation.paths
    assert one.validation.labels.count(0) == one.validation.labels.count(1) == 3
    assert not set(one.train.paths) & set(one.validation.paths)
    assert resolve(cfg, seed=2).validation.paths != one.validation.paths


def test_hidden_and_unreadable_extensions_are_skipped(copy):
    (copy / "train" / "star4" / "._star4_0000.jpg").write_bytes(b"AppleDouble")
    (copy / "train" / "star4" / "notes.txt").write_text("x")
    files = resolve(data_config(copy / "train", validation_dir=str(copy / "validation")), seed=1)
    assert len(files.train) == 24


@pytest.mark.parametrize("break_it, expected", [
    (lambda d: shutil.rmtree(d / "train"), "data.train_dir .* does not exist"),
    (lambda d: [shutil.rmtree(d / "train" / c) for c in ("star4", "star6")], "has no class subfolders"),
    (lambda d: shutil.rmtree(d / "train" / "star6"), r"has a single class \(star4\)"),
    (lambda d: [p.unlink() for p in (d / "train" / "star6").iterdir()], "holds no images"),
    (lambda d: shutil.copytree(d / "validation" / "star4", d / "validation" / "circle"),
     "every split needs the same class subfolders"),
])
def test_structural_problems(copy, break_it, expected):
    break_it(copy)
    with pytest.raises(DataError, match=expected):
        resolve(data_config(copy / "train", validation_dir=str(copy / "validation")), seed=1)


def test_train_dir_that_is_a_file(copy):
    with pytest.raises(DataError, match="is not a directory"):
        resolve(data_config(copy / "boxes.csv", validation_split=0.2), seed=1)


def test_split_too_small_for_a_class(copy):
    with pytest.raises(DataError, match="leaves class star4 with no validation images"):
        resolve(data_config(copy / "train", validation_split=0.01), seed=1)
