"""convcli evaluate: a run's best model on a split, the numbers it prints, how it refuses."""

import json
import re
import shutil
import subprocess
import sys

import numpy as np
import pytest
import yaml
from PIL import Image

from conftest import assert_user_error, invoke, tiny_config

CLASSES = ["star4", "star6"]
PER_CLASS = 12  # tiny_data: images per class in each split


@pytest.fixture(scope="module")
def run(trained_run):
    return trained_run


def copy_run(run, runs_dir, name):
    """A copy of the module's run without the pictures evaluate wrote, to break at will."""
    return shutil.copytree(run, runs_dir / name, ignore=shutil.ignore_patterns("confusion*.png"))


def pictures(*runs) -> dict:
    return {path: path.stat().st_mtime_ns for run in runs for path in run.glob("confusion*.png")}


def headline(output: str) -> dict:
    found = re.search(r"loss ([\d.]+), accuracy ([\d.]+)% \((\d+) of (\d+) images\)", output)
    assert found, output
    return {"loss": float(found[1]), "accuracy": float(found[2]), "correct": int(found[3]),
            "images": int(found[4])}


def confusion_rows(output: str) -> dict:
    """The printed confusion matrix: {true class: [counts per predicted class..., total]}."""
    matrix = output.split("confusion matrix", 1)[1]
    return {name: [int(n) for n in re.findall(r"\d+", line.split(name, 1)[1])]
            for name in CLASSES for line in matrix.splitlines() if line.startswith(f"│ {name} ")}


def test_evaluate_the_test_split_prints_what_training_reported(run):
    result = invoke("evaluate", run.name, "--runs-dir", run.parent)
    assert result.exit_code == 0, result.output
    test = json.loads((run / "summary.json").read_text())["test"]
    shown = headline(result.output)
    # The same images, the same resize path, the same model: training's test numbers.
    assert shown["accuracy"] == pytest.approx(100 * test["accuracy"], abs=0.005)
    assert shown["loss"] == pytest.approx(test["loss"], abs=1e-4)
    assert shown["images"] == 2 * PER_CLASS
    assert shown["correct"] == round(test["accuracy"] * shown["images"])

    rows = confusion_rows(result.output)
    assert set(rows) == set(CLASSES)
    for name in CLASSES:
        assert sum(rows[name][:2]) == rows[name][2] == PER_CLASS  # every image of the class, once
    assert sum(rows[name][i] for i, name in enumerate(CLASSES)) == shown["correct"]
    for name in CLASSES:  # the per-class table: images, precision, recall
        assert re.search(rf"│ {name} +│ +{PER_CLASS} │ +(-|[\d.]+%) │ +[\d.]+% │", result.output), name

    png = run / "confusion.png"
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert Image.open(png).size[0] >= 400
    assert f"wrote {png}" in result.output.replace("\n", "")


def test_evaluate_the_validation_split_matches_the_best_epoch(run):
    result = invoke("evaluate", run, "--split", "validation")
    assert result.exit_code == 0, result.output
    best = json.loads((run / "summary.json").read_text())["best"]
    shown = headline(result.output)
    # best.keras holds the weights the best epoch was validated with.
    assert shown["accuracy"] == pytest.approx(100 * best["val_accuracy"], abs=0.005)
    assert shown["loss"] == pytest.approx(best["val_loss"], abs=1e-4)
    assert sum(row[-1] for row in confusion_rows(result.output).values()) == 2 * PER_CLASS
    assert (run / "confusion-validation.png").read_bytes()[:4] == b"\x89PNG"


def test_evaluate_a_folder_of_class_folders(run, tiny_data):
    """--data with the test images gives the test split's numbers, into confusion-data.png."""
    on_test = invoke("evaluate", run.name, "--runs-dir", run.parent)
    on_data = invoke("evaluate", run.name, "--runs-dir", run.parent, "--data", tiny_data / "test")
    assert on_data.exit_code == 0, on_data.output
    assert headline(on_data.output) == headline(on_test.output)
    assert confusion_rows(on_data.output) == confusion_rows(on_test.output)
    assert (run / "confusion-data.png").is_file()


@pytest.mark.parametrize("num_classes", [2, 3])
def test_evaluate_agrees_with_keras(tmp_path, tiny_data, write_config, num_classes):
    """Accuracy and loss equal model.evaluate's, for the sigmoid and the softmax head."""
    from convcli.config import load_config
    from convcli.data import folders
    from convcli.data.pipeline import make_dataset
    from convcli.evaluation import evaluate
    from convcli.stages import stage_for
    from convcli.training import compile_model

    data = tmp_path / "data"
    sources = [tiny_data / "test" / "star4", tiny_data / "test" / "star6",
               tiny_data / "validation" / "star4"][:num_classes]
    for index, source in enumerate(sources):
        shutil.copytree(source, data / f"class_{index}")
    cfg = load_config(write_config(tiny_config(tiny_data)))
    class_names, split = folders.scan(data, "test_dir")
    model = stage_for(cfg).build_model(cfg, class_names, load_weights=False)  # random weights
    compile_model(model, cfg.train, num_classes)
    dataset = make_dataset(split, num_classes, (32, 32), batch_size=5, cache="none")  # a short last batch

    evaluation = evaluate(model, dataset, class_names)
    keras_says = model.evaluate(dataset, verbose=0, return_dict=True)
    assert evaluation.accuracy == pytest.approx(keras_says["accuracy"], abs=1e-6)
    assert evaluation.loss == pytest.approx(keras_says["loss"], rel=1e-5)
    assert evaluation.support == [PER_CLASS] * num_classes
    assert evaluation.images == len(split)
    confusion = np.array(evaluation.confusion)
    assert confusion.shape == (num_classes, num_classes)
    for index, (precision, recall) in enumerate(zip(evaluation.precision, evaluation.recall)):
        assert recall == confusion[index, index] / PER_CLASS
        assert precision is None if confusion[:, index].sum() == 0 else \
            precision == confusion[index, index] / confusion[:, index].sum()


def test_evaluate_refuses_bad_input(run, tmp_path, tiny_data):
    runs, before = tmp_path / "runs", pictures(run)
    assert_user_error(invoke("evaluate", "--runs-dir", runs), "no runs in")
    assert_user_error(invoke("evaluate", "nope", "--runs-dir", run.parent), "no run matches 'nope'")

    first = copy_run(run, runs, "2026-01-01_10-00-00_tiny")
    second = copy_run(run, runs, "2026-01-01_10-00-01_tiny")
    result = invoke("evaluate", "2026-01-01_10", "--runs-dir", runs)
    assert_user_error(result, "'2026-01-01_10' matches 2 runs")
    assert first.name in result.stderr and second.name in result.stderr

    (first / "checkpoints" / "best.keras").unlink()
    assert_user_error(invoke("evaluate", first), f"run {first.name} has no best checkpoint "
                                                 "(checkpoints/best.keras; status: completed)")

    config = yaml.safe_load((second / "config.yaml").read_text())
    config["data"]["test_dir"] = None
    (second / "config.yaml").write_text(yaml.safe_dump(config))
    assert_user_error(invoke("evaluate", second), "has no test split (its config sets no "
                                                  "data.test_dir); use --split validation, or --data")

    other = tmp_path / "other"
    for old, new in (("star4", "circle"), ("star6", "square")):
        shutil.copytree(tiny_data / "test" / old, other / new)
    assert_user_error(invoke("evaluate", run, "--data", other),
                      f"--data {other} has classes ['circle', 'square'], but run {run.name} was "
                      "trained on ['star4', 'star6']")
    assert_user_error(invoke("evaluate", run, "--data", tmp_path / "missing"),
                      f"--data {tmp_path / 'missing'} does not exist")

    broken = tmp_path / "broken"
    shutil.copytree(tiny_data / "test", broken)
    (broken / "star4" / "notes.jpg").write_text("not an image")
    assert_user_error(invoke("evaluate", run, "--data", broken),
                      "1 image file(s) in --data")
    assert pictures(run, first, second) == before  # a refusal writes nothing


def test_evaluate_bad_usage_exits_2(run, tiny_data):
    result = invoke("evaluate", run, "--split", "train")
    assert result.exit_code == 2 and "--split" in result.output
    result = invoke("evaluate", run, "--split", "test", "--data", tiny_data / "test")
    assert result.exit_code == 2 and "give --split or --data, not both" in result.output


def test_evaluate_help_does_not_import_tensorflow():
    code = ("import sys\nfrom typer.testing import CliRunner\nfrom convcli.cli import app\n"
            "assert CliRunner().invoke(app, ['evaluate', '--help']).exit_code == 0\n"
            "assert 'tensorflow' not in sys.modules and 'keras' not in sys.modules\n")
    subprocess.run([sys.executable, "-c", code], check=True)
