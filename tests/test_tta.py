"""Test-time augmentation (`evaluate --tta N`, `predict --tta N`): outputs averaged over
views of each image, printed beside the one-view numbers and recorded for the run page."""

import json
import shutil

import numpy as np
import pytest

from tests.conftest import assert_user_error, invoke, tiny_config


@pytest.fixture(scope="module")
def augmented_run(tmp_path_factory, tiny_data):
    root = tmp_path_factory.mktemp("tta")
    config = root / "augment.yaml"
    import yaml

    config.write_text(yaml.safe_dump(tiny_config(tiny_data, "augment", augment={"rotation_range": 20},
                                                 train={"epochs": 3, "learning_rate": 1e-3})))
    result = invoke("train", config, "--runs-dir", root / "runs")
    assert result.exit_code == 0, result.output
    (run,) = (root / "runs").iterdir()
    return run


def test_views_are_the_image_then_its_mirror_or_the_runs_warps():
    from convcli.config import Augment
    from convcli.evaluation.tta import Views

    images = np.random.default_rng(0).uniform(0, 255, (3, 8, 8, 3)).astype("float32")
    mirror = Views(2)(images)
    assert np.array_equal(mirror[0], images) and np.array_equal(mirror[1], images[:, :, ::-1])
    warps = Views(4, Augment(rotation_range=30), seed=5)
    first, again = warps(images), warps(images)
    assert len(first) == 4 and np.array_equal(first[0], images)
    assert all(np.array_equal(a, b) for a, b in zip(first, again))  # fixed seeds: the same views
    assert not np.allclose(first[1], first[2])
    assert "3 warps of the run's augmentation" in warps.described


def test_evaluate_tta_prints_both_and_records_them(tmp_path, augmented_run):
    run = tmp_path / augmented_run.name
    shutil.copytree(augmented_run, run)
    plain = invoke("evaluate", run)
    assert plain.exit_code == 0, plain.output
    plain_png = (run / "confusion.png").read_bytes()
    result = invoke("evaluate", run, "--tta", "4")
    assert result.exit_code == 0, result.output
    text = " ".join(result.stdout.split())
    assert "test-time augmentation: 4 views (the image and 3 warps of the run's augmentation)" in text
    record = json.loads((run / "tta.json").read_text())["test"]
    # the one-view row is the plain evaluation, from the same pass
    assert f"accuracy {100 * record['accuracy']:.2f}%" in " ".join(plain.stdout.split())
    assert record["views"] == 4 and record["images"] == 24
    assert f"{100 * record['accuracy_tta']:.2f}%" in text and (run / "confusion-tta4.png").is_file()
    assert (run / "confusion.png").read_bytes() == plain_png  # --tta writes its own matrix
    page = (run / "report.html").read_text()
    assert "test split, 4 views averaged (evaluate --tta; one view: " in page


def test_a_run_without_augmentation_has_two_views(tmp_path, trained_run):
    result = invoke("evaluate", trained_run, "--tta", "3")
    assert_user_error(result, "--tta takes 1 or 2 views here (the image and its mirror)")
    assert not (trained_run / "tta.json").exists()


def test_predict_tta_averages_the_views(trained_run, tiny_data):
    image = next((tiny_data / "test").rglob("*.jpg"))
    once = json.loads(invoke("predict", image, "--run", trained_run, "--json").stdout)
    both = invoke("predict", image, "--run", trained_run, "--json", "--tta", "2")
    assert both.exit_code == 0, both.output
    twice = json.loads(both.stdout)

    def probabilities(results):
        return {p["class"]: p["probability"] for p in results[0]["probabilities"]}

    assert sum(probabilities(twice).values()) == pytest.approx(1, abs=1e-5)
    assert probabilities(twice) != probabilities(once)  # the mirror counts
