"""distribute and the precision options: mirrored matches one device, multi_worker is refused."""

import json
import subprocess
import sys

import keras
import numpy as np

from conftest import assert_user_error, invoke, tiny_config

# TensorFlow's logical devices must be set before it initialises, so the mirrored run
# gets a process of its own, with the CPU split in two.
PARITY = """
import json, sys
import tensorflow as tf
cpu = tf.config.list_physical_devices("CPU")[0]
tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
from convcli.config import load_config
from convcli.experiment import run_experiment
runs = {}
for distribute in ("none", "mirrored"):
    run, summary = run_experiment(load_config(sys.argv[1], [f"distribute={distribute}"]), sys.argv[2])
    runs[distribute] = {"path": str(run.path), "devices": json.loads(run.meta.read_text())["devices"],
                        "best": summary.best.as_dict()}
print(json.dumps(runs))
"""


def test_mirrored_over_two_devices_matches_one_device(tmp_path, write_config, tiny_data):
    # One batch per epoch: under a strategy Keras draws one extra pass of the training set
    # to build the model (keras/src/backend/tensorflow/trainer.py, _maybe_symbolic_build),
    # which moves the
    # shuffle one epoch ahead; within one batch the order cannot change the gradient.
    cfg = tiny_config(tiny_data, data={"batch_size": 24}, train={"epochs": 4, "optimizer": "sgd",
                                                                 "learning_rate": 0.01})
    result = subprocess.run([sys.executable, "-c", PARITY, str(write_config(cfg)), str(tmp_path / "runs")],
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
    runs = json.loads(result.stdout.splitlines()[-1])
    assert len(runs["none"]["devices"]) == 1
    assert [d.rsplit("/", 1)[-1] for d in runs["mirrored"]["devices"]] == ["device:CPU:0", "device:CPU:1"]
    single, mirrored = (keras.models.load_model(f"{runs[d]['path']}/checkpoints/last.keras").get_weights()
                        for d in ("none", "mirrored"))
    for a, b in zip(single, mirrored):
        np.testing.assert_allclose(a, b, atol=1e-5)
    for key in ("loss", "val_loss"):
        assert abs(runs["none"]["best"][key] - runs["mirrored"]["best"][key]) < 1e-5


def test_multi_worker_is_refused_in_one_line(tmp_path, write_config, tiny_data):
    result = invoke("train", write_config(tiny_config(tiny_data, distribute="multi_worker")),
                    "--runs-dir", tmp_path / "runs")
    assert_user_error(result, "distribute: multi_worker is refused: Keras 3.15's fit fails")
    assert "use mirrored for the GPUs of one machine" in result.stderr
    assert not (tmp_path / "runs").exists()


def test_mixed_precision_computes_in_bfloat16_with_a_float32_output(tmp_path, write_config, tiny_data):
    cfg = tiny_config(tiny_data, train={"mixed_precision": "mixed_bfloat16", "steps_per_execution": 2,
                                        "jit_compile": False})
    result = invoke("train", write_config(cfg), "--runs-dir", tmp_path / "runs")
    assert result.exit_code == 0, result.output
    run = next((tmp_path / "runs").iterdir())
    model = keras.models.load_model(run / "checkpoints" / "best.keras")
    conv = model.get_layer("conv1")
    assert (conv.compute_dtype, conv.variable_dtype) == ("bfloat16", "float32")
    assert model.get_layer("predictions").compute_dtype == "float32"
    assert model.output.dtype == "float32"
    # the policy was the run's only: the process default is float32 again
    assert keras.config.dtype_policy().name == "float32"
    rows = (run / "metrics.csv").read_text().splitlines()
    assert len(rows) == 3
