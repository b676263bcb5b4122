"""Class weights on imbalanced data, and the metric that picks the best epoch (issue 17)."""

import csv
import json

import pytest

from convcli.config import load_config, validate
from tests.conftest import invoke, tiny_config


@pytest.fixture(scope="session")
def imbalanced_data(tmp_path_factory):
    """Two classes, 20 star4 : 100 star6 training images; validation and test balanced."""
    from convcli.data.synthetic import generate

    root = generate(tmp_path_factory.mktemp("imbalanced") / "shapes", per_class=100, image_size=32)
    for path in sorted((root / "train" / "star4").iterdir())[20:]:
        path.unlink()
    for split in ("validation", "test"):
        for folder in (root / split).iterdir():
            for path in sorted(folder.iterdir())[30:]:
                path.unlink()
    return root


def train_once(tmp_path, data, name, **train):
    cfg = tiny_config(data, train={"epochs": 8, "learning_rate": 1e-3, **train})
    config = tmp_path / f"{name}.yaml"
    config.write_text(json.dumps(cfg))
    result = invoke("train", config, "--runs-dir", tmp_path / "runs")
    assert result.exit_code == 0, result.output
    [run] = [p for p in (tmp_path / "runs").iterdir() if p.name.endswith(name)]
    return run, json.loads((run / "summary.json").read_text())


def test_balanced_class_weight_raises_the_minority_class_recall(tmp_path, imbalanced_data):
    # At 3e-3 the plain model calls every test image a star6 (star4 recall 0.00) and
    # the balanced one finds 0.27 of the ellipses; at 1e-3 neither learns much in 8 epochs.
    _, plain = train_once(tmp_path, imbalanced_data, "plain", learning_rate=3e-3)
    _, weighted = train_once(tmp_path, imbalanced_data, "balanced", class_weight="balanced",
                             learning_rate=3e-3)
    assert plain["class_weight"] is None
    assert weighted["class_weight"] == {"star4": 3.0, "star6": 0.6}  # 120 / (2 * count)
    recall = {name: summary["per_class"]["star4"]["recall"] for name, summary in
              (("plain", plain), ("balanced", weighted))}
    assert recall["balanced"] > recall["plain"] + 0.2, recall


def test_monitor_val_accuracy_picks_the_most_accurate_epoch(tmp_path, tiny_data):
    run, summary = train_once(tmp_path, tiny_data, "accuracy", monitor="val_accuracy", epochs=5)
    with open(run / "metrics.csv", newline="") as handle:
        rows = list(csv.DictReader(handle))
    accuracies = [float(row["val_accuracy"]) for row in rows]
    assert summary["monitor"] == "val_accuracy"
    assert summary["best_epoch"] == accuracies.index(max(accuracies)) + 1
    assert summary["best"]["val_accuracy"] == pytest.approx(max(accuracies))
    assert load_config(run / "config.yaml").train.monitor == "val_accuracy"
    shown = invoke("runs", "show", run, "--runs-dir", tmp_path / "runs").stdout
    assert "best epoch: the highest val_accuracy" in shown


def test_early_stopping_follows_the_monitor_unless_it_names_its_own(tiny_data):
    cfg = tiny_config(tiny_data, train={"monitor": "val_accuracy", "early_stopping": {"patience": 2}})
    assert validate(cfg).train.early_stopping.monitor == "val_accuracy"
    cfg["train"]["early_stopping"]["monitor"] = "loss"
    assert validate(cfg).train.early_stopping.monitor == "loss"
    assert validate(tiny_config(tiny_data)).train.monitor == "val_loss"
