"""Model files given in a config: `model.weights` (a .keras file whose layers the base
takes by name) and `fine_tune.init_from` (a run whose best.keras another program
rewrapped), with every output kind of issue 28: each trains or is refused in one line."""

import shutil

import pytest
import yaml

from conftest import assert_user_error, invoke, tiny_config

pytestmark = pytest.mark.slow  # a training run per kind: ~60 s on 2 shared cores


def builtin_file(path, kind: str):
    """A classifier around the built-in base's layers, its output kind `kind`."""
    import keras

    from convcli.models.pretrained import build_builtin_base

    def head(x):
        return keras.layers.Dense(2, activation="softmax", name="probs")(
            keras.layers.GlobalAveragePooling2D()(x))

    policy = "mixed_float16" if kind == "float16" else "float32"
    keras.mixed_precision.set_dtype_policy(policy)
    try:
        base, inputs = build_builtin_base((32, 32, 3)), keras.Input((32, 32, 3))
        if kind == "nested_sequential":
            base = keras.Sequential([keras.Input((32, 32, 3)), *base.layers[1:]], name="seq")
        features = base(inputs)
        outputs = {"list": [head(features)], "dict": {"probs": head(features)},
                   "two": [head(features), keras.layers.Dense(4, name="box")(
                       keras.layers.Flatten()(features))]}.get(kind, head(features))
        keras.Model(inputs, outputs).save(path)
    finally:
        keras.mixed_precision.set_dtype_policy("float32")


def train(tmp_path, name, stage="extract", **sections):
    path = tmp_path / f"{name}.yaml"
    path.write_text(yaml.safe_dump(tiny_config(tmp_path / "data", stage, **sections)))
    return invoke("train", path, "--runs-dir", tmp_path / "runs")


@pytest.fixture
def copied(tiny_data, tmp_path, monkeypatch):
    shutil.copytree(tiny_data, tmp_path / "data")
    monkeypatch.chdir(tmp_path)
    return tmp_path


@pytest.mark.parametrize("kind", ["list", "dict", "two", "float16", "nested_sequential"])
def test_model_weights_from_a_file_of_each_kind(copied, kind):
    builtin_file(copied / f"{kind}.keras", kind)
    result = train(copied, kind, model={"base": "builtin", "weights": str(copied / f"{kind}.keras"),
                                        "dense_units": 8}, train={"epochs": 1})
    assert result.exit_code == 0, result.output


def test_model_weights_from_a_model_never_built_is_refused_saying_so(copied):
    import keras

    keras.Sequential([keras.layers.Conv2D(32, 3, name="block1_conv1")]).save(copied / "unbuilt.keras")
    result = train(copied, "unbuilt", model={"base": "builtin", "weights": str(copied / "unbuilt.keras"),
                                             "dense_units": 8}, train={"epochs": 1})
    assert_user_error(result, "was saved before it was built")
    assert not (copied / "runs").exists()  # refused before a run directory exists


def test_init_from_a_run_whose_best_model_was_rewrapped(copied, builtin_base):
    import keras

    source = {"model": {"base": "builtin", "dense_units": 8}, "train": {"epochs": 1}}
    assert train(copied, "extract", **source).exit_code == 0
    [run] = list((copied / "runs").iterdir())
    for kind in ("dict", "two"):
        rewrapped = shutil.copytree(run, copied / f"run-{kind}")
        best = rewrapped / "checkpoints" / "best.keras"
        model = keras.models.load_model(best, compile=False)
        outputs = ({"probs": model.output} if kind == "dict" else
                   [model.output, keras.layers.Dense(3, name="extra")(model.output)])
        keras.Model(model.inputs, outputs).save(best)
        result = train(copied, f"fine-{kind}", "fine-tune", **source,
                       fine_tune={"init_from": str(rewrapped)})
        if kind == "dict":
            assert result.exit_code == 0, result.output
        else:
            assert_user_error(result, f"model fine_tune.init_from {rewrapped} (its best.keras) has 2 "
                              "outputs (predictions, extra); convcli reads one output of class scores: "
                              "save a model of the one you want")
