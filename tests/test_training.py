"""Real, tiny training runs: the run directory holds exactly what docs/run-directory.md promises."""

import csv
import json

import keras
import numpy as np
import pytest
from typer.testing import CliRunner

from convcli.cli import app
from convcli.config import load_config
from tests.conftest import tiny_config

runner = CliRunner()
RUN_FILES = {"config.yaml", "meta.json", "metrics.csv", "summary.json", "model.txt", "checkpoints",
             "curves.png", "tensorboard", "confusion.png", "report.html"}


def train(config_path, runs_dir, *extra):
    return runner.invoke(app, ["train", str(config_path), "--runs-dir", str(runs_dir), *extra])


@pytest.mark.parametrize("stage, sections", [
    ("scratch", {}),
    ("augment", {"augment": {"rotation_range": 20}}),
])
def test_stage_writes_a_complete_run(tmp_path, write_config, tiny_data, stage, sections):
    config = write_config(tiny_config(tiny_data, stage, **sections))
    result = train(config, tmp_path / "runs", "--set", "train.epochs=2")
    assert result.exit_code == 0, result.output
    [run] = list((tmp_path / "runs").iterdir())
    assert {p.name for p in run.iterdir()} == RUN_FILES
    assert str(run) in result.stdout and "test acc" in result.stdout

    meta = json.loads((run / "meta.json").read_text())
    assert meta["status"] == "completed" and meta["stage"] == stage
    assert meta["class_names"] == ["star4", "star6"] and meta["versions"]["keras"].startswith("3.")
    assert meta["dataset"]["counts"] == {"train": 24, "validation": 24, "test": 24}

    saved = load_config(run / "config.yaml")  # the resolved config, reloadable
    assert saved.train.epochs == 2 and saved.model.dropout == (0.0 if stage == "scratch" else 0.5)

    rows = list(csv.DictReader(open(run / "metrics.csv")))
    assert [r["epoch"] for r in rows] == ["1", "2"] and {r["phase"] for r in rows} == {"train"}
    assert list(rows[0]) == ["epoch", "phase", "loss", "accuracy", "val_loss", "val_accuracy",
                             "learning_rate", "seconds", "top5_accuracy", "val_top5_accuracy"]
    assert rows[0]["top5_accuracy"] == ""  # two classes: no top-5
    assert float(rows[0]["learning_rate"]) == pytest.approx(1e-4)

    summary = json.loads((run / "summary.json").read_text())
    assert summary["epochs"] == 2 and summary["best_epoch"] in (1, 2)
    best_row = rows[summary["best_epoch"] - 1]
    assert summary["best"]["val_loss"] == pytest.approx(float(best_row["val_loss"]))
    assert 0 <= summary["test"]["accuracy"] <= 1 and summary["trainable_params"]["train"] > 0
    # the test split's confusion matrix: 12 images per class, its diagonal the accuracy
    confusion = summary["confusion"]
    assert [sum(row) for row in confusion] == [12, 12]
    assert (confusion[0][0] + confusion[1][1]) / 24 == pytest.approx(summary["test"]["accuracy"])
    assert set(summary["per_class"]) == set(summary["class_names"])
    assert (run / "confusion.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    page = (run / "report.html").read_text()
    assert "<svg" in page and "data:image/png;base64," in page  # the curves, the confusion matrix

    model = keras.models.load_model(run / "checkpoints" / "best.keras")
    probabilities = model.predict(np.zeros((2, 32, 32, 3)), verbose=0)
    assert probabilities.shape == (2, 1) and np.all((0 <= probabilities) & (probabilities <= 1))
    assert (stage == "augment") == any(layer.name == "dropout" for layer in model.layers)
    assert (run / "curves.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    from PIL import Image

    assert Image.open(run / "curves.png").size == (1100, 400)  # a constant rate: no third panel
    assert list((run / "tensorboard").rglob("events.out.tfevents.*"))
    assert "conv2" in (run / "model.txt").read_text()
    assert not (run / ".scratch").exists()


def test_multiclass_validation_split_and_disk_cache(tmp_path, write_config):
    from convcli.data.synthetic import generate

    data = generate(tmp_path / "src", task="source", per_class=6, image_size=32)
    cfg = tiny_config(data)
    cfg["data"] = {"train_dir": str(data / "train"), "validation_split": 0.5, "image_size": [32, 32],
                   "batch_size": 8, "cache": "disk"}
    result = train(write_config(cfg), tmp_path / "runs", "--set", "train.epochs=1")
    assert result.exit_code == 0, result.output
    [run] = list((tmp_path / "runs").iterdir())
    summary = json.loads((run / "summary.json").read_text())
    assert summary["test"] is None and summary["counts"] == {"train": 30, "validation": 30, "test": 0}
    model = keras.models.load_model(run / "checkpoints" / "last.keras")
    assert model.output_shape == (None, 10)  # softmax over the source task's classes


def test_a_failure_mid_run_marks_it_failed(tmp_path, write_config, tiny_data, monkeypatch):
    from convcli.stages import scratch

    def explode(*args):
        raise RuntimeError("the GPU caught fire")

    monkeypatch.setattr(scratch, "train", explode)
    result = train(write_config(tiny_config(tiny_data)), tmp_path / "runs")
    assert result.exit_code != 0
    [run] = list((tmp_path / "runs").iterdir())
    meta = json.loads((run / "meta.json").read_text())
    assert meta["status"] == "failed" and meta["reason"] == "RuntimeError: the GPU caught fire"
    assert meta["ended"] and not (run / "summary.json").exists()
    summary = runner.invoke(app, ["summary", "--runs-dir", str(tmp_path / "runs")])
    assert summary.exit_code == 1 and "has no checkpoint (status: failed)" in summary.stderr


def test_ctrl_c_marks_the_run_interrupted_and_exits_130(tmp_path, write_config, tiny_data, monkeypatch):
    from convcli.stages import scratch

    def interrupt(*args):
        raise KeyboardInterrupt

    monkeypatch.setattr(scratch, "train", interrupt)
    result = train(write_config(tiny_config(tiny_data)), tmp_path / "runs")
    assert result.exit_code == 130 and "interrupted" in result.stderr
    [run] = list((tmp_path / "runs").iterdir())
    assert json.loads((run / "meta.json").read_text())["status"] == "interrupted"


def test_a_second_run_never_touches_the_first(tmp_path, write_config, tiny_data):
    config = write_config(tiny_config(tiny_data))
    assert train(config, tmp_path / "runs", "--set", "train.epochs=1").exit_code == 0
    [first] = list((tmp_path / "runs").iterdir())
    before = {p: p.read_bytes() for p in first.rglob("*") if p.is_file()}
    assert train(config, tmp_path / "runs", "--set", "train.epochs=1").exit_code == 0
    assert len(list((tmp_path / "runs").iterdir())) == 2
    assert before == {p: p.read_bytes() for p in first.rglob("*") if p.is_file()}


def test_a_non_finite_loss_fails_the_run_and_keeps_the_last_good_checkpoint(tmp_path, write_config,
                                                                           tiny_data):
    from convcli.data import folders
    from convcli.data.pipeline import make_datasets
    from convcli.errors import TrainingError
    from convcli.runs import create_run
    from convcli.stages.scratch import build_model
    from convcli.training import Trainer, compile_model

    cfg = load_config(write_config(tiny_config(tiny_data)))
    files = folders.resolve(cfg.data, cfg.seed)
    run = create_run(tmp_path / "runs", "nan")
    model = build_model(cfg, files.class_names)
    datasets = make_datasets(cfg, files, run.scratch)
    trainer = Trainer(run)
    sgd = cfg.train.model_copy(update={"optimizer": "sgd"})
    compile_model(model, sgd, 2, learning_rate=1e-3)
    trainer.fit(model, datasets.train, datasets.validation, phase="good", epochs=1, train_config=cfg.train)
    good = keras.models.load_model(run.last).get_weights()

    compile_model(model, sgd, 2, learning_rate=1e12)  # diverges within a few batches
    with pytest.raises(TrainingError, match=r"the loss became (nan|inf) at epoch 2, batch \d+ "
                                            r"\(phase bad\).*it was 1e\+12"):
        trainer.fit(model, datasets.train, datasets.validation, phase="bad", epochs=3, train_config=cfg.train)
    for kept, before in zip(keras.models.load_model(run.last).get_weights(), good):
        np.testing.assert_array_equal(kept, before)  # last.keras is still the good epoch
    rows = list(csv.DictReader(open(run.metrics)))
    assert [r["phase"] for r in rows] == ["good", "bad"]  # the bad epoch is on record


def test_nan_from_the_command_line_is_one_line_and_a_failed_run(tmp_path, write_config, tiny_data):
    cfg = tiny_config(tiny_data, train={"optimizer": "sgd", "learning_rate": 1e12, "epochs": 3})
    result = train(write_config(cfg), tmp_path / "runs")
    assert result.exit_code == 1 and "Traceback" not in result.output
    assert result.stderr.strip().splitlines()[-1].startswith("error: the loss became")
    [run] = list((tmp_path / "runs").iterdir())
    meta = json.loads((run / "meta.json").read_text())
    assert meta["status"] == "failed" and "the loss became" in meta["reason"] and "epoch 1" in meta["reason"]


def test_deterministic_runs_are_identical(tmp_path, write_config, tiny_data):
    cfg = tiny_config(tiny_data, "augment", augment={"rotation_range": 30, "zoom_range": 0.2},
                      deterministic=True, train={"epochs": 3})
    config = write_config(cfg)
    for _ in range(2):
        assert train(config, tmp_path / "runs").exit_code == 0
    first, second = sorted((tmp_path / "runs").iterdir())

    def metrics(run):
        return [{k: v for k, v in row.items() if k != "seconds"} for row in csv.DictReader(open(run / "metrics.csv"))]

    assert metrics(first) == metrics(second)
    for a, b in zip(keras.models.load_model(first / "checkpoints" / "last.keras").get_weights(),
                    keras.models.load_model(second / "checkpoints" / "last.keras").get_weights()):
        np.testing.assert_array_equal(a, b)
