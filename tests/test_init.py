"""convcli init: a commented config drafted from a dataset folder, valid as written, that trains."""

import json
import shutil

import pytest
import yaml

from conftest import invoke

STAGES = ["scratch", "augment", "extract", "fine-tune"]


@pytest.mark.parametrize("stage", STAGES)
def test_the_draft_validates_as_written(stage, tiny_data, tmp_path):
    from convcli.config import load_config

    out = tmp_path / f"{stage}.yaml"
    result = invoke("init", tiny_data, "--stage", stage, "--out", out)
    assert result.exit_code == 0, result.output
    text = out.read_text()
    assert text.startswith("# Drafted by `convcli init")
    assert "# Classes (2), one per folder: star4, star6." in text
    cfg = load_config(out)  # no --set: as written
    assert cfg.stage == stage
    assert (cfg.data.train_dir, cfg.data.validation_dir, cfg.data.test_dir) == tuple(
        str(tiny_data / name) for name in ("train", "validation", "test"))
    assert cfg.data.image_size == (32, 32)  # the images' own size, below the book's 150
    assert cfg.data.batch_size == (24 if stage in ("scratch", "augment") else 20)  # 32: more than 24 images
    if stage in ("extract", "fine-tune"):
        assert (cfg.model.base, cfg.model.weights) == ("vgg16", "imagenet")
        assert cfg.train.learning_rate == 2e-5
    else:
        assert cfg.model.conv_filters == [32, 64, 128]  # the fourth block would vanish at 32x32
    assert (cfg.augment is not None) == (stage in ("augment", "fine-tune"))
    assert (cfg.data.color_mode, cfg.train.class_weight) == ("rgb", "none")  # colour, balanced data
    assert f"wrote {out}" in result.stdout.replace("\n", "")


def test_one_folder_of_classes_gets_a_validation_split(tiny_data, tmp_path):
    from convcli.config import load_config

    folder = shutil.copytree(tiny_data / "train", tmp_path / "photos")
    result = invoke("init", folder, "--stage", "scratch", "--out", tmp_path / "c.yaml")
    assert result.exit_code == 0, result.output
    cfg = load_config(tmp_path / "c.yaml")
    assert (cfg.data.train_dir, cfg.data.validation_split, cfg.data.test_dir) == (str(folder), 0.2, None)
    assert "no validation folder" in (tmp_path / "c.yaml").read_text()


def test_gray_imbalanced_images_get_color_mode_and_class_weight(tiny_data, tmp_path):
    """What the scan finds goes into the draft: all gray images, 2:1 or more between classes."""
    from PIL import Image

    from convcli.config import load_config

    folder = shutil.copytree(tiny_data, tmp_path / "gray")
    for path in folder.rglob("*.jpg"):
        Image.open(path).convert("L").save(path)
    for path in sorted((folder / "train" / "star4").iterdir())[:7]:  # 5 ellipses, 12 rectangles
        path.unlink()
    result = invoke("init", folder, "--stage", "fine-tune", "--base", "builtin", "--out", tmp_path / "c.yaml")
    assert result.exit_code == 0, result.output
    cfg = load_config(tmp_path / "c.yaml")
    assert (cfg.data.color_mode, cfg.train.class_weight) == ("grayscale", "balanced")
    text = (tmp_path / "c.yaml").read_text()
    assert "color_mode: grayscale  # every image is grayscale" in text
    assert "class_weight: balanced  # data check finds the training classes imbalanced" in text


def test_train_runs_the_draft(tiny_data, builtin_base, tmp_path):
    """The fine-tune draft on the built-in base (offline), shortened with --set."""
    out = tmp_path / "tune.yaml"
    result = invoke("init", tiny_data, "--base", "builtin", "--out", out)
    assert result.exit_code == 0, result.output
    assert yaml.safe_load(out.read_text())["fine_tune"]["unfreeze_from"] == "block4_conv1"
    result = invoke("train", out, "--set", "train.epochs=1", "--set", "fine_tune.head_epochs=1",
                    "--set", "explain.gradcam_images=0", "--runs-dir", tmp_path / "runs")
    assert result.exit_code == 0, result.output
    [run] = (tmp_path / "runs").iterdir()
    assert json.loads((run / "meta.json").read_text())["status"] == "completed"
