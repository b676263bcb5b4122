"""Every output shape a model file can have, through predict, evaluate, gradcam and
activations (and summary, filters, export): one output wrapped in a list or a dict is that
output; of several, --output NAME picks one; a per-pixel map or a model never built are
refused in one line; feature maps are found through any nesting (issue 28)."""

import os
import subprocess
import sys

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
    if kind == "two_dict":  # Keras keeps model.outputs in sorted key order: box first
        box = keras.layers.Dense(4, name="box")(keras.layers.Flatten()(x))
        return keras.Model(inputs, {"scores": scores(keras, x), "box": box})
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
    if kind == "functional_in_sequential":  # Sequential([functional base, pooling, Dense])
        base_inputs = keras.Input((SIDE, SIDE, 3))
        base = keras.Model(base_inputs, keras.layers.Conv2D(4, 3, name="b2")(
            keras.layers.Conv2D(4, 3, name="b1")(base_inputs)), name="base")
        return keras.Sequential([keras.Input((SIDE, SIDE, 3)), base, keras.layers.GlobalAveragePooling2D(),
                                 keras.layers.Dense(2, activation="softmax")])
    if kind == "deep":  # Sequential > functional > Sequential: the convolutions two levels down
        block = keras.Sequential([keras.Input((SIDE, SIDE, 3)), keras.layers.Conv2D(4, 3, name="d1"),
                                  keras.layers.Conv2D(4, 3, name="d2")], name="block")
        base_inputs = keras.Input((SIDE, SIDE, 3))
        base = keras.Model(base_inputs, keras.layers.ReLU(name="relu")(block(base_inputs)), name="base")
        return keras.Sequential([keras.Input((SIDE, SIDE, 3)), base, keras.layers.GlobalAveragePooling2D(),
                                 keras.layers.Dense(2, activation="softmax")])
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
    for kind in ("plain", "list", "dict", "float16", "nested_sequential", "two", "two_dict",
                 "functional_in_sequential", "deep", "per_pixel", "unbuilt"):
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
    ("two", "has 2 outputs (probs, box); convcli reads one output of class scores: name it with "
            "--output (e.g. --output probs)"),
    ("two_dict", "has 2 outputs (scores, box); convcli reads one output of class scores: name it "
                 "with --output (e.g. --output scores)"),
    ("per_pixel", "outputs shape (None, 14, 14, 2), not one score per class"),
    ("unbuilt", "was saved before it was built"),
])
def test_models_without_one_score_row_are_refused_in_one_line(folder, kind, expected, monkeypatch):
    monkeypatch.chdir(folder)
    for args in commands(folder, kind).values():
        assert_user_error(invoke(*args), expected)


def more_commands(folder, kind, layer="conv", tag=""):
    """summary, filters and export --model of a model file (`tag`: a test's own export folder)."""
    model = folder / f"{kind}.keras"
    return {"summary": ("summary", model),
            "filters": ("filters", "--model", model, "--layer", layer, "--count", "2",
                        "--out", folder / f"filters-{kind}"),
            "export": ("export", "--model", model, "--data", folder / "data",
                       "--out", folder / f"export-{kind}{tag}")}


@pytest.mark.parametrize("kind, layer", [("list", "conv"), ("dict", "conv"), ("float16", "conv16"),
                                         ("nested_sequential", "c2")])
def test_summary_filters_and_export_take_every_kind(folder, kind, layer, monkeypatch):
    monkeypatch.chdir(folder)
    for name, args in more_commands(folder, kind, layer).items():
        result = invoke(*args)
        assert result.exit_code == 0, (name, result.output)
    assert (folder / f"filters-{kind}" / f"filters_{layer}.png").is_file()
    assert (folder / f"export-{kind}" / "export.json").is_file()


@pytest.mark.parametrize("kind, output", [("two", "probs"), ("two_dict", "scores")])
def test_output_names_the_output_of_several(folder, kind, output, monkeypatch):
    """--output picks one: the same numbers as the model that has only that output."""
    monkeypatch.chdir(folder)
    plain = invoke(*commands(folder, "plain")["predict"])
    for name, args in {**commands(folder, kind), **more_commands(folder, kind)}.items():
        result = invoke(*args, *(() if name == "summary" else ("--output", output)))
        assert result.exit_code == 0, (name, result.output)
    chosen = invoke(*commands(folder, kind)["predict"], "--output", output)
    assert chosen.stdout == plain.stdout.replace("plain.keras", f"{kind}.keras")


def test_an_unknown_output_is_refused_naming_the_outputs(folder, monkeypatch):
    monkeypatch.chdir(folder)
    for args in {**commands(folder, "two_dict"), **more_commands(folder, "two_dict", tag="-u")}.values():
        if args[0] != "summary":
            assert_user_error(invoke(*args, "--output", "probs"), "--output probs is not an output of "
                              f"model {folder / 'two_dict.keras'}; its outputs are scores, box")


def test_a_model_never_built_has_no_summary(folder, monkeypatch):
    monkeypatch.chdir(folder)
    assert_user_error(invoke("summary", folder / "unbuilt.keras"), "was saved before it was built")


@pytest.mark.parametrize("kind, inner", [("functional_in_sequential", ["b1", "b2"]),
                                         ("deep", ["d1", "d2"])])
def test_feature_maps_are_found_through_any_nesting(folder, kind, inner, monkeypatch):
    monkeypatch.chdir(folder)
    for name, args in commands(folder, kind).items():
        result = invoke(*args)
        assert result.exit_code == 0, (name, result.output)
    grids = sorted(path.name for path in (folder / f"act-{kind}").glob("*.png"))
    assert grids == [f"{i:02d}_{name}.png" for i, name in enumerate(inner, start=1)]
    heatmap = np.load(folder / f"cam-{kind}" / "0.npy")
    assert heatmap.max() > 0  # explained at the last feature map, two levels down for "deep"


def test_a_model_without_feature_maps_names_its_layers(folder, monkeypatch):
    import keras

    monkeypatch.chdir(folder)
    inputs = keras.Input((SIDE, SIDE, 3))
    flat = keras.layers.Flatten(name="flat")(inputs)
    keras.Model(inputs, keras.layers.Dense(2, activation="softmax", name="probs")(flat)).save(
        folder / "flat.keras")
    image = folder / "data" / "a" / "0.png"
    assert_user_error(invoke("gradcam", image, "--model", folder / "flat.keras"),
                      "so none to pass as --layer NAME; its layers: flat (None, 768), probs (None, 2)")



def keras2_file(path, kind: str):
    """A Keras 2 H5 file written by tf_keras, its one output in a list or a dict."""
    import tf_keras

    tf_keras.utils.set_random_seed(3)
    inputs = tf_keras.Input((SIDE, SIDE, 3))
    x = tf_keras.layers.Conv2D(4, 3, activation="relu", name="conv")(inputs)
    x = tf_keras.layers.GlobalAveragePooling2D()(x)
    probs = tf_keras.layers.Dense(2, activation="softmax", name="probs")(x)
    model = tf_keras.Model(inputs, [probs] if kind == "list" else {"probs": probs})
    model.save(path)
    return model


@pytest.mark.parametrize("kind", ["list", "dict"])
def test_keras2_files_with_a_wrapped_output(folder, kind, monkeypatch):
    pytest.importorskip("tf_keras")
    monkeypatch.chdir(folder)
    path = folder / f"keras2-{kind}.h5"
    model = keras2_file(path, kind)
    image = folder / "data" / "a" / "0.png"
    for name, args in commands(folder, "plain").items():
        args = tuple(path if str(a).endswith("plain.keras") else a for a in args)
        result = invoke(*args)
        assert result.exit_code == 0, (name, result.output)
    import json

    from convcli.image_files import model_inputs

    shown = json.loads(invoke("predict", image, "--model", path, "--json").stdout)[0]["probabilities"]
    expected = model.predict(model_inputs([image], (SIDE, SIDE)), verbose=0)
    expected = expected["probs"] if isinstance(expected, dict) else np.asarray(expected).reshape(1, 2)
    assert {p["class"]: p["probability"] for p in shown} == pytest.approx(
        {"0": float(expected[0][0]), "1": float(expected[0][1])}, abs=1e-5)


def small_convnext(path):
    """A ConvNeXt classifier as keras.applications builds them (nested stem and downsampling
    Sequentials, grouped depthwise convolutions, LayerScale), at a test's size."""
    from keras.src.applications.convnext import ConvNeXt

    ConvNeXt(depths=[1, 1, 1, 1], projection_dims=[8, 16, 32, 64], name="convnext_tiny",
             input_shape=(32, 32, 3), classes=2, weights=None).save(path)


@pytest.mark.slow  # two fresh processes importing TensorFlow: ~30 s on 2 shared cores
def test_convnext_through_activations_and_gradcam_without_retracing(folder):
    """In a fresh process, as a user runs it: TensorFlow warns of retracing on stderr when a
    function is traced again and again (issue 28: activations called ConvNeXt eagerly)."""
    small_convnext(folder / "convnext.keras")
    image = folder / "data" / "a" / "0.png"
    for command in (["activations", image, "--out", folder / "act-convnext"],
                    ["gradcam", image, folder / "data" / "b", "--out", folder / "cam-convnext"]):
        done = subprocess.run([sys.executable, "-m", "convcli", *map(str, command), "--model",
                               str(folder / "convnext.keras")], capture_output=True, text=True,
                              env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "1"}, cwd=folder)
        assert done.returncode == 0, done.stderr
        assert "retracing" not in done.stderr, done.stderr
    assert len(list((folder / "act-convnext").glob("*depthwise_conv.png"))) == 4
