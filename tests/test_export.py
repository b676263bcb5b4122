"""convcli export: each format and quantization, loaded in its own runtime, checked against
best.keras; the check failing on purpose; predict --model with the exported files."""

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import yaml

from tests.conftest import invoke, tiny_config

IMAGE = ("test", "star4")  # the images predict is tried on


def export(run, tmp, name, *args):
    """`convcli export RUN --out tmp/name ARGS`: (CLI result, the folder, its export.json or None)."""
    folder = tmp / name
    result = invoke("export", run, "--out", folder, *args)
    record = json.loads((folder / "export.json").read_text()) if (folder / "export.json").is_file() else None
    return result, folder, record


@pytest.fixture(scope="module")
def transfer_run(tmp_path_factory, tiny_data, builtin_base):
    """A run whose best.keras nests the built-in base as one layer (extract features, 2 epochs)."""
    root = tmp_path_factory.mktemp("transfer")
    cfg = tiny_config(tiny_data, "extract", train={"epochs": 2, "learning_rate": 1e-3})
    cfg["model"] = {"base": "builtin", "dense_units": 16}
    (root / "extract.yaml").write_text(yaml.safe_dump(cfg))
    result = invoke("train", root / "extract.yaml", "--runs-dir", root / "runs")
    assert result.exit_code == 0, result.output
    [run] = (root / "runs").iterdir()
    return run


@pytest.fixture(scope="module")
def exports(tmp_path_factory, trained_run, transfer_run):
    """Every format and quantization, once: {(run, format, quantize): (result, folder, record)}.

    Quantized exports are kept with --force, so each one's numbers can be read whatever
    its verdict on models this small.
    """
    tmp = tmp_path_factory.mktemp("exports")
    runs = {"scratch": trained_run, "transfer": transfer_run}
    wanted = [("scratch", "onnx", "none"), ("scratch", "litert", "none"),
              ("transfer", "saved_model", "none"), ("transfer", "onnx", "none"),
              ("transfer", "litert", "float16"), ("transfer", "litert", "dynamic-int8"),
              ("transfer", "litert", "int8")]
    found = {}
    for run, format, quantize in wanted:
        found[run, format, quantize] = export(runs[run], tmp, f"{run}-{format}-{quantize}", "--format",
                                              format, "--quantize", quantize, "--force")
    return found


def keras_probabilities(run, images):
    import keras

    from convcli.evaluation import class_probabilities

    model = keras.models.load_model(run / "checkpoints" / "best.keras", compile=False)
    return class_probabilities(model(images, training=False))


def test_saved_model_by_default_into_the_run(trained_run, tmp_path):
    run = tmp_path / trained_run.name
    shutil.copytree(trained_run, run)
    result = invoke("export", run)
    assert result.exit_code == 0, result.output
    folder = run / "export" / "saved_model"
    assert (folder / "saved_model.pb").is_file() and f"wrote {folder}" in result.stdout
    assert not [p for p in (run / "export").iterdir() if p.name.startswith(".")]  # no temp left
    record = json.loads((folder / "export.json").read_text())
    meta = json.loads((run / "meta.json").read_text())
    assert record["format"] == "saved_model" and record["quantize"] == "none"
    assert record["input_shape"] == [None, 32, 32, 3] and record["input_dtype"] == "float32"
    assert record["output_shape"] == [None, 2] and record["class_names"] == meta["class_names"]
    assert record["source_run"] == run.name and record["versions"]["keras"].startswith("3.")
    check = record["check"]
    assert check["split"] == "test" and check["images"] == 24 and check["passed"]
    assert check["top1_agreement"] == 1 and check["max_abs_difference"] <= 1e-4
    assert check["accuracy_export"] == check["accuracy_keras"]
    assert check["size_bytes"] > 0 and check["latency_ms"] > 0 and check["latency_ms_keras"] > 0
    # The table a user reads: both rows, at 80 columns.
    assert "best.keras" in result.stdout and "saved_model" in result.stdout
    table = result.stdout.splitlines()[:-1]  # the last line is the path written
    assert max(map(len, table)) <= 80
    assert result.stderr == ""
    # Served by TensorFlow alone: named input and output, raw pixels in, probabilities out.
    import tensorflow as tf

    serve = tf.saved_model.load(str(folder)).signatures["serving_default"]
    images = np.random.default_rng(1).uniform(0, 255, (5, 32, 32, 3)).astype("float32")
    served = serve(images=tf.constant(images))["probabilities"].numpy()
    np.testing.assert_allclose(served, keras_probabilities(run, images), atol=1e-5)
    np.testing.assert_allclose(served.sum(axis=1), 1, atol=1e-6)
    # A second export to the same place is refused: the first is kept as it was.
    again = invoke("export", run)
    assert again.exit_code == 1 and "already exists and is not empty" in again.stderr


def test_export_is_checked_on_the_test_folder_when_the_training_images_are_gone(trained_run, tmp_path):
    """And a refused export leaves no folder behind, not even RUN/export/."""
    run = tmp_path / trained_run.name
    shutil.copytree(trained_run, run)
    cfg = yaml.safe_load((run / "config.yaml").read_text())
    cfg["data"]["train_dir"] = str(tmp_path / "gone")
    (run / "config.yaml").write_text(yaml.safe_dump(cfg))
    refused = invoke("export", run, "--format", "litert", "--quantize", "int8")
    assert refused.exit_code == 1 and "pass --quantize dynamic-int8" in refused.stderr
    assert not (run / "export").exists()
    result = invoke("export", run, "--format", "litert", "--quantize", "dynamic-int8", "--force")
    assert result.exit_code == 0, result.output
    record = json.loads((run / "export" / "litert-dynamic-int8" / "export.json").read_text())
    assert record["check"]["split"] == "test" and record["check"]["images"] == 24


@pytest.mark.parametrize("key", [("scratch", "onnx", "none"), ("scratch", "litert", "none"),
                                 ("transfer", "saved_model", "none"), ("transfer", "onnx", "none")])
def test_float_exports_agree_on_every_image(exports, key):
    result, folder, record = exports[key]
    assert result.exit_code == 0, result.output
    assert result.stderr == ""  # converters' noise stays out (tf2onnx's FutureWarning too)
    check = record["check"]
    assert check["passed"] and check["top1_agreement"] == 1 and check["max_abs_difference"] <= 1e-4
    assert record["source_dtype_policy"] is None  # a float32 run
    assert check["runtime"].split()[0] == {"saved_model": "tf.saved_model", "onnx": "onnxruntime",
                                           "litert": "ai-edge-litert"}[key[1]]
    assert (folder / record["model"]).exists()


def test_onnx_is_served_by_onnxruntime_with_named_input_and_output(exports, transfer_run):
    import onnxruntime

    _, folder, _ = exports["transfer", "onnx", "none"]
    session = onnxruntime.InferenceSession(str(folder / "model.onnx"), providers=["CPUExecutionProvider"])
    [inputs], [outputs] = session.get_inputs(), session.get_outputs()
    assert (inputs.name, inputs.shape[1:], outputs.name) == ("images", [32, 32, 3], "probabilities")
    images = np.random.default_rng(2).uniform(0, 255, (4, 32, 32, 3)).astype("float32")
    np.testing.assert_allclose(session.run(["probabilities"], {"images": images})[0],
                               keras_probabilities(transfer_run, images), atol=1e-5)


def tensor_types(path):
    """The dtypes of a .tflite file's tensors, and of its input and output."""
    from ai_edge_litert.interpreter import Interpreter

    interpreter = Interpreter(model_path=str(path))
    types = {np.dtype(t["dtype"]).name for t in interpreter.get_tensor_details()}
    ends = {np.dtype(t["dtype"]).name for t in
            interpreter.get_input_details() + interpreter.get_output_details()}
    return types, ends


def test_litert_quantizations(exports):
    sizes = {}
    for quantize in ("float16", "dynamic-int8", "int8"):
        result, folder, record = exports["transfer", "litert", quantize]
        assert result.exit_code == 0, result.output
        check = record["check"]
        # The verdict follows the numbers; a failed one is said, and kept only by --force.
        meets = (check["top1_agreement"] >= 0.99 and abs(check["accuracy_export"] - check["accuracy_keras"])
                 <= 0.01 + 1e-9) if quantize != "float16" else (
                     check["top1_agreement"] == 1 and check["max_abs_difference"] <= 1e-2)
        assert check["passed"] == meets and check["failures"] == ([] if meets else check["failures"])
        assert ("warning: kept with --force" in result.stderr) == (not meets), result.stderr
        assert record["quantize"] == quantize and record["input_dtype"] == "float32"
        types, ends = tensor_types(folder / "model.tflite")
        assert ends == {"float32"}  # raw pixels in, probabilities out, as best.keras
        sizes[quantize] = check["size_bytes"]
        if quantize == "float16":
            assert "float16" in types
        elif quantize == "dynamic-int8":
            assert "int8" in types and "float32" in types  # int8 weights, float activations
        else:
            assert "int8" in types and check["max_abs_difference"] < 0.2
    assert sizes["int8"] < sizes["float16"] and sizes["dynamic-int8"] < sizes["float16"]
    assert sizes["float16"] < exports["transfer", "onnx", "none"][2]["check"]["size_bytes"]


def test_check_fails_for_a_model_made_to_disagree(trained_run, tmp_path, monkeypatch):
    """An export whose classes come out swapped: refused with the numbers, nothing kept."""
    import keras

    from convcli.exporting import converters

    made = converters.serving_model

    def swapped(model):
        serving = made(model)
        probabilities = serving.outputs[0]
        flipped = keras.layers.Lambda(lambda p: keras.ops.flip(p, axis=-1))(probabilities)
        return keras.Model(serving.inputs, {"probabilities": flipped})

    monkeypatch.setattr(converters, "serving_model", swapped)
    result, folder, _ = export(trained_run, tmp_path, "swapped", "--format", "onnx")
    assert result.exit_code == 1
    [line] = result.stderr.strip().splitlines()
    assert line.startswith("error: the onnx export (none) does not match best.keras on the test split: "
                           "top-1 agreement 0.00% < 100%; max |dp|"), line
    assert "nothing was written; --force keeps it anyway" in line
    assert "0.00%" in result.stdout  # the table with the numbers is printed too
    assert not folder.exists() and os.listdir(tmp_path) == []

    result, folder, record = export(trained_run, tmp_path, "swapped", "--format", "onnx", "--force")
    assert result.exit_code == 0 and "warning: kept with --force: top-1 agreement 0.00%" in result.stderr
    assert record["check"]["passed"] is False and record["check"]["top1_agreement"] == 0


@pytest.mark.parametrize("key,target", [(("transfer", "saved_model", "none"), "."),
                                        (("scratch", "onnx", "none"), "model.onnx"),
                                        (("scratch", "litert", "none"), "model.tflite"),
                                        (("transfer", "litert", "int8"), ".")])
def test_predict_with_an_exported_model(exports, tiny_data, key, target, trained_run, transfer_run):
    _, folder, record = exports[key]
    images = tiny_data.joinpath(*IMAGE)
    result = invoke("predict", images, "--model", folder / target, "--json")
    assert result.exit_code == 0, result.output
    served = json.loads(result.stdout)
    run = trained_run if key[0] == "scratch" else transfer_run
    reference = json.loads(invoke("predict", images, "--run", run, "--json").stdout)
    assert [item["image"] for item in served] == [item["image"] for item in reference]
    tolerance = 1e-4 if key[2] == "none" else 0.2
    for mine, theirs in zip(served, reference):
        assert {p["class"] for p in mine["probabilities"]} == set(record["class_names"])
        mine, theirs = ({p["class"]: p["probability"] for p in item["probabilities"]} for item in (mine, theirs))
        assert all(abs(mine[name] - theirs[name]) <= tolerance for name in mine)


def test_a_grayscale_transfer_run_exports_and_predicts_on_one_channel(tiny_data, builtin_base, tmp_path):
    """color_mode grayscale: the check, int8's calibration and predict all feed the model the
    one gray channel it takes (the base's three are made inside it)."""
    cfg = tiny_config(tiny_data, "extract", data={"color_mode": "grayscale"},
                      train={"epochs": 1, "learning_rate": 1e-3})
    cfg["model"] = {"base": "builtin", "dense_units": 16}
    (tmp_path / "gray.yaml").write_text(yaml.safe_dump(cfg))
    trained = invoke("train", tmp_path / "gray.yaml", "--runs-dir", tmp_path / "runs")
    assert trained.exit_code == 0, trained.output
    [run] = (tmp_path / "runs").iterdir()
    for format, quantize in (("onnx", "none"), ("litert", "int8")):
        result, folder, record = export(run, tmp_path, f"gray-{format}", "--format", format,
                                        "--quantize", quantize, "--force")
        assert result.exit_code == 0, result.output
        assert record["input_shape"] == [None, 32, 32, 1] and record["check"]["images"] == 24
    assert json.loads((tmp_path / "gray-onnx" / "export.json").read_text())["check"]["passed"]
    images = tiny_data.joinpath(*IMAGE)
    served = json.loads(invoke("predict", images, "--model", tmp_path / "gray-onnx" / "model.onnx",
                               "--json").stdout)
    reference = json.loads(invoke("predict", images, "--run", run, "--json").stdout)
    assert len(served) == len(reference) > 0
    for mine, theirs in zip(served, reference):
        mine, theirs = ({p["class"]: p["probability"] for p in item["probabilities"]} for item in (mine, theirs))
        assert all(abs(mine[name] - theirs[name]) <= 1e-4 for name in mine)


def test_a_mixed_precision_run_is_exported_in_float32(tiny_data, tmp_path):
    """best.keras of a mixed_bfloat16 run computes in bfloat16, which the ONNX and LiteRT
    converters refuse: the export and the check use its weights in float32."""
    cfg = tiny_config(tiny_data, train={"epochs": 2, "learning_rate": 1e-3, "mixed_precision": "mixed_bfloat16"})
    (tmp_path / "mixed.yaml").write_text(yaml.safe_dump(cfg))
    trained = invoke("train", tmp_path / "mixed.yaml", "--runs-dir", tmp_path / "runs")
    assert trained.exit_code == 0, trained.output
    [run] = (tmp_path / "runs").iterdir()
    for format, quantize in (("onnx", "none"), ("litert", "none"), ("litert", "int8")):
        result, _, record = export(run, tmp_path, f"mixed-{format}-{quantize}", "--format", format,
                                   "--quantize", quantize, "--force")
        assert result.exit_code == 0, result.output
        assert record["source_dtype_policy"] == "mixed_bfloat16"
        assert "best.keras computed in float32 (it trained in mixed_bfloat16)" in " ".join(result.stdout.split())
        if quantize == "none":
            assert record["check"]["passed"] and record["check"]["max_abs_difference"] <= 1e-4


def test_no_converter_noise_reaches_the_terminal(trained_run, tmp_path):
    """LiteRT and TensorFlow's C++ code writes to file descriptor 2 itself: a real process."""
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).parents[1])}
    done = subprocess.run([sys.executable, "-m", "convcli", "export", str(trained_run), "--format", "litert",
                           "--out", str(tmp_path / "litert")], capture_output=True, text=True, env=env)
    assert done.returncode == 0, done.stderr
    assert done.stderr == ""
    assert done.stdout.splitlines()[-1] == f"wrote {tmp_path / 'litert'}"
    assert not any(word in done.stdout for word in ("INFO", "WARNING", "XNNPACK", "Warning"))


@pytest.mark.parametrize("numbers,failures", [
    (("none", 1.0, 1e-4, 0.9, 0.9), []),
    (("none", 1.0, 2e-4, 0.9, 0.9), ["max |dp| 0.0002 > 0.0001"]),
    (("none", 0.99, 1e-5, 0.9, 0.9), ["top-1 agreement 99.00% < 100%"]),
    (("int8", 0.99, 0.3, 0.90, 0.89), []),
    (("int8", 0.985, 0.3, 0.90, 0.90), ["top-1 agreement 98.50% < 99%"]),
    (("dynamic-int8", 1.0, 0.1, 0.90, 0.88), ["accuracy 88.00% vs 90.00% (-2.00 points)"]),
])
def test_verdict_thresholds(numbers, failures):
    from convcli.exporting.agreement import verdict

    assert verdict(*numbers)[1] == failures
