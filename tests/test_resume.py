"""Ctrl-C and --resume, in process: the run continues where it stopped, nothing repeated.

Interruptions are injected with a callback that raises KeyboardInterrupt at the start of
a chosen epoch, after the previous epoch's checkpoints are on disk, as Ctrl-C would.
kill -9 in a real process is tested in test_faults.py.
"""

import csv
import json
import os
import zipfile

import keras
import pytest
from typer.testing import CliRunner

from convcli import training
from convcli.training import checkpoints
from convcli.cli import app
from tests.conftest import tiny_config

runner = CliRunner()


def train(config, runs_dir, *extra):
    return runner.invoke(app, ["train", str(config), "--runs-dir", str(runs_dir), *extra])


@pytest.fixture
def interrupt_at(monkeypatch):
    """interrupt_at(n): Ctrl-C when epoch n (1-based, counted across phases) begins."""

    def arm(epoch):
        original = training.ProgressDisplay.on_epoch_begin

        def on_epoch_begin(self, index, logs=None):
            if index + 1 == epoch:
                raise KeyboardInterrupt
            original(self, index, logs)

        monkeypatch.setattr(training.ProgressDisplay, "on_epoch_begin", on_epoch_begin)
        return lambda: monkeypatch.setattr(training.ProgressDisplay, "on_epoch_begin", original)

    return arm


def rows(run):
    with open(run / "metrics.csv", newline="") as handle:
        return list(csv.DictReader(handle))


def meta(run):
    return json.loads((run / "meta.json").read_text())


def only_run(runs_dir):
    [run] = list(runs_dir.iterdir())
    return run


def test_ctrl_c_then_resume_continues_with_every_epoch_once(tmp_path, write_config, tiny_data, interrupt_at):
    config = write_config(tiny_config(tiny_data, train={"epochs": 5}))
    disarm = interrupt_at(3)
    stopped = train(config, tmp_path / "runs")
    assert stopped.exit_code == 130, stopped.output
    run = only_run(tmp_path / "runs")
    line = stopped.stderr.strip().splitlines()[-1]  # after the progress lines
    assert line.startswith("interrupted: ") and "Traceback" not in stopped.output
    assert f"run {run.name} keeps its checkpoints up to epoch 2" in line
    assert f"convcli train {config} --runs-dir {tmp_path / 'runs'} --resume {run.name}" in line
    assert meta(run)["status"] == "interrupted" and "after epoch 2" in meta(run)["reason"]
    assert [r["epoch"] for r in rows(run)] == ["1", "2"]
    best_before = (run / "checkpoints" / "best.keras").read_bytes()

    disarm()
    resumed = train(config, tmp_path / "runs", "--resume", run.name)
    assert resumed.exit_code == 0, resumed.output
    assert only_run(tmp_path / "runs") == run  # the same directory, no new run
    assert [r["epoch"] for r in rows(run)] == ["1", "2", "3", "4", "5"]
    info = meta(run)
    assert info["status"] == "completed" and info["resumed"][0]["from_epoch"] == 2
    assert info["resumed"][0]["previous_status"] == "interrupted" and info["resumed"][0]["changed"] == []
    summary = json.loads((run / "summary.json").read_text())
    assert summary["epochs"] == 5 and summary["phases"][0]["epochs"] == 5
    # The best-checkpoint tracker survived: best_epoch is the lowest val_loss of all 5 rows.
    losses = [float(r["val_loss"]) for r in rows(run)]
    assert summary["best_epoch"] == losses.index(min(losses)) + 1
    if summary["best_epoch"] <= 2:
        assert (run / "checkpoints" / "best.keras").read_bytes() == best_before
    # The optimizer state went on: 3 steps per epoch (24 images, batch 8), 5 epochs.
    last = keras.models.load_model(run / "checkpoints" / "last.keras")
    assert int(last.optimizer.iterations) == 15


def test_resume_refuses_a_changed_config_unless_forced(tmp_path, write_config, tiny_data, interrupt_at):
    config = write_config(tiny_config(tiny_data, train={"epochs": 3}))
    disarm = interrupt_at(2)
    assert train(config, tmp_path / "runs").exit_code == 130
    disarm()
    run = only_run(tmp_path / "runs")
    before = (run / "config.yaml").read_text()

    refused = train(config, tmp_path / "runs", "--resume", run.name, "--set", "train.epochs=4",
                    "--set", "train.learning_rate=0.001")
    assert refused.exit_code == 1 and refused.stderr.count("\n") == 1, refused.stderr
    assert "config differs" in refused.stderr and "train.epochs, train.learning_rate" in refused.stderr
    assert (run / "config.yaml").read_text() == before and meta(run)["status"] == "interrupted"

    forced = train(config, tmp_path / "runs", "--resume", run.name, "--set", "train.epochs=4",
                   "--set", "train.learning_rate=0.001", "--force")
    assert forced.exit_code == 0, forced.output
    assert [r["epoch"] for r in rows(run)] == ["1", "2", "3", "4"]
    assert float(rows(run)[-1]["learning_rate"]) == pytest.approx(1e-3)  # --force: the new rate
    assert meta(run)["resumed"][0]["changed"] == ["train.epochs", "train.learning_rate"]
    assert "epochs: 4" in (run / "config.yaml").read_text()


def test_resume_refusals_leave_the_run_as_it_was(tmp_path, write_config, tiny_data, interrupt_at):
    config = write_config(tiny_config(tiny_data, train={"epochs": 2}))
    assert train(config, tmp_path / "runs").exit_code == 0
    done = only_run(tmp_path / "runs")
    answer = train(config, tmp_path / "runs", "--resume", done.name)
    assert answer.exit_code == 1 and "is completed; there is nothing to resume" in answer.stderr

    usage = train(config, tmp_path / "runs", "--force")
    assert usage.exit_code == 2 and "--force only applies with --resume" in usage.output

    missing = train(config, tmp_path / "runs", "--resume", "nope")
    assert missing.exit_code == 1 and "no run matches 'nope'" in missing.stderr

    # A run still running on this machine (a live pid that is not this process).
    info = meta(done) | {"status": "running", "pid": os.getppid(), "host": os.uname().nodename}
    (done / "meta.json").write_text(json.dumps(info))
    busy = train(config, tmp_path / "runs", "--resume", done.name)
    assert busy.exit_code == 1 and f"is still running (pid {os.getppid()})" in busy.stderr


def test_resume_refuses_changed_data_unless_forced(tmp_path, write_config, tiny_data, interrupt_at):
    import shutil

    data = tmp_path / "data"
    shutil.copytree(tiny_data, data)
    config = write_config(tiny_config(data, train={"epochs": 3}))
    interrupt_at(2)
    assert train(config, tmp_path / "runs").exit_code == 130
    run = only_run(tmp_path / "runs")
    victim = next((data / "train" / "star4").iterdir())
    victim.unlink()
    refused = train(config, tmp_path / "runs", "--resume", run.name)
    assert refused.exit_code == 1 and "the data changed since run" in refused.stderr


@pytest.mark.parametrize("stop_at, phases", [(3, ["head", "head", "fine-tune", "fine-tune"]),
                                             (4, ["head", "head", "fine-tune", "fine-tune"])])
def test_fine_tune_resumes_in_either_phase(tmp_path, write_config, tiny_data, builtin_base,
                                           interrupt_at, stop_at, phases):
    cfg = tiny_config(tiny_data, "fine-tune", fine_tune={"head_epochs": 2}, train={"epochs": 2})
    cfg["model"] = {"dense_units": 8}
    config = write_config(cfg)
    disarm = interrupt_at(stop_at)  # 3: between the phases; 4: inside fine-tune
    assert train(config, tmp_path / "runs").exit_code == 130
    disarm()
    run = only_run(tmp_path / "runs")
    resumed = train(config, tmp_path / "runs", "--resume", run.name)
    assert resumed.exit_code == 0, resumed.output
    assert [r["phase"] for r in rows(run)] == phases
    assert [r["epoch"] for r in rows(run)] == ["1", "2", "3", "4"]
    summary = json.loads((run / "summary.json").read_text())
    assert [(p["phase"], p["epochs"]) for p in summary["phases"]] == [("head", 2), ("fine-tune", 2)]
    assert summary["unfreezing"]["unfrozen"] > summary["unfreezing"]["frozen_base"]
    assert summary["trainable_params"]["fine-tune"] > summary["trainable_params"]["head"]


def test_features_extract_resumes(tmp_path, write_config, tiny_data, builtin_base, interrupt_at):
    config = write_config(tiny_config(tiny_data, "extract", train={"epochs": 3}) | {"model": {"dense_units": 8}})
    disarm = interrupt_at(2)
    assert train(config, tmp_path / "runs").exit_code == 130
    disarm()
    run = only_run(tmp_path / "runs")
    assert train(config, tmp_path / "runs", "--resume", run.name).exit_code == 0
    assert [r["epoch"] for r in rows(run)] == ["1", "2", "3"]
    with zipfile.ZipFile(run / "checkpoints" / "last.keras") as archive:
        state = json.loads(archive.read(training.STATE_ENTRY))
    assert state["epoch"] == 3 and state["phase"] == "train"


def test_a_run_that_failed_on_nan_resumes_with_a_lower_learning_rate(tmp_path, write_config, tiny_data):
    config = write_config(tiny_config(tiny_data, train={"epochs": 3, "optimizer": "sgd",
                                                        "learning_rate": 1e12}))
    failed = train(config, tmp_path / "runs")
    assert failed.exit_code == 1 and "the loss became" in failed.stderr
    run = only_run(tmp_path / "runs")
    assert meta(run)["status"] == "failed" and len(rows(run)) == 1  # the bad epoch, on record
    answer = train(config, tmp_path / "runs", "--resume", run.name, "--set",
                   "train.learning_rate=1e-3", "--force")
    assert answer.exit_code == 0, answer.output
    assert meta(run)["status"] == "completed" and meta(run)["resumed"][0]["previous_status"] == "failed"
    assert [r["epoch"] for r in rows(run)] == ["1", "2", "3"]  # the bad row replaced


def test_a_full_disk_is_one_line_keeps_the_last_checkpoint_and_resumes(tmp_path, write_config, tiny_data,
                                                                       monkeypatch):
    import errno

    calls = []
    original = training.write_checkpoint_state

    def fill_up(path, *args):
        calls.append(path)
        if len(calls) == 2:  # epoch 2's last checkpoint: the disk is full
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        original(path, *args)

    monkeypatch.setattr(checkpoints, "write_checkpoint_state", fill_up)
    config = write_config(tiny_config(tiny_data, train={"epochs": 3}))
    full = train(config, tmp_path / "runs")
    assert full.exit_code == 1 and "Traceback" not in full.output
    last_line = full.stderr.strip().splitlines()[-1]
    assert last_line.startswith("error: no space left on the disk (No space left on device)")
    run = only_run(tmp_path / "runs")
    assert meta(run)["status"] == "failed" and "No space left" in meta(run)["reason"]
    assert sorted(p.name for p in (run / "checkpoints").iterdir()) == ["best.keras", "last.keras"]
    with zipfile.ZipFile(run / "checkpoints" / "last.keras") as archive:
        assert json.loads(archive.read(training.STATE_ENTRY))["epoch"] == 1  # the temp file is gone

    monkeypatch.setattr(checkpoints, "write_checkpoint_state", original)
    assert train(config, tmp_path / "runs", "--resume", run.name).exit_code == 0
    assert [r["epoch"] for r in rows(run)] == ["1", "2", "3"]
