"""convcli predict: class probabilities per image from a run's best model, and its refusals."""

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import assert_user_error, invoke

CLASSES = {"star4", "star6"}


@pytest.fixture(scope="module")
def run(trained_run):
    return trained_run


def predicted_json(*args):
    result = invoke("predict", *args, "--json")
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)  # stdout holds the JSON and nothing else


def test_json_lists_every_image_with_sorted_probabilities(run, tiny_data):
    folder, single = tiny_data / "test" / "star6", tiny_data / "test" / "star4" / "star4_0003.jpg"
    found = predicted_json(folder, single, "--run", run.name, "--runs-dir", run.parent)
    # The folder expands to its images, in order, then the file as given.
    assert [entry["image"] for entry in found] == sorted(str(p) for p in folder.iterdir()) + [str(single)]
    for entry in found:
        probabilities = [p["probability"] for p in entry["probabilities"]]
        assert {p["class"] for p in entry["probabilities"]} == CLASSES
        assert sum(probabilities) == pytest.approx(1.0, abs=1e-6)
        assert probabilities == sorted(probabilities, reverse=True)
        assert all(0.0 <= p <= 1.0 for p in probabilities)


def test_predictions_agree_with_evaluate(run, tiny_data):
    """The test images one by one, as a user hands them in, get the classes evaluate counted:
    the same decode and resize path, the same model."""
    from convcli.evaluation import evaluate_run

    found = predicted_json(tiny_data / "test", "--run", run)
    _, evaluation, _ = evaluate_run(str(run), run.parent)
    counted = [[0, 0], [0, 0]]
    for entry in found:
        true = evaluation.class_names.index(Path(entry["image"]).parent.name)
        counted[true][evaluation.class_names.index(entry["probabilities"][0]["class"])] += 1
    assert counted == evaluation.confusion


def test_table_shows_each_image_and_its_classes(run, tiny_data, monkeypatch):
    monkeypatch.setenv("COLUMNS", "200")  # rich: keep each row on one line
    images = sorted((tiny_data / "test" / "star4").iterdir())[:3]
    result = invoke("predict", *images, "--runs-dir", run.parent)  # default: the latest run
    assert result.exit_code == 0, result.output
    assert f"predictions — {run.name} (best checkpoint)" in result.output
    assert f"images in {images[0].parent}" in result.output  # rows name them from there
    rows = [line for line in result.output.splitlines() if "star4_00" in line]
    assert len(rows) == 3
    for line, image in zip(rows, images):
        assert f"│ {image.name} " in line
        cells = [cell.strip() for cell in line.split("│")]
        predicted, probabilities = cells[2], cells[3].split()
        assert predicted in CLASSES and probabilities[0] == predicted  # the top class first
        assert {probabilities[0], probabilities[2]} == CLASSES
        assert float(probabilities[1].rstrip("%")) >= float(probabilities[3].rstrip("%"))


def test_json_stdout_of_a_real_process_is_only_json(run, tiny_data):
    """TensorFlow's start-up lines and Keras' progress output stay off stdout."""
    image = tiny_data / "test" / "star4" / "star4_0000.jpg"
    done = subprocess.run([sys.executable, "-m", "convcli", "predict", str(image), "--run", str(run),
                           "--json"], capture_output=True, text=True, timeout=300,
                          env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "0"})
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)[0]["image"] == str(image)


def test_predict_refuses_bad_input(run, tmp_path, tiny_data):
    image = tiny_data / "test" / "star4" / "star4_0000.jpg"
    text = tmp_path / "notes.jpg"
    text.write_text("not an image")
    (tmp_path / "empty").mkdir()
    cases = [
        (["--run", run, text], f"{text} is not an image convcli can read"),
        (["--run", run, image, tmp_path / "gone.png"], f"image {tmp_path / 'gone.png'} does not exist"),
        (["--run", run, tmp_path / "empty"], f"folder {tmp_path / 'empty'} holds no images"),
        (["--run", "nope", "--runs-dir", run.parent, image], "no run matches 'nope'"),
        (["--runs-dir", tmp_path / "no-runs", image], "no runs in"),
    ]
    for args, expected in cases:
        result = invoke("predict", *args, "--json")
        assert_user_error(result, expected)
        assert result.stdout == ""  # a refusal prints no partial JSON

    runs = tmp_path / "runs"
    for name in ("2026-01-01_10-00-00_tiny", "2026-01-01_10-00-01_tiny"):
        shutil.copytree(run, runs / name)
    result = invoke("predict", image, "--run", "2026-01-01_10", "--runs-dir", runs)
    assert_user_error(result, "'2026-01-01_10' matches 2 runs")
    assert "2026-01-01_10-00-00_tiny" in result.stderr and "2026-01-01_10-00-01_tiny" in result.stderr

    shutil.rmtree(runs / "2026-01-01_10-00-00_tiny" / "checkpoints")
    assert_user_error(invoke("predict", image, "--run", runs / "2026-01-01_10-00-00_tiny"),
                      "run 2026-01-01_10-00-00_tiny has no checkpoint (status: completed)")


def test_predict_help_does_not_import_tensorflow():
    code = ("import sys\nfrom typer.testing import CliRunner\nfrom convcli.cli import app\n"
            "assert CliRunner().invoke(app, ['predict', '--help']).exit_code == 0\n"
            "assert 'tensorflow' not in sys.modules and 'keras' not in sys.modules\n")
    subprocess.run([sys.executable, "-c", code], check=True)
