"""data.color_mode: grayscale (issue 17): one input channel for the convnets, repeated to 3
inside transfer models, and `data check`'s count of grayscale and colour images."""

import json
import shutil

import keras
import numpy as np
import pytest
from PIL import Image

from convcli.data import check
from convcli.data.pipeline import decode_image
from tests.conftest import invoke, tiny_config


def train(tmp_path, data, stage="scratch", **sections):
    cfg = tiny_config(data, stage, data={"color_mode": "grayscale"}, train={"epochs": 1}, **sections)
    config = tmp_path / f"{stage}.yaml"
    config.write_text(json.dumps(cfg))
    result = invoke("train", config, "--runs-dir", tmp_path / "runs")
    assert result.exit_code == 0, result.output
    return sorted((tmp_path / "runs").iterdir())[-1]


def test_decoding_for_grayscale_gives_one_channel_of_luma(tmp_path):
    Image.new("L", (8, 8), 77).save(tmp_path / "gray.png")
    Image.new("RGB", (8, 8), (200, 100, 0)).save(tmp_path / "orange.png")
    gray = decode_image(str(tmp_path / "gray.png"), (8, 8), channels=1).numpy()
    orange = decode_image(str(tmp_path / "orange.png"), (8, 8), channels=1).numpy()
    assert gray.shape == (8, 8, 1) and (gray == 77).all()  # a gray file keeps its value
    assert (orange == round(0.2989 * 200 + 0.587 * 100)).all()  # ITU-R 601 luma
    assert decode_image(str(tmp_path / "gray.png"), (8, 8)).shape == (8, 8, 3)


def test_a_grayscale_scratch_model_takes_one_channel(tmp_path, tiny_data):
    run = train(tmp_path, tiny_data, explain={"gradcam_images": 2})
    model = keras.models.load_model(run / "checkpoints" / "best.keras")
    assert model.input_shape == (None, 32, 32, 1)
    summary = json.loads((run / "summary.json").read_text())
    assert sum(map(sum, summary["confusion"])) == 24 and len(summary["gradcam"]["images"]) == 2
    result = invoke("evaluate", run, "--runs-dir", tmp_path / "runs")  # the run's own color_mode
    assert result.exit_code == 0, result.output


def test_a_pretrained_base_gets_the_gray_channel_repeated_inside_the_model(tmp_path, tiny_data,
                                                                          builtin_base, monkeypatch):
    # a cache of its own: another test's extract run on tiny_data (test_export) leaves the
    # rgb features this test expects to compute
    cache = tmp_path / "cache"
    (cache / builtin_base.parent.name).mkdir(parents=True)
    shutil.copy(builtin_base, cache / builtin_base.parent.name / builtin_base.name)
    monkeypatch.setenv("CONVCLI_CACHE", str(cache))
    run = train(tmp_path, tiny_data, "extract", model={"dense_units": 8})
    model = keras.models.load_model(run / "checkpoints" / "best.keras")
    assert model.input_shape == (None, 32, 32, 1)
    assert model.get_layer("gray_to_rgb").output.shape[-1] == 3  # what the base takes
    # The saved model on a gray image is the base on that image's three equal channels.
    gray = np.random.default_rng(0).integers(0, 256, (2, 32, 32, 1)).astype("float32")
    base_input = keras.Model(model.input, model.get_layer("gray_to_rgb").output)(gray)
    assert np.array_equal(keras.ops.convert_to_numpy(base_input), np.repeat(gray, 3, axis=-1))
    summary = json.loads((run / "summary.json").read_text())
    rgb = invoke("train", tmp_path / "extract.yaml", "--runs-dir", tmp_path / "rgb",
                 "--set", "data.color_mode=rgb")
    assert rgb.exit_code == 0, rgb.output
    [rgb_run] = (tmp_path / "rgb").iterdir()
    rgb_summary = json.loads((rgb_run / "summary.json").read_text())
    # gray and colour images make different features: never one cache entry for both
    assert summary["feature_cache"]["key"] != rgb_summary["feature_cache"]["key"]
    assert rgb_summary["feature_cache"]["status"] == "miss"


@pytest.mark.slow
def test_fine_tune_from_an_rgb_run_refuses_grayscale(tmp_path, tiny_data, builtin_base):
    cfg = tiny_config(tiny_data, "extract", model={"dense_units": 8}, train={"epochs": 1})
    (tmp_path / "rgb.yaml").write_text(json.dumps(cfg))
    assert invoke("train", tmp_path / "rgb.yaml", "--runs-dir", tmp_path / "runs").exit_code == 0
    [run] = (tmp_path / "runs").iterdir()
    cfg = tiny_config(tiny_data, "fine-tune", model={"dense_units": 8}, data={"color_mode": "grayscale"},
                      fine_tune={"init_from": str(run)})
    (tmp_path / "gray.yaml").write_text(json.dumps(cfg))
    result = invoke("train", tmp_path / "gray.yaml", "--runs-dir", tmp_path / "runs")
    assert result.exit_code == 1
    assert "was trained on rgb images, this config has color_mode grayscale" in result.stderr


def test_data_check_counts_grayscale_and_colour_images_per_split(tmp_path):
    for split, modes in {"train": ["L", "L", "RGB", "RGB", "RGB", "P"], "test": ["L"] * 6}.items():
        for class_name in ("a", "b"):
            folder = tmp_path / split / class_name
            folder.mkdir(parents=True)
            for index, mode in enumerate(modes):  # sizes differ: no two files are duplicates
                colour = (index, 9, 50 * len(class_name)) if mode == "RGB" else index * 7
                Image.new(mode, (20 + len(class_name), 20 + index), colour).save(folder / f"{index}.png")
    report = check.check_dataset(tmp_path)
    assert report.modes == {"train": {"rgb": 8, "grayscale": 4}, "test": {"rgb": 0, "grayscale": 12}}
    assert report.as_dict()["modes"] == report.modes
    result = invoke("data", "check", tmp_path)
    assert "colour (data.color_mode)" in result.stdout
    assert "mixed: color_mode rgb repeats a gray image to 3 channels" in result.stdout


def test_augment_preview_shows_the_gray_image_the_model_sees(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "gray.yaml").write_text("stage: augment\naugment: {}\ndata: {color_mode: grayscale}\n")
    Image.new("RGB", (40, 40), (200, 30, 30)).save(tmp_path / "red.png")
    result = invoke("augment", "gray.yaml", "red.png", "--count", "2")
    assert result.exit_code == 0, result.output
    picture = np.asarray(Image.open(tmp_path / "red_augmented.png").convert("RGB"))
    assert (picture[5, 5] == 81).all()  # luma of (200, 30, 30), in all three channels
