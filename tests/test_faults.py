"""Faults in a real process: kill -9 at several moments (mid-checkpoint-write included)
and Ctrl-C (SIGINT), each followed by --resume.

After every kill the run directory must be consistent: the last checkpoint loads and
carries its epoch, meta.json still says `running`, metrics.csv has at least the rows up
to that epoch. After the resume every epoch is in metrics.csv exactly once.
The pause hook (CONVCLI_TEST_PAUSE, files.atomic_path) stops the n-th write of a file
after its temp file is complete and before the rename: the worst moment to die.
"""

import csv
import json
import os
import shutil
import signal
import subprocess
import sys
import time

import keras
import pytest
from typer.testing import CliRunner

from convcli import training
from convcli.cli import app
from convcli.runs import Run
from tests.conftest import tiny_config

pytestmark = pytest.mark.slow  # each trial starts a process that imports TensorFlow


def start(config, runs_dir, pause=None):
    env = os.environ | {"TF_CPP_MIN_LOG_LEVEL": "2"}
    if pause:
        env["CONVCLI_TEST_PAUSE"] = pause
    return subprocess.Popen([sys.executable, "-m", "convcli", "train", str(config), "--runs-dir",
                             str(runs_dir)], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)


def wait_for(condition, process, timeout=120):
    deadline = time.monotonic() + timeout
    while not condition():
        assert process.poll() is None, process.communicate()
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.02)


def the_run(runs_dir):
    runs = list(runs_dir.iterdir()) if runs_dir.exists() else []
    return runs[0] if len(runs) == 1 else None


def epochs_on_record(run):
    with open(run / "metrics.csv", newline="") as handle:
        return [int(row["epoch"]) for row in csv.DictReader(handle)]


def checkpoint_epoch(run):
    return training.checkpoint_epoch(Run(run))


def assert_consistent_after_kill(run):
    assert json.loads((run / "meta.json").read_text())["status"] == "running"
    epoch = 0
    if (run / "checkpoints" / "last.keras").exists():
        keras.models.load_model(run / "checkpoints" / "last.keras")  # loadable
        epoch = checkpoint_epoch(run)
    assert epochs_on_record(run)[:epoch] == list(range(1, epoch + 1))
    return epoch


def resume(config, runs_dir, run):
    result = CliRunner().invoke(app, ["train", str(config), "--runs-dir", str(runs_dir),
                                      "--resume", run.name])
    assert result.exit_code == 0, result.output
    meta = json.loads((run / "meta.json").read_text())
    assert meta["status"] == "completed" and meta["resumed"][-1]["previous_status"] == "running"
    assert not [p.name for p in (run / "checkpoints").iterdir() if p.name.startswith(".")]
    return meta


@pytest.mark.parametrize("pause, killed_after", [
    ("last.keras#2", 1),   # epoch 2's metrics row is written, its last checkpoint is not
    ("best.keras#2", 1),   # mid-write of a new best, at epoch 2 (see the learning rate)
])
def test_kill_9_mid_checkpoint_write_then_resume(tmp_path, write_config, tiny_data, pause, killed_after):
    # At 1e-2 the first epoch overshoots (val_loss 5.0 on tiny_data), so epoch 2 (0.70)
    # writes a second best.keras; at 1e-3 this model does not learn tiny_data in 4 epochs.
    config = write_config(tiny_config(tiny_data, train={"epochs": 4, "learning_rate": 1e-2}))
    runs_dir = tmp_path / "runs"
    process = start(config, runs_dir, pause)
    name = pause.split("#")[0]
    wait_for(lambda: the_run(runs_dir) and (the_run(runs_dir) / "checkpoints" / f".{name}.paused").exists(),
             process)
    process.kill()
    process.wait()
    run = the_run(runs_dir)
    assert [p for p in (run / "checkpoints").iterdir() if p.name.startswith(f".{name.split('.')[0]}.")]
    assert assert_consistent_after_kill(run) == killed_after
    keras.models.load_model(run / "checkpoints" / "best.keras")  # the previous best: intact
    meta = resume(config, runs_dir, run)
    assert meta["resumed"][-1]["from_epoch"] == killed_after
    assert epochs_on_record(run) == [1, 2, 3, 4]


@pytest.mark.parametrize("delay", [0.0, 0.15, 0.4])
def test_kill_9_at_an_arbitrary_moment_then_resume(tmp_path, write_config, tiny_data, delay):
    config = write_config(tiny_config(tiny_data, train={"epochs": 8}))
    runs_dir = tmp_path / "runs"
    process = start(config, runs_dir)
    wait_for(lambda: the_run(runs_dir) and (the_run(runs_dir) / "metrics.csv").exists()
             and len(epochs_on_record(the_run(runs_dir))) >= 2, process)
    time.sleep(delay)
    process.send_signal(signal.SIGKILL)
    process.wait()
    run = the_run(runs_dir)
    epoch = assert_consistent_after_kill(run)
    if process.returncode != -signal.SIGKILL:  # it finished before the kill landed
        pytest.skip(f"the run finished first (exit {process.returncode})")
    resume(config, runs_dir, run)
    assert epochs_on_record(run) == list(range(1, 9)) and epoch >= 1


def test_kill_9_in_the_fine_tune_phase_then_resume(tmp_path, write_config, tiny_data, builtin_base):
    cfg = tiny_config(tiny_data, "fine-tune", fine_tune={"head_epochs": 2}, train={"epochs": 2})
    config = write_config(cfg | {"model": {"dense_units": 8}})
    runs_dir = tmp_path / "runs"
    process = start(config, runs_dir, pause="last.keras#4")  # the last fine-tune epoch
    wait_for(lambda: the_run(runs_dir) and (the_run(runs_dir) / "checkpoints" / ".last.keras.paused").exists(),
             process)
    process.kill()
    process.wait()
    run = the_run(runs_dir)
    assert assert_consistent_after_kill(run) == 3
    resume(config, runs_dir, run)
    with open(run / "metrics.csv", newline="") as handle:
        phases = [row["phase"] for row in csv.DictReader(handle)]
    assert phases == ["head", "head", "fine-tune", "fine-tune"]


def stop_with(sig, tmp_path, write_config, tiny_data):
    """A run stopped by `sig` once two epochs are on record, checked for what both signals
    promise (whole epochs kept, no temp checkpoint, no traceback, the resume line); returns
    the exit code, the run, stderr's last line, meta.json and the checkpoint's epoch."""
    config = write_config(tiny_config(tiny_data, train={"epochs": 200}))
    runs_dir = tmp_path / "runs"
    process = start(config, runs_dir)
    wait_for(lambda: the_run(runs_dir) and (the_run(runs_dir) / "metrics.csv").exists()
             and len(epochs_on_record(the_run(runs_dir))) >= 2, process)
    process.send_signal(sig)
    _, stderr = process.communicate(timeout=60)
    run = the_run(runs_dir)
    last = stderr.strip().splitlines()[-1]
    assert f"--resume {run.name}" in last and "Traceback" not in stderr, stderr
    epoch = checkpoint_epoch(run)
    assert f"up to epoch {epoch};" in last and epochs_on_record(run) == list(range(1, epoch + 1))
    assert not [p.name for p in (run / "checkpoints").iterdir() if p.name.startswith(".")]
    return process.returncode, run, last, json.loads((run / "meta.json").read_text()), epoch


def test_sigint_marks_the_run_interrupted_and_says_how_to_resume(tmp_path, write_config, tiny_data):
    code, run, last, meta, _ = stop_with(signal.SIGINT, tmp_path, write_config, tiny_data)
    assert code == 130 and last.startswith("interrupted: run ")
    assert meta["status"] == "interrupted"


def test_sigterm_is_handled_like_ctrl_c_and_exits_143(tmp_path, write_config, tiny_data):
    """Slurm preemption, Kubernetes and `docker stop` send SIGTERM: the run is marked
    interrupted (by SIGTERM), keeps whole epochs, says how to resume, and resumes."""
    code, run, last, meta, epoch = stop_with(signal.SIGTERM, tmp_path, write_config, tiny_data)
    assert code == 143 and last.startswith("interrupted by SIGTERM: run ")
    assert meta["status"] == "interrupted" and meta["signal"] == "SIGTERM"
    assert meta["reason"] == f"interrupted by SIGTERM after epoch {epoch}"
    # the printed command continues the run (here with fewer epochs, so it ends soon)
    command = last.split("resume it with: ", 1)[1].split()
    assert command[:2] == ["convcli", "train"] and command[-2:] == ["--resume", run.name]
    result = CliRunner().invoke(app, [*command[1:], "--set", f"train.epochs={epoch + 1}", "--force"])
    assert result.exit_code == 0, result.output
    assert epochs_on_record(run) == list(range(1, epoch + 2))


def test_sigterm_during_an_export_leaves_nothing_and_exits_143(tmp_path, trained_run):
    """Every command, not only train, stops on SIGTERM as on Ctrl-C: its staged folder is
    removed (Python's default would end the process with it left beside RUN/export/)."""
    run = shutil.copytree(trained_run, tmp_path / "runs" / trained_run.name)
    process = subprocess.Popen([sys.executable, "-m", "convcli", "export", str(run), "--format", "onnx"],
                               env=os.environ | {"TF_CPP_MIN_LOG_LEVEL": "2"}, stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True)
    wait_for(lambda: (run / "export").is_dir() and any((run / "export").glob(".onnx.*")), process)
    process.send_signal(signal.SIGTERM)
    _, stderr = process.communicate(timeout=60)
    assert process.returncode == 143 and "Traceback" not in stderr, stderr
    assert stderr.strip().splitlines()[-1] == "interrupted by SIGTERM"
    assert not (run / "export").exists()
