"""Every output shape a model file can have, through predict, evaluate, gradcam and
activations: one output wrapped in a list or a dict is that output; several, a per-pixel
map or a model never built are refused in one line (issue 28)."""

import numpy as np
import pytest
from PIL import Image

from conftest import assert_user_error, invoke

SIDE = 16


def trunk(keras):
    keras.utils.set_random_seed(5)
    inputs = keras.Input((SIDE, SIDE, 3))
    x = keras.layers.Conv2D(4, 3, activation="relu", name="conv")(inputs)
    return inputs, x


def scores(keras, x):
    x = keras.layers.GlobalAveragePooling2D(name="gap")(x)
    return keras.layers.Dense(2, activation="softmax", name="probs")(x)


def build(kind: str):
    import keras

    inputs, x = trunk(keras)
    if kind == "plain":
        return keras.Model(inputs, scores(keras, x))
    if kind == "list":
        return keras.Model(inputs, [scores(keras, x)])
    if kind == "dict":
        return keras.Model(inputs, {"probs": scores(keras, x)})
    if kind == "two":
        box = keras.layers.Dense(4, name="box")(keras.layers.Flatten()(x))
        return keras.Model(inputs, [scores(keras, x), box])
    if kind == "per_pixel":
        return keras.Model(inputs, keras.layers.Conv2D(2, 1, activation="softmax", name="mask")(x))
    if kind == "float16":  # kept in the mixed_float16 policy, its output float16 too
        x = keras.layers.Conv2D(4, 3, dtype="mixed_float16", name="conv16")(x)
        x = keras.layers.GlobalAveragePooling2D(dtype="mixed_float16")(x)
        return keras.Model(inputs, keras.layers.Dense(2, activation="softmax", dtype="float16")(x))
    if kind == "nested_sequential":  # a Sequential feature extractor inside a functional model
        features = keras.Sequential([keras.Input((SIDE, SIDE, 3)), keras.layers.Conv2D(4, 3, name="c1"),
                                     keras.layers.Conv2D(4, 3, name="c2")], name="features")
        return keras.Model(inputs, scores(keras, features(inputs)))
    if kind == "unbuilt":
        return keras.Sequential([keras.layers.Conv2D(4, 3), keras.layers.GlobalAveragePooling2D(),
                                 keras.layers.Dense(2, activation="softmax")])
    raise ValueError(kind)


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    root = tmp_path_factory.mktemp("shapes")
    rng = np.random.default_rng(0)
    for name in ("a", "b"):
        (root / "data" / name).mkdir(parents=True)
        for i in range(2):
            Image.fromarray(rng.integers(0, 256, (SIDE, SIDE, 3), np.uint8)).save(
                root / "data" / name / f"{i}.png")
    for kind in ("plain", "list", "dict", "float16", "nested_sequential", "two", "per_pixel", "unbuilt"):
        build(kind).save(root / f"{kind}.keras")
    return root


def commands(folder, kind):
    model, image = folder / f"{kind}.keras", folder / "data" / "a" / "0.png"
    return {"predict": ("predict", image, "--model", model),
            "evaluate": ("evaluate", "--model", model, "--data", folder / "data"),
            "gradcam": ("gradcam", image, "--model", model, "--out", folder / f"cam-{kind}"),
            "activations": ("activations", image, "--model", model, "--out", folder / f"act-{kind}")}


@pytest.mark.parametrize("kind", ["float16", "nested_sequential"])
def test_float16_and_nested_models_go_through_every_command(folder, kind, monkeypatch):
    monkeypatch.chdir(folder)
    for name, args in commands(folder, kind).items():
        result = invoke(*args)
        assert result.exit_code == 0, (name, result.output)
    assert "%" in invoke(*commands(folder, kind)["predict"]).stdout


@pytest.mark.parametrize("kind", ["list", "dict"])
def test_one_output_in_a_list_or_dict_is_that_output(folder, kind, monkeypatch):
    monkeypatch.chdir(folder)
    expected = invoke(*commands(folder, "plain")["predict"])
    assert expected.exit_code == 0, expected.output
    for name, args in commands(folder, kind).items():
        result = invoke(*args)
        assert result.exit_code == 0, (name, result.output)
    assert invoke(*commands(folder, kind)["predict"]).stdout == expected.stdout.replace(
        "plain.keras", f"{kind}.keras")


@pytest.mark.parametrize("kind, expected", [
    ("two", "has 2 outputs (probs, box); convcli reads one output of class scores"),
    ("per_pixel", "outputs shape (None, 14, 14, 2), not one score per class"),
    ("unbuilt", "was saved before it was built"),
])
def test_models_without_one_score_row_are_refused_in_one_line(folder, kind, expected, monkeypatch):
    monkeypatch.chdir(folder)
    for args in commands(folder, kind).values():
        assert_user_error(invoke(*args), expected)
