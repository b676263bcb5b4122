"""Grad-CAM: heatmaps against a plain per-image computation, the command, and the end of a run."""

import json
import struct
import zlib

import keras
import numpy as np
import pytest
import tensorflow as tf
from PIL import Image

from convcli.config import Model
from convcli.explain.gradcam import GradCam, default_layer, pointing_game
from convcli.models.convnet import build_convnet
from convcli.models.pretrained import build_base, transfer_model
from tests.conftest import assert_user_error, invoke, tiny_config

RNG = np.random.default_rng(0)


def images(n=5, size=32):
    return RNG.uniform(0, 255, (n, size, size, 3)).astype("float32")


def convnet():
    return build_convnet(Model(conv_filters=[8, 16], dense_units=16), (32, 32), 2)


def transfer(base="builtin", num_classes=2):
    return transfer_model(build_base(base, "none", (32, 32)), base, (32, 32), 16, 0.5, num_classes)


def plain_gradcam(feature_model, head, image, class_index):
    """The textbook computation, one image at a time, scoring the class's probability.

    feature_model: image -> feature map; head: feature map -> probabilities.
    """
    with tf.GradientTape() as tape:
        feature_map = feature_model(image[None])
        tape.watch(feature_map)
        probabilities = head(feature_map)
        if probabilities.shape[-1] == 1:  # one sigmoid unit: class 0 is 1 - p
            score = probabilities[0, 0] if class_index == 1 else 1 - probabilities[0, 0]
        else:
            score = probabilities[0, class_index]
    gradients = tape.gradient(score, feature_map)[0]
    heatmap = np.maximum(np.sum(feature_map[0] * np.mean(gradients, axis=(0, 1)), axis=-1), 0)
    return heatmap / (heatmap.max() + 1e-12)


def test_top_level_layer_matches_the_textbook_for_both_classes():
    model = convnet()
    feature_model = keras.Model(model.inputs, model.get_layer("conv2").output)
    head_input = keras.Input(model.get_layer("conv2").output.shape[1:])
    x = head_input
    for name in ("pool2", "flatten", "dense", "predictions"):
        x = model.get_layer(name)(x)
    head = keras.Model(head_input, x)

    cam, batch = GradCam(model, "conv2"), images()
    for class_index in (0, 1):
        heatmaps, probabilities = cam(batch, [class_index] * len(batch))
        for image, heatmap in zip(batch, heatmaps):
            np.testing.assert_allclose(heatmap, plain_gradcam(feature_model, head, image, class_index),
                                       atol=2e-4)
    assert probabilities.shape == (5, 2) and np.allclose(probabilities.sum(axis=1), 1)
    # The two classes of one sigmoid unit point at different places.
    class_0, _ = cam(batch, [0] * 5)
    class_1, _ = cam(batch, [1] * 5)
    assert np.abs(class_0 - class_1).max() > 0.5


def test_layer_inside_a_nested_base_matches_the_textbook():
    model = transfer("builtin")
    assert default_layer(model) == "block4_relu2"  # the last feature map, before the last pooling
    base = model.get_layer("builtin_base")
    inner = keras.Model(base.inputs, base.get_layer("block4_relu2").output)
    feature_model = lambda x: inner(x / 255.0)  # noqa: E731 - the built-in base's preprocessing
    head_input = keras.Input(inner.output.shape[1:])
    x = base.get_layer("block4_pool")(head_input)
    for name in ("flatten", "dense", "dropout", "predictions"):
        x = model.get_layer(name)(x)
    head = keras.Model(head_input, x)

    batch = images(4)
    heatmaps, _ = GradCam(model)(batch, [1] * 4)
    for image, heatmap in zip(batch, heatmaps):
        np.testing.assert_allclose(heatmap, plain_gradcam(feature_model, head, image, 1), atol=2e-4)


def test_batches_equal_one_image_at_a_time_and_softmax_heads_work():
    model = transfer("vgg16", num_classes=3)
    cam, batch = GradCam(model, "block3_conv3"), images(7)
    heatmaps, probabilities = cam(batch, batch_size=3)
    singles = np.concatenate([cam(batch[i:i + 1])[0] for i in range(7)])
    np.testing.assert_allclose(heatmaps, singles, atol=1e-5)
    assert heatmaps.shape == (7, 8, 8) and probabilities.shape == (7, 3)
    assert np.all((heatmaps >= 0) & (heatmaps <= 1))


def test_sequential_model():
    model = keras.Sequential([keras.Input((32, 32, 3)), keras.layers.Rescaling(1 / 255),
                              keras.layers.Conv2D(4, 3, activation="relu", name="conv"),
                              keras.layers.Flatten(), keras.layers.Dense(1, activation="sigmoid")])
    heatmaps, probabilities = GradCam(model)(images(2))
    assert heatmaps.shape == (2, 30, 30) and probabilities.shape == (2, 2)


def test_pointing_game_counts_maxima_inside_boxes():
    heatmaps = np.zeros((2, 4, 4))
    heatmaps[0, 0, 0] = heatmaps[1, 3, 3] = 1  # top-left cell; bottom-right cell
    box = (0, 0, 20, 20)  # the top-left quarter of a 40x40 image
    assert pointing_game(heatmaps, [(40, 40)] * 2, [box, box]) == 0.5


# --- the command --------------------------------------------------------------------------


@pytest.fixture(scope="module")
def saved_models(tmp_path_factory):
    folder = tmp_path_factory.mktemp("models")
    transfer("builtin").save(folder / "transfer.keras")
    keras.Sequential([keras.Input((32, 32, 3)), keras.layers.Conv2D(4, 3, name="conv"),
                      keras.layers.Flatten(), keras.layers.Dense(3, activation="softmax")]).save(
        folder / "sequential.keras")
    return folder


def test_gradcam_command_writes_overlays_at_original_size(tmp_path, tiny_data, saved_models):
    photo = tmp_path / "photo.png"
    Image.fromarray(RNG.integers(0, 255, (90, 120, 3), dtype=np.uint8)).save(photo)
    result = invoke("gradcam", photo, tiny_data / "test" / "star4", "--model",
                    saved_models / "transfer.keras", "--out", tmp_path / "out")
    assert result.exit_code == 0, result.output
    assert "photo.png" in result.stdout and "top predictions" in result.stdout
    assert Image.open(tmp_path / "out" / "photo.png").size == (120, 90)
    assert np.load(tmp_path / "out" / "photo.npy").shape == (4, 4)  # block4_relu2 at 32x32
    assert len(list((tmp_path / "out").glob("star4_*.png"))) == 12

    result = invoke("gradcam", photo, "--model", saved_models / "sequential.keras", "--class", "2",
                    "--out", tmp_path / "seq")
    assert result.exit_code == 0, result.output
    assert np.load(tmp_path / "seq" / "photo.npy").shape == (30, 30)


def bomb_png(path, side):
    """A PNG whose header claims side x side pixels (decoding it would take gigabytes)."""
    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
    header = struct.pack(">IIBBBBB", side, side, 8, 2, 0, 0, 0)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(b"\0" * 64))
                     + chunk(b"IEND", b""))
    return path


@pytest.mark.parametrize("make, extra, expected", [
    (lambda d: d / "missing.jpg", [], "image {d}/missing.jpg does not exist"),
    (lambda d: (d / "notes.jpg").write_text("not an image") and d / "notes.jpg", [],
     "notes.jpg is not an image convcli can read"),
    (lambda d: Image.new("RGB", (8, 8)).save(d / "x.tiff") or d / "x.tiff", [],
     "x.tiff is a TIFF image; convcli reads jpeg, png, gif, bmp"),
    (lambda d: bomb_png(d / "bomb.png", 20_000), [], "bomb.png is too large to decode safely"),
    (lambda d: bomb_png(d / "big.png", 10_000), [], "big.png is too large to decode safely (10000x10000 "
                                                    "pixels; the limit is 89,478,485)"),
    (lambda d: None, ["--layer", "dense"], "--layer 'dense' names no layer with a 4-D feature map in "
                                           "model builtin_base_classifier; candidates: "),
    (lambda d: None, ["--class", "7"], "--class '7' is not a class of this model; classes: 0 0, 1 1"),
])
def test_gradcam_bad_input(tmp_path, tiny_data, saved_models, make, extra, expected):
    image = make(tmp_path) or tiny_data / "test" / "star4" / "star4_0000.jpg"
    result = invoke("gradcam", image, "--model", saved_models / "transfer.keras", *extra,
                    "--out", tmp_path / "out")
    assert_user_error(result, expected.format(d=tmp_path))
    assert not (tmp_path / "out").exists()


def test_gradcam_without_runs(tmp_path, tiny_data):
    result = invoke("gradcam", tiny_data / "test" / "star4" / "star4_0000.jpg",
                    "--runs-dir", tmp_path / "runs")
    assert_user_error(result, "no runs in")


# --- the end of a run -------------------------------------------------------------------


def test_a_run_explains_validation_images_and_scores_the_pointing_game(tmp_path, write_config, tiny_data):
    cfg = tiny_config(tiny_data, explain={"gradcam_images": 4})
    result = invoke("train", write_config(cfg), "--runs-dir", tmp_path / "runs")
    assert result.exit_code == 0, result.output
    [run] = list((tmp_path / "runs").iterdir())
    gradcam = json.loads((run / "summary.json").read_text())["gradcam"]
    assert gradcam["layer"] == "conv2" and len(gradcam["images"]) == 4
    for entry in gradcam["images"]:
        stem = entry["image"].rsplit(".", 1)[0]
        assert Image.open(run / "gradcam" / f"{stem}.png").size == (32, 32)
        assert (run / "gradcam" / f"{stem}.npy").is_file()
        assert entry["true"] == stem.split("_")[0]  # tiny_data names files by class
        assert entry["predicted"] in ("star4", "star6") and 0.5 <= entry["probability"] <= 1
    assert Image.open(run / "gradcam" / "contact_sheet.png").format == "PNG"
    pointing = gradcam["pointing_game"]
    assert pointing["images"] == 24 and 0 <= pointing["score"] <= 1  # tiny_data has boxes.csv
    # The hardest examples: the highest losses of the scored sample, hardest first, each drawn.
    hardest, losses = gradcam["hardest"], [entry["loss"] for entry in gradcam["hardest"]]
    assert gradcam["hardest_pool"] == 24 and len(hardest) == 6 and losses == sorted(losses, reverse=True)
    for entry in hardest:
        assert Image.open(run / "gradcam" / "hardest" / entry["image"].replace(".jpg", ".png")).size == (32, 32)


def test_a_bad_explain_layer_is_refused_before_the_run(tmp_path, write_config, tiny_data):
    cfg = tiny_config(tiny_data, explain={"gradcam_images": 2, "layer": "flatten"})
    result = invoke("train", write_config(cfg), "--runs-dir", tmp_path / "runs")
    assert_user_error(result, "explain.layer 'flatten' names no layer with a 4-D feature map")
    assert not (tmp_path / "runs").exists() or not any((tmp_path / "runs").iterdir())


def test_a_base_shared_by_two_models_is_tapped_in_the_right_one():
    from convcli.models.pretrained import feature_extractor

    base = build_base("builtin", "none", (32, 32))
    feature_extractor(base, "builtin", (32, 32))  # the base's first call is in another model
    model = transfer_model(base, "builtin", (32, 32), 16, 0.5, 2)
    batch = images(2)
    heatmaps, probabilities = GradCam(model)(batch)
    assert heatmaps.shape == (2, 4, 4)
    np.testing.assert_allclose(probabilities[:, 1], np.asarray(model(batch))[:, 0], rtol=1e-5)
