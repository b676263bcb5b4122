"""`convcli summary`: shapes equal Keras' own, for a config, a run and a model file."""

import re

import keras
import pytest
from typer.testing import CliRunner

from convcli.cli import app
from convcli.config import validate
from convcli.models.convnet import build_convnet
from convcli.models.cost import model_macs
from convcli.models.pretrained import transfer_model
from convcli.models.table import format_shape, layer_rows, totals
from convcli.tables import as_text, layer_table

runner = CliRunner()


def table_rows(text: str) -> dict:
    """Layer name -> its line, from convcli's layer table (rows are indented, 7 columns)."""
    return {line.split()[0]: line for line in text.splitlines()
            if line.startswith(" ") and not line.startswith(" layer ") and len(line.split()) >= 7}


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
    result = runner.invoke(app, ["summary", str(config)], env={"COLUMNS": "80"})
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
    # model.txt, written at the end of the run, has the cost columns too: 3, 4, 8, 10 pixels.
    model_txt = (run / "model.txt").read_text()
    assert "MACs" in model_txt
    assert "pool2, the last feature map, sees 10x10" in " ".join(model_txt.split())


def test_lambda_model_is_refused(tmp_path):
    inputs = keras.Input((4,))
    model = keras.Model(inputs, keras.layers.Lambda(lambda x: x * 2)(inputs))
    path = tmp_path / "lambda.keras"
    model.save(path)
    result = runner.invoke(app, ["summary", str(path)])
    assert result.exit_code == 1 and f"model {path} contains a Lambda layer" in result.stderr


def test_summary_shows_multiply_adds_and_receptive_fields(write_config):
    # The book's convnet at 150x150 (figures by hand in test_cost.py).
    config = write_config({"stage": "scratch", "data": {"image_size": 150}})
    result = runner.invoke(app, ["summary", str(config)], env={"COLUMNS": "80"})
    assert result.exit_code == 0, result.output
    rows = table_rows(result.stdout)
    assert "18.9M" in rows["conv1"] and "3x3" in rows["conv1"]      # 148*148*32 * 3*3*3
    assert "95.6M" in rows["conv2"] and "8x8" in rows["conv2"]
    assert "46x46" in rows["pool4"] and rows["dense"].split()[-1] == "all"
    assert "3,453,121 parameters" in result.stdout and "236 MMACs per image" in result.stdout
    assert "pool4, the last feature map, sees 46x46" in " ".join(result.stdout.split())


def test_layer_table_fits_100_columns_with_a_nested_base():
    base = keras.applications.VGG16(include_top=False, weights=None, input_shape=(224, 224, 3))
    model = transfer_model(base, "vgg16", (224, 224), dense_units=256, dropout=0.5, num_classes=2)
    rows = layer_rows(model)
    text = as_text(layer_table(rows, title=model.name), width=100)
    assert max(len(line.rstrip()) for line in text.splitlines()) <= 100 and "…" not in text
    found = table_rows(text)
    assert list(found) == [row.name for row in rows]  # one line per layer: nothing wrapped
    vgg16 = found["vgg16"]
    assert "15.3G" in vgg16 and "212x212" in vgg16
    assert totals(rows)["macs"] == model_macs(model)
    assert "15.4 GMACs per image" in text  # 15.35G in the base, 6.4M in the head
    assert "vgg16, the last feature map, sees 212x212" in " ".join(text.split())


def test_model_without_images_shows_no_receptive_field():
    inputs = keras.Input((4,))
    model = keras.Model(inputs, keras.layers.Dense(3, name="dense")(inputs))
    text = as_text(layer_table(layer_rows(model), title="vectors"))
    row = table_rows(text)["dense"]
    assert row.split()[-1] == "-" and "12" in row
    assert "sees" not in text and "12 MACs per image" in text
