"""Training recipes (issue 25): schedules with warmup, weight decay, clipping, momentum,
label smoothing, the weights' moving average, Keras' augmentation layers, mixup and
cutmix, top-5 accuracy, and the learning-rate range test (`convcli lr-find`)."""

import csv
import json
import math

import keras
import numpy as np
import pytest

from convcli.config import Train, validate
from convcli.errors import ConfigError
from tests.conftest import assert_user_error, invoke, tiny_config


def rows(run):
    with open(run / "metrics.csv", newline="") as handle:
        return list(csv.DictReader(handle))


def the_run(runs_dir):
    [run] = [p for p in runs_dir.iterdir() if p.name != "lr-find"]
    return run


@pytest.fixture(scope="module")
def ten_classes(tmp_path_factory):
    """The built-in source task's ten shapes, 6 images per class and split, 32x32."""
    from convcli.data.synthetic import generate

    return generate(tmp_path_factory.mktemp("ten") / "shapes", task="source", per_class=6, image_size=32)


# --- the config ---------------------------------------------------------------------------


@pytest.mark.parametrize("train, expected", [
    ({"schedule": "cosine", "step_epochs": [2]}, "step_epochs applies to schedule step only"),
    ({"decay_rate": 0.5}, "decay_rate applies to schedule exponential only"),
    ({"schedule": "step"}, "schedule step needs step_epochs"),
    ({"schedule": "step", "step_epochs": [3, 2]}, "increasing epoch numbers"),
    ({"optimizer": "adam", "momentum": 0.9}, "momentum is an argument of sgd and rmsprop"),
    ({"warmup_epochs": 2, "epochs": 2}, "warmup_epochs (2) must be fewer than the epochs"),
    ({"label_smoothing": 1.0}, "label_smoothing"),
    ({"ema": 1.0}, "ema"),
])
def test_recipe_keys_are_checked(tiny_data, train, expected):
    with pytest.raises(ConfigError, match=expected.replace("(", r"\(").replace(")", r"\)")):
        validate(tiny_config(tiny_data, train=train))


def test_warmup_must_leave_the_head_phase_epochs_too(tiny_data):
    cfg = tiny_config(tiny_data, "fine-tune", fine_tune={"head_epochs": 1}, train={"epochs": 5, "warmup_epochs": 1})
    with pytest.raises(ConfigError, match=r"fine_tune.head_epochs \(1\)"):
        validate(cfg)


def test_setting_a_key_of_a_null_section_makes_it_with_its_defaults(tiny_data, write_config):
    from convcli.config import load_config

    config = write_config(tiny_config(tiny_data, "augment", augment={}))
    cfg = load_config(config, ["augment.randaugment.num_ops=3", "augment.random_erasing={}",
                               "augment.mixup=0.2"])
    assert cfg.augment.randaugment.num_ops == 3 and cfg.augment.randaugment.factor == 0.5
    assert cfg.augment.random_erasing.probability == 0.25 and cfg.augment.mixes_labels
    assert cfg.augment.color_jitter is None and cfg.augment.cutmix is None


def test_defaults_keep_the_books_recipe():
    from convcli.training.recipe import is_constant, make_optimizer

    train = Train()
    assert is_constant(train) and train.label_smoothing == 0 and train.ema is None
    optimizer = make_optimizer(train, 1e-4)
    assert isinstance(optimizer, keras.optimizers.RMSprop) and not optimizer.use_ema
    assert optimizer.weight_decay is None and optimizer.clipnorm is None
    assert make_optimizer(Train(optimizer="adamw"), 1e-3).weight_decay == pytest.approx(0.004)


# --- the learning rate of every step --------------------------------------------------------


def test_schedules_give_the_rates_they_describe():
    from convcli.training.recipe import learning_rates

    steps = 4  # per epoch
    cosine = learning_rates(Train(schedule="cosine", warmup_epochs=1, min_lr_fraction=0.1, epochs=5),
                            1e-3, steps, 5)
    assert [cosine(s) for s in range(4)] == pytest.approx([2.5e-4, 5e-4, 7.5e-4, 1e-3])
    assert cosine(4) == pytest.approx(1e-3)  # the cosine starts at the peak after warmup
    assert cosine(4 + 8) == pytest.approx(1e-4 + 0.9e-3 * 0.5, rel=1e-5)  # half way: the mean
    assert cosine(4 + 16) == pytest.approx(1e-4, rel=1e-5)  # its floor
    step = learning_rates(Train(schedule="step", step_epochs=[2, 4], step_factor=0.5), 1.0, steps, 6)
    assert [step(e * steps) for e in range(6)] == pytest.approx([1, 1, 0.5, 0.5, 0.25, 0.25])
    decay = learning_rates(Train(schedule="exponential", decay_rate=0.5), 1.0, steps, 6)
    assert [decay(e * steps) for e in range(3)] == pytest.approx([1, 0.5, 0.25])
    constant = learning_rates(Train(warmup_epochs=1), 2.0, steps, 3)
    assert [constant(s) for s in (0, 3, 4, 11)] == pytest.approx([0.5, 2, 2, 2])


def test_metrics_csv_has_each_epochs_rate_and_fine_tune_phases_have_their_own(
        tmp_path, write_config, tiny_data, builtin_base):
    # tiny_data: 24 training images in batches of 8, 3 steps an epoch
    cfg = tiny_config(tiny_data, "fine-tune", fine_tune={"head_epochs": 2, "learning_rate": 1e-4},
                      train={"epochs": 3, "learning_rate": 1e-3, "schedule": "cosine", "warmup_epochs": 1})
    result = invoke("train", write_config(cfg | {"model": {"dense_units": 8}}), "--runs-dir", tmp_path / "runs")
    assert result.exit_code == 0, result.output
    table = rows(the_run(tmp_path / "runs"))
    assert [r["phase"] for r in table] == ["head", "head", "fine-tune", "fine-tune", "fine-tune"]
    rates = [float(r["learning_rate"]) for r in table]
    # each epoch's last step: the peak after warmup, then the cosine over the phase's rest
    head_cosine = 1e-3 * 0.5 * (1 + math.cos(math.pi * 2 / 3))
    tune_cosine = [1e-4 * 0.5 * (1 + math.cos(math.pi * s / 6)) for s in (2, 5)]
    assert rates == pytest.approx([1e-3, head_cosine, 1e-4, *tune_cosine], rel=1e-4)
    from PIL import Image

    # curves.png gains a third panel, the learning rate (a constant rate has two: test_training)
    assert Image.open(the_run(tmp_path / "runs") / "curves.png").size == (1600, 400)


EVERY_KEY = {  # every recipe key at once (one schedule of the four)
    "train": {"epochs": 5, "schedule": "cosine", "warmup_epochs": 1, "min_lr_fraction": 0.1,
              "optimizer": "rmsprop", "momentum": 0.5, "weight_decay": 0.01, "clipnorm": 1.0,
              "label_smoothing": 0.1, "ema": 0.9},
    "augment": {"randaugment": {"num_ops": 1}, "color_jitter": {}, "random_erasing": {},
                "mixup": 0.2, "cutmix": 1.0},
}


@pytest.mark.slow
def test_every_key_trains_resumes_after_kill_9_with_the_same_rates_and_serves(tmp_path, write_config,
                                                                              tiny_data):
    from tests.test_faults import resume, start, wait_for

    cfg = tiny_config(tiny_data, "augment", **EVERY_KEY)
    config = write_config(cfg)
    whole = invoke("train", config, "--runs-dir", tmp_path / "whole")
    assert whole.exit_code == 0, whole.output
    runs_dir = tmp_path / "killed"
    process = start(config, runs_dir, pause="last.keras#3")  # epoch 3's row is written, its checkpoint is not
    wait_for(lambda: runs_dir.exists() and any(runs_dir.glob("*/checkpoints/.last.keras.paused")), process)
    process.kill()
    process.wait()
    run = the_run(runs_dir)
    assert [r["epoch"] for r in rows(run)] == ["1", "2", "3"]
    resume(config, runs_dir, run)
    expected = [float(r["learning_rate"]) for r in rows(the_run(tmp_path / "whole"))]
    assert [float(r["learning_rate"]) for r in rows(run)] == pytest.approx(expected, rel=1e-6)
    assert len(set(expected)) == 5  # the rate changed every epoch
    # the resumed run evaluates (with TTA), explains and exports
    evaluated = invoke("evaluate", run, "--tta", "4")
    assert evaluated.exit_code == 0 and "4 views" in evaluated.stdout, evaluated.output
    image = next((tiny_data / "test").rglob("*.jpg"))
    explained = invoke("gradcam", image, "--run", run, "--out", tmp_path / "cams")
    assert explained.exit_code == 0 and list((tmp_path / "cams").iterdir()), explained.output
    exported = invoke("export", run, "--format", "onnx", "--out", tmp_path / "onnx")
    assert exported.exit_code == 0 and (tmp_path / "onnx" / "model.onnx").is_file(), exported.output


# --- the weights' moving average ------------------------------------------------------------


def test_ema_validation_and_the_best_checkpoint_use_the_averaged_weights(tmp_path, write_config, tiny_data):
    from convcli.data.folders import resolve
    from convcli.data.pipeline import make_datasets

    cfg = tiny_config(tiny_data, train={"epochs": 4, "learning_rate": 1e-3, "ema": 0.5})
    result = invoke("train", write_config(cfg), "--runs-dir", tmp_path / "runs")
    assert result.exit_code == 0, result.output
    run = the_run(tmp_path / "runs")
    summary = json.loads((run / "summary.json").read_text())
    model = keras.models.load_model(run / "checkpoints" / "best.keras")
    config = validate(cfg)
    validation = make_datasets(config, resolve(config.data, config.seed), tmp_path / "scratch").validation
    loss, _ = model.evaluate(validation, verbose=0)
    # the checkpoint gives the validation loss logged for its epoch: both are the average's
    assert loss == pytest.approx(summary["best"]["val_loss"], rel=1e-4)


# --- augmentation, mixed labels, label smoothing, top-5 --------------------------------------


def test_keras_layers_and_mixup_change_images_and_labels_reproducibly(tmp_path, tiny_data):
    from convcli.data.folders import resolve
    from convcli.data.pipeline import make_datasets

    cfg = validate(tiny_config(tiny_data, "augment", augment={
        "rotation_range": 0, "width_shift_range": 0, "height_shift_range": 0, "shear_range": 0,
        "zoom_range": 0, "horizontal_flip": False, "randaugment": {}, "color_jitter": {},
        "random_erasing": {"probability": 1.0}, "mixup": 1.0}))
    plain = validate(tiny_config(tiny_data))
    files = resolve(cfg.data, cfg.seed)

    def first_batch(config):
        images, labels = next(iter(make_datasets(config, files, tmp_path).train))
        return images.numpy(), labels.numpy()

    images, labels = first_batch(cfg)
    again, labels_again = first_batch(cfg)
    original, hard = first_batch(plain)
    assert not np.allclose(images, original) and np.allclose(images, again)
    assert np.allclose(labels, labels_again) and set(np.unique(hard)) <= {0.0, 1.0}
    assert ((labels > 0.01) & (labels < 0.99)).any()  # mixed labels
    assert images.min() >= 0 and images.max() <= 255


def test_mixup_runs_record_no_training_accuracy_and_say_why(tmp_path, write_config, tiny_data):
    cfg = tiny_config(tiny_data, "augment", augment={"mixup": 0.4, "cutmix": 1.0})
    result = invoke("train", write_config(cfg), "--runs-dir", tmp_path / "runs")
    assert result.exit_code == 0, result.output
    run = the_run(tmp_path / "runs")
    assert {r["accuracy"] for r in rows(run)} == {""} and all(r["val_accuracy"] for r in rows(run))
    summary = json.loads((run / "summary.json").read_text())
    assert summary["mixed_labels"] == ["mixup", "cutmix"] and summary["best"].get("accuracy") is None
    assert "train acc: not measured (mixup and cutmix mix the training labels)" in " ".join(result.stdout.split())


def test_ten_classes_with_label_smoothing_report_top5_accuracy(tmp_path, write_config, ten_classes):
    cfg = tiny_config(ten_classes, "augment", augment={"cutmix": 1.0},
                      train={"label_smoothing": 0.1, "schedule": "step", "step_epochs": [1],
                             "optimizer": "sgd", "momentum": 0.9, "weight_decay": 1e-4, "clipnorm": 1.0})
    result = invoke("train", write_config(cfg), "--runs-dir", tmp_path / "runs")
    assert result.exit_code == 0, result.output
    run = the_run(tmp_path / "runs")
    table = rows(run)
    assert all(0 <= float(r["val_top5_accuracy"]) <= 1 for r in table)
    assert all(float(r["val_top5_accuracy"]) >= float(r["val_accuracy"]) for r in table)
    assert {r["top5_accuracy"] for r in table} == {""}  # cutmix: no training top-5 either
    assert "top-5" in result.stdout and "cutmix mixes the training labels" in " ".join(result.stdout.split())
    assert [float(r["learning_rate"]) for r in table] == pytest.approx([1e-4, 1e-5])


def test_extract_on_cached_features_takes_label_smoothing(tmp_path, write_config, tiny_data, builtin_base):
    cfg = tiny_config(tiny_data, "extract", train={"label_smoothing": 0.2, "schedule": "exponential",
                                                   "decay_rate": 0.5})
    result = invoke("train", write_config(cfg | {"model": {"dense_units": 8}}), "--runs-dir", tmp_path / "runs")
    assert result.exit_code == 0, result.output
    rates = [float(r["learning_rate"]) for r in rows(the_run(tmp_path / "runs"))]
    assert rates[1] / rates[0] == pytest.approx(0.5, rel=1e-4)


# --- convcli lr-find -----------------------------------------------------------------------


def test_lr_find_writes_its_folder_and_prints_a_rate_to_paste(tmp_path, write_config, tiny_data):
    config = write_config(tiny_config(tiny_data, train={"learning_rate": 1e-3}))
    result = invoke("lr-find", config, "--runs-dir", tmp_path / "runs", "--steps", "60", "--end", "100")
    assert result.exit_code == 0, result.output
    [folder] = (tmp_path / "runs" / "lr-find").iterdir()
    assert {p.name for p in folder.iterdir()} == {"config.yaml", "lr-find.csv", "lr-find.json", "lr-find.png"}
    table = list(csv.DictReader(open(folder / "lr-find.csv")))
    rates = [float(r["learning_rate"]) for r in table]
    assert rates[0] == pytest.approx(1e-7) and all(b > a for a, b in zip(rates, rates[1:]))
    finding = json.loads((folder / "lr-find.json").read_text())
    assert finding["key"] == "train.learning_rate" and finding["steps"] == len(table)
    if finding["suggestion"] is not None:
        assert f"--set train.learning_rate={finding['suggestion']:.1e}" in result.stdout
    else:
        assert "no suggestion" in result.stdout
    assert not list((tmp_path / "runs").glob("2*"))  # no run was made


def test_lr_find_on_a_falling_loss_suggests_a_rate_before_the_lowest():
    from convcli.lr_find import suggest

    rates = list(np.logspace(-7, 1, 100))
    smoothed = [1.0 if r < 1e-4 else max(0.2, 1.0 - 0.4 * math.log10(r / 1e-4)) for r in rates]
    smoothed = [s if r < 1e-2 else 0.2 + 10 * (r - 1e-2) for s, r in zip(smoothed, rates)]
    suggestion, lowest = suggest(rates, smoothed)
    assert 1e-4 < suggestion < lowest <= 1.1e-2
    from convcli.lr_find import rises_at

    assert 1.1e-2 < rises_at(rates, smoothed) < 2e-2  # 10% above the lowest 0.2
    assert suggest(rates, [1.0 + 0.001 * math.sin(i) for i in range(100)])[0] is None  # flat: none


def test_lr_find_bad_input_is_one_line(tmp_path, write_config, tiny_data):
    # the bad-input corpus has the rest (tests/test_bad_input.py, lr-find-*)
    config = write_config(tiny_config(tiny_data))
    result = invoke("lr-find", config, "--runs-dir", tmp_path / "runs", "--phase", "head")
    assert_user_error(result, "--phase applies to stage fine-tune only")
    assert not (tmp_path / "runs").exists()


def test_augment_preview_shows_the_keras_layers_and_mixing(tmp_path, write_config, tiny_data):
    from PIL import Image

    image = next((tiny_data / "train").rglob("*.jpg"))
    cfg = tiny_config(tiny_data, "augment", augment={"randaugment": {}, "mixup": 0.4})
    result = invoke("augment", write_config(cfg), image, "--count", "7", "--out", tmp_path)
    assert result.exit_code == 0, result.output
    shares = result.stdout.split("in order: ")[1].split(", ")
    assert len(shares) == 7 and all(0 <= float(share) <= 1 for share in shares)
    assert Image.open(tmp_path / f"{image.stem}_augmented.png").size[0] > 8 * 32
    book = invoke("augment", write_config(tiny_config(tiny_data, "augment", augment={}), "book.yaml"),
                  image, "--count", "3", "--out", tmp_path)
    assert book.exit_code == 0 and "mixup" not in book.stdout  # the book's transforms alone


def test_a_resumed_runs_last_row_with_empty_cells_reads_back_as_none(tmp_path):
    # a run killed after its last epoch's checkpoint resumes with no epoch to train: its
    # final metrics are the last metrics.csv row, whose top-5 cells are empty
    from convcli.records import Summary
    from convcli.runs import Run
    from convcli.training import MetricsLog, Result

    run = Run(tmp_path)
    run.metrics.write_text("epoch,phase,loss,accuracy,val_loss,val_accuracy,learning_rate,seconds,"
                           "top5_accuracy,val_top5_accuracy\n1,train,0.7,,0.69,0.5,0.001,1.0,,\n")
    result = Result()
    MetricsLog(run, result, keep=1)
    assert result.final["accuracy"] is None and result.final["val_top5_accuracy"] is None
    Summary.model_validate({"stage": "augment", "epochs": 1, "final": result.final,
                            "timings": {"total_seconds": 1, "seconds_per_epoch": 1}})
