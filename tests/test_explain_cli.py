"""The picture commands: activations, filters, augment (what they write, how they refuse)."""

import pytest
from PIL import Image

from convcli.models.pretrained import build_base, transfer_model
from tests.conftest import assert_user_error, invoke, tiny_config


@pytest.fixture(scope="module")
def model_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("model") / "transfer.keras"
    transfer_model(build_base("builtin", "none", (32, 32)), "builtin", (32, 32), 8, 0.5, 2).save(path)
    return path


@pytest.fixture
def image(tiny_data):
    return tiny_data / "test" / "star6" / "star6_0003.jpg"


def test_activations_draw_every_feature_layer_of_a_nested_base(tmp_path, model_file, image):
    result = invoke("activations", image, "--model", model_file, "--out", tmp_path / "maps")
    assert result.exit_code == 0, result.output
    written = sorted(p.name for p in (tmp_path / "maps").iterdir())
    assert written[0] == "01_block1_conv1.png" and written[-1] == "12_block4_pool.png"
    assert len(written) == 12  # four blocks: two convolutions and a pooling each
    first = Image.open(tmp_path / "maps" / written[0])
    assert first.size[0] > first.size[1]  # 16 channels of 32x32, in a grid 16 wide

    result = invoke("activations", image, "--model", model_file, "--layers", "block2_conv1,block4_pool",
                    "--out", tmp_path / "two")
    assert sorted(p.name for p in (tmp_path / "two").iterdir()) == ["01_block2_conv1.png",
                                                                    "02_block4_pool.png"]


def test_activations_refuse_a_layer_that_is_not_a_feature_map(tmp_path, model_file, image):
    result = invoke("activations", image, "--model", model_file, "--layers", "dense", "--out", tmp_path)
    assert_user_error(result, "--layers: dense is no convolution or pooling layer of model "
                              "builtin_base_classifier; candidates: block1_conv1, block1_conv2, block1_pool")


def test_filters_of_a_base_and_of_a_run(tmp_path, write_config, tiny_data):
    result = invoke("filters", "--base", "builtin", "--weights", "none", "--size", "32", "--layer",
                    "block2_conv1", "--count", "5", "--out", tmp_path)
    assert result.exit_code == 0, result.output
    grid = Image.open(tmp_path / "filters_block2_conv1.png")
    assert grid.size == (5 * 32 + 4 * 2, 32)  # five patterns in one row, 2 pixels apart

    invoke("train", write_config(tiny_config(tiny_data)), "--runs-dir", tmp_path / "runs")
    result = invoke("filters", "--layer", "conv2", "--count", "40", "--runs-dir", tmp_path / "runs",
                    "--out", tmp_path / "run")
    assert result.exit_code == 0, result.output
    assert Image.open(tmp_path / "run" / "filters_conv2.png").size == (8 * 32 + 7 * 2, 2 * 32 + 2)


@pytest.mark.parametrize("args, expected", [
    (["--base", "vgg_16", "--layer", "block1_conv1"], "--base 'vgg_16' is not a known base"),
    (["--base", "builtin", "--weights", "none", "--layer", "block9_conv1"],
     "--layer: block9_conv1 is no convolution or pooling layer of model builtin_base_features"),
    (["--base", "builtin", "--weights", "no/such.weights.h5", "--layer", "block1_conv1"],
     "model.weights file no/such.weights.h5 does not exist"),
])
def test_filters_bad_input(tmp_path, args, expected):
    result = invoke("filters", *args, "--out", tmp_path / "out")
    assert_user_error(result, expected)
    assert not (tmp_path / "out").exists()


def test_augment_preview(tmp_path, write_config, tiny_data, image):
    config = write_config(tiny_config(tiny_data, "augment", augment={"rotation_range": 30}))
    result = invoke("augment", config, image, "--count", "3", "--out", tmp_path / "aug")
    assert result.exit_code == 0, result.output
    grid = Image.open(tmp_path / "aug" / "star6_0003_augmented.png")
    assert grid.size == (4 * 32 + 3 * 2, 32)  # the image as the model sees it, then three versions

    assert_user_error(invoke("augment", write_config(tiny_config(tiny_data), "plain.yaml"), image),
                      "has no augment section")
    assert_user_error(invoke("augment", config, tmp_path / "none.jpg"), "does not exist")
