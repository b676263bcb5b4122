"""Transfer learning: bases and their weights, the extract and fine-tune stages, the feature cache."""

import csv
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import keras
import numpy as np
import pytest

from convcli.bases import BUILTIN_FILTERS
from tests.conftest import assert_user_error, invoke, tiny_config

VGG16_NOTOP = "vgg16_weights_tf_dim_ordering_tf_kernels_notop.h5"


def transfer_config(data_dir, stage="extract", base="builtin", weights=None, **sections):
    cfg = tiny_config(data_dir, stage, **sections)
    cfg["model"] = {"base": base, "dense_units": 16, **({"weights": str(weights)} if weights else {})}
    return cfg


def train(config, runs_dir, *overrides):
    """Train from a config file; return (CLI result, the newest run directory or None)."""
    result = invoke("train", config, "--runs-dir", runs_dir, *[a for o in overrides for a in ("--set", o)])
    runs = sorted(runs_dir.iterdir()) if runs_dir.exists() else []
    return result, (runs[-1] if runs else None)


def read_json(path):
    return json.loads(path.read_text())


def load_best(run):
    """best.keras is a complete model: raw [0, 255] 32x32 images in, probabilities out."""
    model = keras.models.load_model(run / "checkpoints" / "best.keras")
    images = np.random.default_rng(0).uniform(0, 255, (3, 32, 32, 3)).astype("float32")
    probabilities = model.predict(images, verbose=0)
    assert probabilities.shape == (3, 1) and np.all((probabilities >= 0) & (probabilities <= 1))
    return model


def base_of(model):
    [base] = [layer for layer in model.layers if isinstance(layer, keras.Model)]
    return base


def assert_same_weights(model, reference):
    mine, theirs = model.get_weights(), reference.get_weights()
    assert len(mine) == len(theirs)
    for a, b in zip(mine, theirs):
        np.testing.assert_array_equal(a, b)


def assert_no_run(runs_dir):
    assert not runs_dir.exists() or not any(runs_dir.iterdir())


# --- the stages, end to end ------------------------------------------------------------


def test_extract_features_saves_a_complete_model(tmp_path, write_config, tiny_data, builtin_base):
    result, run = train(write_config(transfer_config(tiny_data)), tmp_path / "runs")
    assert result.exit_code == 0, result.output
    summary = read_json(run / "summary.json")
    assert summary["feature_cache"]["status"] in ("hit", "miss")
    assert [r["phase"] for r in csv.DictReader(open(run / "metrics.csv"))] == ["train", "train"]

    model = load_best(run)
    assert base_of(model).name == "builtin_base"
    reference = keras.models.clone_model(base_of(model))
    reference.load_weights(builtin_base)
    assert_same_weights(base_of(model), reference)  # the base is the cached built-in one

    # The saved model, on raw test images, scores what the head scored on cached features.
    from convcli.config import Data
    from convcli.data import folders
    from convcli.data.pipeline import make_dataset

    files = folders.resolve(Data(**tiny_config(tiny_data)["data"]), seed=7)
    model.compile(loss="binary_crossentropy", metrics=["accuracy"])
    raw = model.evaluate(make_dataset(files.test, 2, (32, 32), 8), verbose=0, return_dict=True)
    assert raw["loss"] == pytest.approx(summary["test"]["loss"], rel=1e-4, abs=1e-5)
    assert raw["accuracy"] == pytest.approx(summary["test"]["accuracy"])


def test_extract_frozen_keeps_the_base_and_trains_the_head(tmp_path, write_config, tiny_data,
                                                         builtin_base):
    cfg = transfer_config(tiny_data, extract={"method": "frozen"}, augment={"rotation_range": 20})
    result, run = train(write_config(cfg), tmp_path / "runs")
    assert result.exit_code == 0, result.output
    summary = read_json(run / "summary.json")
    assert "feature_cache" not in summary and summary["test"]["accuracy"] is not None
    model = load_best(run)
    reference = keras.models.clone_model(base_of(model))
    reference.load_weights(builtin_base)
    assert_same_weights(base_of(model), reference)
    assert summary["trainable_params"]["train"] == sum(
        int(np.prod(w.shape)) for layer in model.layers[-4:] for w in layer.trainable_weights)


def test_fine_tune_two_phases_one_record(tmp_path, write_config, tiny_data, builtin_base):
    cfg = transfer_config(tiny_data, "fine-tune", fine_tune={"head_epochs": 2, "learning_rate": 1e-3})
    result, run = train(write_config(cfg), tmp_path / "runs")
    assert result.exit_code == 0, result.output

    rows = list(csv.DictReader(open(run / "metrics.csv")))
    assert [(r["epoch"], r["phase"]) for r in rows] == [
        ("1", "head"), ("2", "head"), ("3", "fine-tune"), ("4", "fine-tune")]
    assert [float(r["learning_rate"]) for r in rows] == pytest.approx([1e-4, 1e-4, 1e-3, 1e-3])
    summary = read_json(run / "summary.json")
    best_row = min(rows, key=lambda r: float(r["val_loss"]))  # one tracker over both phases
    assert summary["best_epoch"] == int(best_row["epoch"])
    counts = summary["trainable_params"]
    assert counts["fine-tune"] > counts["head"] > 0
    assert summary["unfreezing"] == {"frozen_base": counts["head"], "unfrozen": counts["fine-tune"]}

    # After phase 2: block4 (unfreeze_from's default, block4_conv1) moved; blocks 1-3 and
    # every BatchNormalization weight and statistic did not.
    tuned = base_of(keras.models.load_model(run / "checkpoints" / "last.keras"))
    original = keras.models.clone_model(tuned)
    original.load_weights(builtin_base)
    for layer in tuned.layers:
        before = original.get_layer(layer.name).get_weights()
        moved = any(not np.array_equal(a, b) for a, b in zip(layer.get_weights(), before))
        should_move = layer.name.startswith("block4_conv")
        assert moved == should_move, layer.name
    load_best(run)


def test_fine_tune_from_an_extract_run(tmp_path, write_config, tiny_data, builtin_base):
    _, extracted = train(write_config(transfer_config(tiny_data), "extract.yaml"), tmp_path / "runs")
    cfg = transfer_config(tiny_data, "fine-tune", fine_tune={"init_from": str(extracted)})
    result, run = train(write_config(cfg), tmp_path / "runs")
    assert result.exit_code == 0, result.output
    assert {r["phase"] for r in csv.DictReader(open(run / "metrics.csv"))} == {"fine-tune"}
    summary = read_json(run / "summary.json")
    assert set(summary["trainable_params"]) == {"fine-tune"}
    assert summary["unfreezing"]["unfrozen"] > summary["unfreezing"]["frozen_base"] > 0
    load_best(run)


# --- bases and weights -------------------------------------------------------------------


def test_vgg16_without_weights_and_from_files(tmp_path, write_config, tiny_data):
    """weights: none, a weights file and a .keras model the test writes itself."""
    from convcli.models.pretrained import build_base, transfer_model

    base = build_base("vgg16", "none", (32, 32))
    base.save_weights(tmp_path / "vgg16.weights.h5")
    transfer_model(base, "vgg16", (32, 32), 8, 0.5, 2).save(tmp_path / "vgg16-model.keras")

    for weights in ("none", tmp_path / "vgg16.weights.h5", tmp_path / "vgg16-model.keras"):
        runs = tmp_path / f"runs-{getattr(weights, 'suffix', weights)}"
        result, run = train(write_config(transfer_config(tiny_data, base="vgg16", weights=weights)), runs)
        assert result.exit_code == 0, result.output
        model = load_best(run)
        assert base_of(model).name == "vgg16"
        if weights != "none":
            assert_same_weights(base_of(model), base)


def test_summary_of_an_imagenet_config_does_not_download(tmp_path, write_config, tiny_data):
    cfg = transfer_config(tiny_data, base="VGG16")  # keras.applications' spelling works too
    result = invoke("summary", write_config(cfg))
    assert result.exit_code == 0, result.output
    assert "vgg16" in result.stdout and "untrained" in result.stdout


@pytest.mark.parametrize("weights, expected", [
    ("missing.weights.h5", "model.weights file {tmp}/missing.weights.h5 does not exist"),
    ("vgg19.weights.h5", "does not fit base vgg16: layer block4_conv1 needs (3, 3, 256, 512), "
                         "the file has (3, 3, 256, 256)"),
    ("resnet.keras", "does not fit base vgg16: it has no layer block1_conv1"),
])
def test_weights_that_do_not_fit_are_refused_before_a_run(tmp_path, write_config, tiny_data,
                                                          weights, expected):
    keras.applications.VGG19(include_top=False, weights=None, input_shape=(32, 32, 3)).save_weights(
        tmp_path / "vgg19.weights.h5")
    keras.applications.ResNet50(include_top=False, weights=None, input_shape=(32, 32, 3)).save(
        tmp_path / "resnet.keras")
    cfg = transfer_config(tiny_data, base="vgg16", weights=tmp_path / weights)
    result, _ = train(write_config(cfg), tmp_path / "runs")
    assert_user_error(result, expected.format(tmp=tmp_path))
    assert_no_run(tmp_path / "runs")


@pytest.mark.parametrize("corrupt_file", [False, True])
def test_imagenet_weights_offline_fail_fast_with_one_line(tmp_path, write_config, tiny_data, corrupt_file):
    """No network (a proxy nobody listens on) and, second, a damaged file in Keras' cache."""
    keras_home = tmp_path / "keras"
    if corrupt_file:
        (keras_home / "models").mkdir(parents=True)
        (keras_home / "models" / VGG16_NOTOP).write_bytes(b"not the weights")
    config = write_config(transfer_config(tiny_data, base="vgg16", weights="imagenet"))
    env = {**os.environ, "KERAS_HOME": str(keras_home), "https_proxy": "http://127.0.0.1:9",
           "HTTPS_PROXY": "http://127.0.0.1:9", "no_proxy": "", "NO_PROXY": ""}
    began = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "convcli", "train", str(config), "--runs-dir",
                           str(tmp_path / "runs")], env=env, capture_output=True, text=True, timeout=120)
    assert time.perf_counter() - began < 60  # TensorFlow's import included
    assert done.returncode == 1, done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in done.stderr, done.stderr
    assert lines[0].startswith("error: cannot get the ImageNet weights of vgg16")
    assert f"Keras wanted {VGG16_NOTOP} from https://" in lines[0]
    assert f"put it in {keras_home / 'models'}/" in lines[0]
    assert_no_run(tmp_path / "runs")


@pytest.mark.parametrize("model, expected", [
    ({"base": "builtin", "weights": "imagenet"}, "the builtin base has no ImageNet weights"),
    ({"base": "vgg16", "weights": "builtin"}, "weights: builtin exist only for base: builtin"),
    ({"base": "xception"}, "base xception needs images of at least 71x71 pixels"),
    ({"base": "densenet121"}, "base densenet121 has no default layer to unfreeze from"),
])
def test_base_config_errors(tmp_path, write_config, tiny_data, model, expected):
    cfg = transfer_config(tiny_data, "fine-tune")
    cfg["model"].update(model)
    result, _ = train(write_config(cfg), tmp_path / "runs")
    assert_user_error(result, expected)
    assert_no_run(tmp_path / "runs")


# --- fine-tuning's rules -----------------------------------------------------------------


@pytest.mark.parametrize("fine_tune, expected", [
    ({"unfreeze_from": "block9_conv1"}, "fine_tune.unfreeze_from names no layer of base builtin_base; "
                                        "layers with weights: block1_conv1, block1_bn1"),
    ({"unfreeze_last": 500}, "fine_tune.unfreeze_last is 500 but base builtin_base has "
                             f"{1 + 7 * len(BUILTIN_FILTERS)} layers"),  # input, 2 x 3 + pool per block
    ({"init_from": "no/such/run"}, "fine_tune.init_from no/such/run is not a run directory"),
])
def test_fine_tune_rules_are_checked_before_a_run(tmp_path, write_config, tiny_data, builtin_base,
                                                  fine_tune, expected):
    cfg = transfer_config(tiny_data, "fine-tune", fine_tune=fine_tune)
    result, _ = train(write_config(cfg), tmp_path / "runs")
    assert_user_error(result, expected)
    assert_no_run(tmp_path / "runs")


def test_init_from_an_unfinished_run_is_refused(tmp_path, write_config, tiny_data, builtin_base):
    earlier = tmp_path / "runs" / "2026-01-01_00-00-00_extract"
    earlier.mkdir(parents=True)
    (earlier / "meta.json").write_text(json.dumps({"status": "failed"}))
    cfg = transfer_config(tiny_data, "fine-tune", fine_tune={"init_from": str(earlier)})
    result, _ = train(write_config(cfg), tmp_path / "runs")
    assert_user_error(result, "is not a finished run (status: failed, no best checkpoint)")
    assert sorted(p.name for p in (tmp_path / "runs").iterdir()) == [earlier.name]


def test_unfreezing_nothing_fails_the_run_with_a_reason(tmp_path, write_config, tiny_data, builtin_base):
    cfg = transfer_config(tiny_data, "fine-tune", fine_tune={"unfreeze_from": "block4_pool",
                                                             "head_epochs": 1})
    result, run = train(write_config(cfg), tmp_path / "runs")
    assert result.exit_code == 1 and "Traceback" not in result.output
    assert result.stderr.strip().splitlines()[-1].startswith(  # after phase 1's epoch lines
        "error: unfreezing the base (unfreeze_from: block4_pool) made no more parameters trainable")
    meta = read_json(run / "meta.json")
    assert meta["status"] == "failed" and "made no more parameters trainable" in meta["reason"]


# --- the feature cache -------------------------------------------------------------------


def test_feature_cache_miss_hit_and_invalidation(tmp_path, write_config, tiny_data, builtin_base):
    data = tmp_path / "shapes"
    shutil.copytree(tiny_data, data)
    config = write_config(transfer_config(data))

    def cache_record():
        result, run = train(config, tmp_path / "runs")
        assert result.exit_code == 0, result.output
        return read_json(run / "summary.json")["feature_cache"]

    first = cache_record()
    assert first["status"] == "miss" and first["images_through_base"] == 72
    second = cache_record()
    assert second["status"] == "hit" and second["images_through_base"] == 0
    assert second["key"] == first["key"]

    touched = next((data / "validation" / "star4").iterdir())
    os.utime(touched, (time.time() + 10, time.time() + 10))
    third = cache_record()
    assert third["status"] == "miss" and third["key"] != first["key"]

    cached = sorted(Path(third["path"]).glob("*.npy"))
    assert [p.name for p in cached] == ["test.npy", "train.npy", "validation.npy"]
    cached[0].write_bytes(b"garbage")
    fourth = cache_record()
    assert fourth["status"] == "miss" and fourth["key"] == third["key"]
    assert cache_record()["status"] == "hit"


# --- the built-in base ---------------------------------------------------------------------


@pytest.mark.slow
def test_builtin_base_is_pretrained_once_and_rebuilt_when_corrupt(monkeypatch):
    from rich.console import Console

    from convcli.models.pretrained import build_builtin_base, load_weights_file
    from convcli import pretraining

    monkeypatch.setattr(pretraining, "PRETRAINING", pretraining.Pretraining(epochs=1))
    path = pretraining.weights_path()
    assert not path.exists()  # not the session's untrained stand-in: another recipe, another file

    def build() -> str:
        console = Console(record=True, width=200)
        assert pretraining.builtin_weights(console) == path
        return console.export_text()

    assert "pretraining the built-in base" in build()
    record = read_json(path.with_name(path.name.replace(".weights.h5", ".json")))
    assert 0 <= record["val_accuracy"] <= 1 and len(record["source_classes"]) == 10
    load_weights_file(build_builtin_base(), path, "builtin")

    assert "pretraining" not in build()  # cached
    path.write_bytes(b"half a file")
    assert "does not load" in build()
    load_weights_file(build_builtin_base(), path, "builtin")


def test_the_shipped_base_is_this_recipes_and_a_first_run_uses_it(tmp_path, monkeypatch):
    from rich.console import Console

    from convcli import pretraining

    monkeypatch.setenv("CONVCLI_CACHE", str(tmp_path / "empty"))  # a fresh machine
    shipped = pretraining.shipped_weights()
    assert shipped is not None, (
        f"convcli/assets/ has no {pretraining.weights_path().name}: the recipe, the base's "
        "layers or the source data changed; run `convcli pretrain --force` and copy the "
        "weights file and its .json from the cache into convcli/assets/")
    console = Console(record=True, width=200)
    assert pretraining.builtin_weights(console) == shipped
    assert "pretraining" not in console.export_text()
    assert not (tmp_path / "empty" / "bases").exists()  # nothing trained, nothing copied


@pytest.mark.slow
def test_pretraining_from_scratch_matches_the_shipped_base(tmp_path, monkeypatch):
    """The shipped weights are what the recipe makes: pretrained again here, the base's
    source-task accuracy is within a point of the shipped record's."""
    from rich.console import Console

    from convcli import pretraining

    monkeypatch.setenv("CONVCLI_CACHE", str(tmp_path / "cache"))
    shipped = read_json(pretraining.shipped_weights().with_suffix("").with_suffix(".json"))
    record = pretraining.pretrain(pretraining.weights_path(), Console(record=True))
    assert record["recipe"] == shipped["recipe"]
    assert abs(record["val_accuracy"] - shipped["val_accuracy"]) <= 0.01, (record, shipped)
