"""What a model outputs: probabilities (softmax or sigmoid, as a Dense's own activation or a
layer of its own) or logits (no activation). The same weights must give the same numbers
in predict, evaluate, gradcam and export, however the output is spelled."""

import json
import os

import numpy as np
import pytest
from PIL import Image

from conftest import assert_user_error, invoke

SIDE = 32
# One set of weights, its output spelled four ways (three classes) or three (one unit)
SPELLINGS = ("logits", "dense_softmax", "activation_softmax", "softmax_layer")


def convnet(spelling: str, units: int = 3):
    """A small convnet with seeded weights; only how its output is spelled differs."""
    import keras

    keras.utils.set_random_seed(3)
    inputs = keras.Input((SIDE, SIDE, 3))
    x = keras.layers.Conv2D(6, 3, activation="relu", name="conv1")(inputs)
    x = keras.layers.Conv2D(8, 3, activation="relu", name="conv2")(x)
    x = keras.layers.GlobalAveragePooling2D(name="gap")(x)
    # Scaled so the logits of raw pixels are spread, not saturated.
    x = keras.layers.Rescaling(0.05, name="scale")(x)
    own = {"dense_softmax": "softmax", "dense_sigmoid": "sigmoid"}.get(spelling)
    x = keras.layers.Dense(units, activation=own, name="scores")(x)
    if spelling in ("activation_softmax", "activation_sigmoid"):
        x = keras.layers.Activation(spelling.split("_")[1], name="probabilities")(x)
    elif spelling == "softmax_layer":
        x = keras.layers.Softmax(name="probabilities")(x)
    return keras.Model(inputs, x)


def softmax(z):
    e = np.exp(z - z.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


def sigmoid(z):
    return 1 / (1 + np.exp(-z))


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    root = tmp_path_factory.mktemp("outputs")
    for spelling in SPELLINGS:
        convnet(spelling).save(root / f"{spelling}.keras")
    for spelling in ("logits", "dense_sigmoid", "activation_sigmoid"):
        convnet(spelling, units=1).save(root / f"one_{spelling}.keras")
    rng = np.random.default_rng(0)
    pixels = {}
    for name in ("a", "b", "c"):  # images of the model's size, lossless: the test sees the same pixels
        (root / "data" / name).mkdir(parents=True)
        for i in range(3):
            pixels[f"{name}/{i}"] = rng.integers(0, 256, (SIDE, SIDE, 3), np.uint8)
            Image.fromarray(pixels[f"{name}/{i}"]).save(root / "data" / name / f"{i}.png")
    return root, pixels


def raw_outputs(path, pixels):
    """The model's own outputs on the images, as Keras computes them."""
    import keras

    model = keras.models.load_model(path, compile=False)
    return np.asarray(model(np.stack(list(pixels.values())).astype(np.float32)))


def predicted(root, model, *more):
    result = invoke("predict", root / "data", "--model", model, "--json", *more)
    assert result.exit_code == 0, result.output
    return {os.path.relpath(entry["image"], root / "data")[:-4]: {p["class"]: p["probability"]
                                                                  for p in entry["probabilities"]}
            for entry in json.loads(result.stdout)}


def assert_same(found, expected):
    assert found.keys() == expected.keys()
    for name, probabilities in expected.items():
        assert found[name] == pytest.approx(probabilities, abs=1e-6), name


def test_logits_are_shown_as_their_softmax(files):
    root, pixels = files
    logits = raw_outputs(root / "logits.keras", pixels)
    assert (logits < 0).any() and (logits.max(axis=-1) > 1).any()  # plainly not probabilities
    expected = softmax(logits.astype(np.float64))
    found = predicted(root, root / "logits.keras")
    for row, name in zip(expected, pixels):
        shown = [found[name][str(k)] for k in range(3)]
        assert sum(shown) == pytest.approx(1, abs=1e-6)
        np.testing.assert_allclose(shown, row, atol=1e-6)
    # The same weights with a softmax output give the same numbers, every spelling.
    for spelling in SPELLINGS[1:]:
        assert_same(predicted(root, root / f"{spelling}.keras"), found)


def test_predict_says_once_that_the_model_outputs_logits(files, monkeypatch):
    root, _ = files
    monkeypatch.setenv("COLUMNS", "200")
    result = invoke("predict", root / "data" / "a" / "0.png", "--model", root / "logits.keras")
    assert result.exit_code == 0, result.output
    assert result.stdout.count("the model outputs logits: probabilities are their softmax") == 1
    result = invoke("predict", root / "data" / "a" / "0.png", "--model", root / "dense_softmax.keras")
    assert "logits" not in result.stdout


def test_one_logit_is_shown_as_its_sigmoid(files):
    root, pixels = files
    z = raw_outputs(root / "one_logits.keras", pixels)[:, 0].astype(np.float64)
    found = predicted(root, root / "one_logits.keras")
    for value, name in zip(z, pixels):
        assert found[name]["1"] == pytest.approx(sigmoid(value), abs=1e-6)
        assert found[name]["0"] + found[name]["1"] == pytest.approx(1, abs=1e-6)
    assert_same(predicted(root, root / "one_dense_sigmoid.keras"), found)


def evaluated(root, model, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("COLUMNS", "200")
    result = invoke("evaluate", "--model", model, "--data", root / "data")
    assert result.exit_code == 0, result.output
    first = result.stdout.splitlines()[0]
    return first, float(first.split("loss ")[1].split(",")[0])


def test_evaluate_scores_logits_as_their_softmax(files, tmp_path, monkeypatch):
    root, pixels = files
    logits = raw_outputs(root / "logits.keras", pixels).astype(np.float64)
    labels = np.array([["a", "b", "c"].index(name[0]) for name in pixels])
    loss = float(np.mean(-np.log(softmax(logits)[np.arange(len(labels)), labels])))
    line, shown = evaluated(root, root / "logits.keras", tmp_path, monkeypatch)
    assert "the model outputs logits: probabilities are their softmax" in line
    assert shown == pytest.approx(loss, abs=1e-4)
    for spelling in SPELLINGS[1:]:
        other, value = evaluated(root, root / f"{spelling}.keras", tmp_path, monkeypatch)
        assert value == pytest.approx(shown, abs=1e-4)
        assert other.split("loss ")[1] == line.split("loss ")[1]  # the accuracy too


def test_evaluate_scores_one_logit_as_its_sigmoid(files, tmp_path, monkeypatch):
    root, pixels = files
    z = raw_outputs(root / "one_logits.keras", pixels)[:, 0].astype(np.float64)
    (tmp_path / "two").mkdir()
    for name in ("a", "b"):  # the one-unit model has two classes
        (tmp_path / "two" / name).symlink_to(root / "data" / name)
    labels = np.array([["a", "b"].index(name[0]) for name in pixels if name[0] != "c"])
    p = sigmoid(z[:len(labels)])
    loss = float(np.mean(-(labels * np.log(p) + (1 - labels) * np.log(1 - p))))
    monkeypatch.chdir(tmp_path)
    result = invoke("evaluate", "--model", root / "one_logits.keras", "--data", tmp_path / "two")
    assert result.exit_code == 0, result.output
    assert float(result.stdout.split("loss ")[1].split(",")[0]) == pytest.approx(loss, abs=1e-4)
    assert "probabilities are their sigmoid" in result.stdout


def heatmaps(root, model, tmp_path, *more):
    out = tmp_path / model.stem
    result = invoke("gradcam", root / "data", "--model", model, "--out", out, *more)
    assert result.exit_code == 0, result.output
    return {path.stem: np.load(path) for path in sorted(out.glob("*.npy"))}, result.stdout


@pytest.mark.parametrize("units, spellings", [
    (3, SPELLINGS), (1, ("one_logits", "one_dense_sigmoid", "one_activation_sigmoid"))])
def test_gradcam_explains_the_scores_however_the_output_is_spelled(files, tmp_path, monkeypatch,
                                                                   units, spellings):
    """Dense(softmax), Dense -> Activation('softmax'), Dense -> Softmax() and logits: one
    explanation, that of the scores before the softmax (for each class)."""
    root, _ = files
    monkeypatch.setenv("COLUMNS", "200")
    for class_ in ("0", "1"):
        reference, _ = heatmaps(root, root / f"{spellings[0]}.keras", tmp_path, "--class", class_)
        assert any(np.ptp(h) > 0 for h in reference.values())
        for spelling in spellings[1:]:
            found, shown = heatmaps(root, root / f"{spelling}.keras", tmp_path, "--class", class_)
            assert found.keys() == reference.keys()
            for name in found:
                np.testing.assert_allclose(found[name], reference[name], atol=1e-5)
            assert "explained: the gradient of " in shown and "'scores'" in shown


def test_gradcam_of_a_separate_softmax_is_not_the_probabilitys(files):
    """The check above can fail: the probability's gradient gives another map."""
    import keras
    import tensorflow as tf

    from convcli.explain.gradcam import GradCam

    root, pixels = files
    model = keras.models.load_model(root / "activation_softmax.keras", compile=False)
    images = np.stack(list(pixels.values())).astype(np.float32)
    heatmaps, _ = GradCam(model, "conv2")(images, [0] * len(images))
    tapped = keras.Model(model.inputs, [model.get_layer("conv2").output, model.output])
    with tf.GradientTape() as tape:
        feature_map, probabilities = tapped(images)
        score = probabilities[:, 0]
    weights = tf.reduce_mean(tape.gradient(score, feature_map), axis=(1, 2))
    naive = tf.nn.relu(tf.einsum("nhwc,nc->nhw", feature_map, weights)).numpy()
    naive = naive / (naive.max(axis=(1, 2), keepdims=True) + 1e-12)
    assert np.max(np.abs(naive - heatmaps)) > 1e-2


def test_gradcam_names_the_tensor_it_explained(files, tmp_path, monkeypatch):
    root, _ = files
    monkeypatch.setenv("COLUMNS", "200")
    _, shown = heatmaps(root, root / "dense_softmax.keras", tmp_path)
    assert "explained: the gradient of layer 'scores' before its softmax" in shown
    _, shown = heatmaps(root, root / "softmax_layer.keras", tmp_path)
    assert "explained: the gradient of the output of layer 'scores', before the softmax after it" in shown


def test_export_of_a_logit_model_file_outputs_probabilities(files, tmp_path, monkeypatch):
    """export --model FILE --data DIR: checked against the file; the export's output is the
    softmax of the logits, named by --data's folders; predict runs it."""
    root, pixels = files
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("COLUMNS", "200")
    result = invoke("export", "--model", root / "logits.keras", "--data", root / "data", "--format", "onnx")
    assert result.exit_code == 0, result.output
    assert "onnx against logits.keras on" in result.stdout
    folder = tmp_path / "logits-onnx"
    record = json.loads((folder / "export.json").read_text())
    assert record["class_names"] == ["a", "b", "c"] and record["source_run"] is None
    assert record["check"]["passed"] and record["check"]["images"] == 9
    assert record["source_checkpoint"] == str((root / "logits.keras").resolve())
    exported = predicted(root, folder / "model.onnx")
    expected = softmax(raw_outputs(root / "logits.keras", pixels).astype(np.float64))
    for row, name in zip(expected, pixels):
        np.testing.assert_allclose([exported[name][c] for c in "abc"], row, atol=1e-5)


def test_export_takes_the_classes_of_a_model_file(files, tmp_path, monkeypatch):
    root, _ = files
    monkeypatch.chdir(tmp_path)
    result = invoke("export", "--model", root / "dense_softmax.keras", "--data", root / "data",
                    "--classes", "c,b,a", "--out", tmp_path / "named")
    assert result.exit_code == 0, result.output
    assert json.loads((tmp_path / "named" / "export.json").read_text())["class_names"] == ["c", "b", "a"]


def test_an_output_neither_probabilities_nor_logits_is_refused(tmp_path):
    import keras

    inputs = keras.Input((SIDE, SIDE, 3))
    x = keras.layers.GlobalAveragePooling2D()(keras.layers.Conv2D(4, 3)(inputs))
    keras.Model(inputs, keras.layers.Dense(3, activation="tanh", name="ends")(x)).save(tmp_path / "tanh.keras")
    Image.new("RGB", (SIDE, SIDE)).save(tmp_path / "x.png")
    assert_user_error(invoke("predict", tmp_path / "x.png", "--model", tmp_path / "tanh.keras"),
                      "ends in neither class probabilities (a softmax or sigmoid) nor logits")
    # Looking inside it still works: activations need no probabilities.
    result = invoke("activations", tmp_path / "x.png", "--model", tmp_path / "tanh.keras", "--out", tmp_path / "a")
    assert result.exit_code == 0, result.output


def test_an_upper_case_suffix_is_read_like_the_lower_case_one(files, tmp_path):
    """Keras goes by the suffix as written ("File format not supported: filepath=x.KERAS")."""
    import shutil

    import keras

    root, _ = files
    shutil.copy(root / "dense_softmax.keras", tmp_path / "MODEL.KERAS")
    keras.models.load_model(root / "dense_softmax.keras", compile=False).save(tmp_path / "model.h5")
    shutil.move(tmp_path / "model.h5", tmp_path / "MODEL.H5")
    with pytest.raises(ValueError, match="File format not supported"):
        keras.models.load_model(tmp_path / "MODEL.KERAS", compile=False)
    expected = predicted(root, root / "dense_softmax.keras")
    for name in ("MODEL.KERAS", "MODEL.H5"):
        assert_same(predicted(root, tmp_path / name), expected)
