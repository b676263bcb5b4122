"""Model files made elsewhere: legacy H5 (Keras 2 optimizer names), .hdf5, grayscale and
non-square inputs, in summary, gradcam, activations, predict and evaluate --model."""

import json
import os
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

from conftest import assert_user_error, invoke

EMOTIONS = ["angry", "disgust", "fear", "happy", "sad", "surprise", "neutral"]
RED = (200, 30, 30)  # as grayscale: 0.299 * 200 + 0.587 * 30 + 0.114 * 30 = 80.8 -> 81


def convnet(shape, units, activation):
    import keras

    inputs = keras.Input(shape)
    x = keras.layers.Conv2D(4, 3, activation="relu", name="conv1")(inputs)
    x = keras.layers.MaxPooling2D(name="pool1")(x)
    x = keras.layers.Conv2D(8, 3, activation="relu", name="conv2")(x)
    x = keras.layers.GlobalAveragePooling2D(name="gap")(x)
    # Scaled down so the random model's probabilities are not all 0 or 1 on raw pixels.
    x = keras.layers.Rescaling(0.01)(x)
    return keras.Model(inputs, keras.layers.Dense(units, activation=activation, name="out")(x))


def save_as_keras2(model, path):
    """An H5 file as Keras 2 wrote it: the optimizer's config says `lr` and `decay`."""
    import h5py
    import keras

    model.compile(optimizer=keras.optimizers.RMSprop(1e-4), loss="binary_crossentropy")
    model.save(path)
    with h5py.File(path, "r+") as handle:
        training = json.loads(handle.attrs["training_config"])
        optimizer = training["optimizer_config"]["config"]
        optimizer["lr"], optimizer["decay"] = optimizer.pop("learning_rate"), 0.0
        handle.attrs["training_config"] = json.dumps(training)
        handle.attrs["keras_version"] = "2.2.4"


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    root = tmp_path_factory.mktemp("model_files")
    save_as_keras2(convnet((32, 32, 3), 1, "sigmoid"), root / "legacy.h5")
    save_as_keras2(convnet((48, 48, 1), 7, "softmax"), root / "gray.hdf5")
    convnet((24, 40, 3), 3, "softmax").save(root / "wide.keras")
    Image.new("RGB", (60, 50), RED).save(root / "red.jpg", quality=100)
    Image.new("L", (30, 30), 81).save(root / "gray.png")
    for name, colour in (("happy", RED), ("sad", (20, 90, 200))):
        (root / "faces" / name).mkdir(parents=True)
        for i in range(3):
            Image.new("RGB", (40, 40), colour).save(root / "faces" / name / f"{i}.png")
    return root


def test_the_legacy_file_reproduces_keras_refusal(files):
    """The test file fails as users' files do when compiled: convcli must not compile it."""
    import keras

    with pytest.raises(ValueError, match=r"Argument\(s\) not recognized: \{'lr'"), \
            pytest.warns(UserWarning, match="Argument `decay` is no longer supported"):
        keras.models.load_model(files / "legacy.h5")


def test_summary_of_a_keras2_h5_prints_no_keras_warning(files):
    """A real process: Keras' UserWarning about `decay` and absl's lines stay off stderr."""
    done = subprocess.run([sys.executable, "-m", "convcli", "summary", str(files / "legacy.h5")],
                          capture_output=True, text=True, timeout=300,
                          env={**os.environ, "COLUMNS": "80"})
    assert done.returncode == 0, done.stderr
    assert done.stderr == ""
    assert "conv2" in done.stdout and "(None, 1)" in done.stdout


def test_summary_of_an_hdf5_file(files):
    result = invoke("summary", files / "gray.hdf5")
    assert result.exit_code == 0, result.output
    assert "(None, 46, 46, 4)" in result.stdout and "(None, 7)" in result.stdout


def test_predict_a_grayscale_model_with_class_names(files):
    import keras

    result = invoke("predict", files / "red.jpg", files / "gray.png", "--model", files / "gray.hdf5",
                    "--classes", ",".join(EMOTIONS), "--json")
    assert result.exit_code == 0, result.output
    assert result.stderr == ""
    found = json.loads(result.stdout)
    # The colour image becomes grayscale (81) as the model takes it; the gray one is 81 too.
    model = keras.models.load_model(files / "gray.hdf5", compile=False)
    expected = np.asarray(model(np.full((1, 48, 48, 1), 81.0, np.float32)))[0]
    for entry in found:
        probabilities = {p["class"]: p["probability"] for p in entry["probabilities"]}
        assert set(probabilities) == set(EMOTIONS)
        for index, name in enumerate(EMOTIONS):
            assert probabilities[name] == pytest.approx(float(expected[index]), abs=1e-5)


def test_predict_without_classes_numbers_them(files):
    result = invoke("predict", files / "red.jpg", "--model", files / "legacy.h5", "--json")
    assert result.exit_code == 0, result.output
    assert {p["class"] for p in json.loads(result.stdout)[0]["probabilities"]} == {"0", "1"}


def test_gradcam_of_grayscale_and_non_square_models(files, tmp_path):
    for model, side in (("gray.hdf5", (21, 21)), ("wide.keras", (9, 17))):
        out = tmp_path / model
        result = invoke("gradcam", files / "red.jpg", "--model", files / model, "--layer", "conv2",
                        "--out", out)
        assert result.exit_code == 0, result.output
        assert np.load(out / "red.npy").shape == side  # conv2: (h - 2) // 2 - 2
        assert Image.open(out / "red.png").size == (60, 50)  # drawn on the original


def test_activations_of_a_non_square_model(files, tmp_path):
    result = invoke("activations", files / "gray.png", "--model", files / "wide.keras", "--out", tmp_path)
    assert result.exit_code == 0, result.output
    assert sorted(p.name for p in tmp_path.iterdir()) == ["01_conv1.png", "02_pool1.png", "03_conv2.png"]


def test_evaluate_a_model_file_on_class_folders(files, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    result = invoke("evaluate", "--model", files / "gray.hdf5", "--data", files / "faces",
                    "--classes", ",".join(EMOTIONS))
    assert result.exit_code == 0, result.output
    predicted = invoke("predict", files / "faces", "--model", files / "gray.hdf5",
                       "--classes", ",".join(EMOTIONS), "--json")
    right = sum(entry["probabilities"][0]["class"] == os.path.basename(os.path.dirname(entry["image"]))
                for entry in json.loads(predicted.stdout))
    assert f"({right} of 6 images)" in result.stdout  # as predict counts them
    assert (tmp_path / "gray-confusion.png").is_file()
    # Without --classes the two folders are the sigmoid model's classes 0 and 1, in order.
    result = invoke("evaluate", "--model", files / "legacy.h5", "--data", files / "faces")
    assert result.exit_code == 0, result.output
    assert "│ happy " in result.stdout and "of 6 images" in result.stdout


def test_model_file_refusals(files):
    assert_user_error(invoke("predict", files / "red.jpg", "--model", files / "gray.hdf5",
                             "--classes", "a,b"),
                      "--classes a,b names 2, but model")
    assert_user_error(invoke("evaluate", "--model", files / "gray.hdf5", "--data", files / "faces"),
                      "has 2 class folders (happy, sad), but model")
    result = invoke("evaluate", "--model", files / "gray.hdf5")
    assert result.exit_code == 2 and "--model FILE takes --data DIR" in result.stderr


def test_filter_patterns_of_a_grayscale_model(files):
    """`filters` climbs in the model's own input space: one channel, drawn grey."""
    import keras

    from convcli.explain.filters import filter_patterns

    model = keras.models.load_model(files / "gray.hdf5", compile=False)
    patterns = filter_patterns(model, "conv1", count=2, steps=2)
    assert patterns.shape == (2, 48, 48, 3) and patterns.dtype == np.uint8
    assert np.array_equal(patterns[..., 0], patterns[..., 2])  # grey: the channel repeated


def test_keras_warnings_do_not_reach_the_user():
    """Every TensorFlow command imports it through tfenv, which silences Keras' warnings
    (here: a model whose input is a list, called with a tensor, as Grad-CAM calls bases)."""
    import warnings

    import keras

    from convcli.tfenv import import_tensorflow

    inputs = keras.Input((4,), name="base_input")
    model = keras.Model([inputs], keras.layers.Dense(1)(inputs))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("default")
        model(np.zeros((1, 4), np.float32))
        assert "The structure of `inputs`" in str(caught[0].message)  # Keras does warn
        caught.clear()
        import_tensorflow()
        model(np.zeros((1, 4), np.float32))
    assert caught == []


def test_a_keras_2_0_sequential_h5_loads(files, tmp_path):
    """Keras 2.0-2.2 (the book's) saved a Sequential config as a bare list of layers, the
    first with batch_input_shape; Keras 3.15 alone cannot read it."""
    import h5py
    import keras

    model = keras.Sequential([keras.Input((32, 32, 3)), keras.layers.Conv2D(4, 3, name="conv2d_1"),
                              keras.layers.Flatten(name="flatten_1"),
                              keras.layers.Dense(1, activation="sigmoid", name="dense_1")])
    path = tmp_path / "book.h5"
    save_as_keras2(model, path)
    with h5py.File(path, "r+") as handle:
        config = json.loads(handle.attrs["model_config"])
        layers = config["config"]["layers"][1:]  # no InputLayer
        layers[0]["config"]["batch_input_shape"] = [None, 32, 32, 3]
        config["config"] = layers
        handle.attrs["model_config"] = json.dumps(config)
    with pytest.raises(Exception):  # noqa: B017 - whatever Keras raises: the point is that it cannot
        keras.models.load_model(path, compile=False)
    result = invoke("predict", files / "gray.png", "--model", path, "--json")
    assert result.exit_code == 0, result.output
    assert result.stderr == ""
    expected = float(np.asarray(model(np.full((1, 32, 32, 3), 81.0, np.float32)))[0, 0])
    [entry] = json.loads(result.stdout)
    assert {p["class"]: p["probability"] for p in entry["probabilities"]}["1"] == pytest.approx(expected, abs=1e-5)


def test_gradcam_names_a_model_files_classes(files, tmp_path, monkeypatch):
    monkeypatch.setenv("COLUMNS", "120")
    result = invoke("gradcam", files / "gray.png", "--model", files / "gray.hdf5", "--classes",
                    ",".join(EMOTIONS), "--class", "surprise", "--out", tmp_path)
    assert result.exit_code == 0, result.output
    [row] = [line for line in result.stdout.splitlines() if "gray.png" in line]
    assert row.split("│")[2].strip() == "surprise"  # the class explained, by its name
