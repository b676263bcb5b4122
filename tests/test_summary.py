"""`convcli summary`: shapes equal Keras' own, for a config, a run and a model file."""

import re

import keras
import pytest
from typer.testing import CliRunner

from convcli.cli import app
from convcli.config import validate
from convcli.models.convnet import build_convnet
from convcli.models.table import format_shape, layer_rows, totals

runner = CliRunner()


def keras_shapes(model) -> dict:
    """Layer name -> output shape, parsed from Keras' own model.summary()."""
    lines = []
    model.summary(print_fn=lambda line, **kwargs: lines.append(line))
    found = {}
    for line in "\n".join(lines).splitlines():
        match = re.match(r"\W*(\w+) \((\w+)\)\s*│\s*(\([^)]*\))", line)
        if match:
            found[match.group(1)] = match.group(3)
    return found


@pytest.mark.parametrize("model_section, image_size", [
    ({}, 150),
    ({"padding": "same", "pooling": "average", "conv_filters": [8, 16, 32]}, 64),
    ({"strides": 2, "kernel_size": 5, "conv_filters": [4, 8], "dropout": 0.3}, 96),
])
def test_shapes_equal_keras_summary(model_section, image_size):
    cfg = validate({"stage": "scratch", "model": model_section, "data": {"image_size": image_size}})
    model = build_convnet(cfg.model, cfg.data.image_size, num_classes=3)
    rows = layer_rows(model)
    expected = keras_shapes(model)
    assert len(expected) == len(rows)
    for row in rows:
        assert format_shape(row.output_shape) == expected[row.name]
    assert totals(rows)["total"] == model.count_params()


def test_book_convnet_shapes_at_150():
    cfg = validate({"stage": "scratch", "data": {"image_size": 150}})
    shapes = {r.name: r.output_shape for r in layer_rows(build_convnet(cfg.model, (150, 150), 2))}
    assert shapes["conv1"] == (None, 148, 148, 32)  # border effects: 3x3 windows lose 2 pixels
    assert shapes["pool4"] == (None, 7, 7, 128)     # as in the book's model.summary()
    assert shapes["flatten"] == (None, 6272)


def test_summary_of_a_config_builds_without_training(write_config):
    config = write_config({"stage": "augment", "augment": {}, "data": {"image_size": [96, 96]}})
    result = runner.invoke(app, ["summary", str(config)])
    assert result.exit_code == 0, result.output
    assert "(None, 94, 94, 32)" in result.stdout and "dropout" in result.stdout
    assert "untrained" in result.stdout and "504,001" not in result.stdout


def test_summary_of_run_and_model_file(tmp_path, write_config, tiny_data):
    from tests.conftest import tiny_config

    runs = tmp_path / "runs"
    assert runner.invoke(app, ["train", str(write_config(tiny_config(tiny_data))), "--runs-dir",
                               str(runs), "--set", "train.epochs=1"]).exit_code == 0
    [run] = list(runs.iterdir())
    for args in (["--runs-dir", str(runs)], [str(run)], [run.name[:10], "--runs-dir", str(runs)],
                 [str(run / "checkpoints" / "best.keras")]):
        result = runner.invoke(app, ["summary", *args])
        assert result.exit_code == 0, result.output
        assert "(None, 30, 30, 8)" in result.stdout and "conv2" in result.stdout


def test_lambda_model_is_refused(tmp_path):
    inputs = keras.Input((4,))
    model = keras.Model(inputs, keras.layers.Lambda(lambda x: x * 2)(inputs))
    path = tmp_path / "lambda.keras"
    model.save(path)
    result = runner.invoke(app, ["summary", str(path)])
    assert result.exit_code == 1 and f"model {path} contains a Lambda layer" in result.stderr
