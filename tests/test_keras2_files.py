"""Keras 2 (tf_keras) H5 files of the common shapes, written by tf_keras itself: the book's
VGG16 base nested in a Sequential, a base nested in a Functional model, MobileNetV2
(DepthwiseConv2D) and SeparableConv2D. Each loads and gives tf_keras' own numbers in
summary, predict, gradcam and evaluate; what Keras 3 cannot rebuild is refused in one line.

tf_keras and Keras 3 live side by side in one process (measured: the files load in
both and agree), so the files are written here, not in a subprocess.
"""

import json
import os

import numpy as np
import pytest
from PIL import Image

from conftest import assert_user_error, invoke

k2 = pytest.importorskip("tf_keras")
SIDE = 32


def book_sequential():
    """The book's 5.3 pattern: a VGG16 base, Flatten, Dense, one sigmoid unit."""
    base = k2.applications.VGG16(weights=None, include_top=False, input_shape=(SIDE, SIDE, 3))
    return k2.Sequential([base, k2.layers.Flatten(), k2.layers.Dense(8, activation="relu"),
                          k2.layers.Dense(1, activation="sigmoid")])


def nested_functional():
    """A MobileNetV2 base called inside a Functional model, as Keras' transfer-learning guide does."""
    base = k2.applications.MobileNetV2(weights=None, include_top=False, alpha=0.35,
                                       input_shape=(SIDE, SIDE, 3))
    inputs = k2.Input((SIDE, SIDE, 3))
    x = k2.layers.GlobalAveragePooling2D()(base(inputs, training=False))
    return k2.Model(inputs, k2.layers.Dense(3, activation="softmax")(x))


def separable():
    inputs = k2.Input((SIDE, SIDE, 3))
    x = k2.layers.SeparableConv2D(8, 3, activation="relu", name="sep1")(inputs)
    x = k2.layers.DepthwiseConv2D(3, activation="relu", name="depth1")(x)
    x = k2.layers.GlobalAveragePooling2D()(x)
    x = k2.layers.Dense(3, name="scores")(x)
    return k2.Model(inputs, k2.layers.Activation("softmax")(x))


BUILDERS = {
    "vgg16_sequential": book_sequential,
    "nested_functional": nested_functional,
    "mobilenet_v2": lambda: k2.applications.MobileNetV2(weights=None, alpha=0.35, classes=3,
                                                        input_shape=(SIDE, SIDE, 3)),
    "separable": separable,
}


def lively(model, rng):
    """Batch normalization that keeps a random network's signal alive: with its fresh
    statistics MobileNetV2's outputs fade to ~1e-11 and every image gets the same
    probabilities, which would make any comparison pass."""
    for layer in model.submodules:
        if isinstance(layer, k2.layers.BatchNormalization):
            gamma, beta, mean, variance = layer.get_weights()
            layer.set_weights([gamma, rng.normal(0, 0.1, beta.shape), mean, np.full_like(variance, 0.05)])
    return model


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    """Each model saved as H5 by tf_keras (compiled, as a training script saves it), its own
    outputs on the test images, and the images (of the model's size, lossless)."""
    root = tmp_path_factory.mktemp("keras2")
    rng = np.random.default_rng(0)
    images = {}
    for name in ("a", "b", "c"):
        (root / "data" / name).mkdir(parents=True)
        for i in range(2):
            # MobileNetV2 and VGG16 take [-1, 1] / centred pixels; small values keep their
            # random-weight outputs away from 0 and 1 (convcli feeds pixels as they are).
            images[f"{name}/{i}"] = rng.integers(0, 8, (SIDE, SIDE, 3), np.uint8)
            Image.fromarray(images[f"{name}/{i}"]).save(root / "data" / name / f"{i}.png")
    pixels = np.stack(list(images.values())).astype(np.float32)
    outputs = {}
    k2.utils.set_random_seed(1)
    for name, build in BUILDERS.items():
        model = lively(build(), rng)
        model.compile(optimizer="rmsprop", loss="categorical_crossentropy")
        model.save(root / f"{name}.h5")
        outputs[name] = model.predict(pixels, verbose=0)
    return root, list(images), outputs


def predicted(root, model):
    result = invoke("predict", root / "data", "--model", model, "--json")
    assert result.exit_code == 0, result.output
    return {os.path.relpath(entry["image"], root / "data")[:-4]: {p["class"]: p["probability"]
                                                                  for p in entry["probabilities"]}
            for entry in json.loads(result.stdout)}


@pytest.mark.parametrize("name", BUILDERS)
def test_keras_3_alone_cannot_load_it(files, name):
    """Without convcli's rewrite, Keras 3.15 fails on each file (the reason for this file)."""
    import keras

    root, _, _ = files
    with pytest.raises(Exception):  # noqa: B017 - whatever Keras raises: the point is that it cannot
        keras.models.load_model(root / f"{name}.h5", compile=False)


@pytest.mark.parametrize("name", BUILDERS)
def test_predict_gives_tf_keras_numbers(files, name):
    root, names, outputs = files
    found = predicted(root, root / f"{name}.h5")
    expected = outputs[name]
    # float32 rounding, which the 0.05 variances (lively) amplify in the MobileNetV2 models
    tolerance = 1e-3 if "mobilenet" in name or "nested" in name else 1e-5
    assert np.ptp(expected[:, -1]) > 10 * tolerance  # the images differ: a real comparison
    for row, image in zip(expected, names):
        probabilities = [1 - row[0], row[0]] if row.shape[-1] == 1 else row
        np.testing.assert_allclose([found[image][str(k)] for k in range(len(probabilities))],
                                   probabilities, atol=tolerance)


@pytest.mark.parametrize("name", BUILDERS)
def test_summary_and_gradcam(files, name, tmp_path, monkeypatch):
    root, names, _ = files
    monkeypatch.setenv("COLUMNS", "200")
    result = invoke("summary", root / f"{name}.h5")
    assert result.exit_code == 0, result.output
    result = invoke("gradcam", root / "data" / "a", "--model", root / f"{name}.h5", "--out", tmp_path)
    assert result.exit_code == 0, result.output
    assert "explained: the gradient of " in result.stdout
    assert len(list(tmp_path.glob("*.npy"))) == 2


def test_the_books_sequential_is_explained_inside_its_base(files, tmp_path):
    """Grad-CAM's default layer is VGG16's block5_conv3, inside the nested base (2x2 at 32x32)."""
    root, _, _ = files
    result = invoke("gradcam", root / "data" / "a" / "0.png", "--model", root / "vgg16_sequential.h5",
                    "--out", tmp_path)
    assert result.exit_code == 0, result.output
    assert np.load(tmp_path / "0.npy").shape == (2, 2)
    result = invoke("summary", root / "vgg16_sequential.h5")
    assert "vgg16" in result.stdout and "flatten" in result.stdout


@pytest.mark.parametrize("name", ["mobilenet_v2", "vgg16_sequential"])
def test_evaluate_gives_tf_keras_loss(files, name, tmp_path, monkeypatch):
    root, names, outputs = files
    data = root / "data"
    if name == "vgg16_sequential":  # one sigmoid unit: two classes
        data = tmp_path / "two"
        for folder in ("a", "b"):
            (data / folder).mkdir(parents=True)
            for image in (root / "data" / folder).iterdir():
                (data / folder / image.name).symlink_to(image)
    monkeypatch.chdir(tmp_path)
    result = invoke("evaluate", "--model", root / f"{name}.h5", "--data", data)
    assert result.exit_code == 0, result.output
    shown = float(result.stdout.split("loss ")[1].split(",")[0])
    kept = [i for i, image in enumerate(names) if (data / image[0]).exists()]
    labels = np.array([ord(names[i][0]) - ord("a") for i in kept])
    p = outputs[name][kept].astype(np.float64)
    if p.shape[-1] == 1:
        loss = -(labels * np.log(p[:, 0]) + (1 - labels) * np.log(1 - p[:, 0]))
    else:
        loss = -np.log(p[np.arange(len(labels)), labels])
    assert shown == pytest.approx(float(np.mean(loss)), abs=2e-3)


def tf_op_model():
    inputs = k2.Input((SIDE, SIDE, 3))
    x = k2.layers.Conv2D(4, 3)(inputs * 2.0)  # recorded by Keras 2 as a TFOpLambda layer
    return k2.Model(inputs, k2.layers.Dense(2, activation="softmax")(k2.layers.Flatten()(x)))


class Doubling(k2.layers.Layer):
    def call(self, inputs):
        return inputs * 2


def custom_model():
    inputs = k2.Input((SIDE, SIDE, 3))
    x = k2.layers.Flatten()(Doubling(name="doubling")(inputs))
    return k2.Model(inputs, k2.layers.Dense(2, activation="softmax")(x))


def lambda_model():
    inputs = k2.Input((SIDE, SIDE, 3))
    x = k2.layers.Flatten()(k2.layers.Lambda(lambda t: t / 255)(inputs))
    return k2.Model(inputs, k2.layers.Dense(2, activation="softmax")(x))


@pytest.mark.parametrize("build, expected", [
    (tf_op_model, "holds TFOpLambda layers (TensorFlow operations applied to Keras 2 tensors"),
    (custom_model, "uses layer class 'Doubling', which is not one of Keras' own"),
    (lambda_model, "contains a Lambda layer, whose code would run when it loads"),
])
def test_what_keras_3_cannot_rebuild_is_refused_in_one_line(build, expected, tmp_path):
    build().save(tmp_path / "model.h5")
    result = invoke("summary", tmp_path / "model.h5")
    assert_user_error(result, expected)
    line = result.stderr.strip()
    assert "config=" not in line and len(line) < 400
    assert any(hint in line for hint in ("load its weights", "save it again", "save the model again"))
