"""The command line as a user meets it: exit codes, one-line errors, nothing left behind."""

import json

import pytest

from tests.conftest import assert_user_error, invoke, tiny_config


def test_every_command_has_help():
    for args in ([], ["train"], ["summary"], ["pretrain"], ["schema"], ["data"], ["data", "synth"]):
        result = invoke(*args, "--help")
        assert result.exit_code == 0 and "Usage" in result.output


def test_command_lists_show_each_summary_as_one_sentence():
    """`convcli --help` lists a command's short help, else its whole docstring's first
    paragraph with its line breaks, which shows as half-empty lines in the list."""
    import typer
    from typer.core import TyperGroup

    from convcli.cli import app

    def listed(group):
        for name, command in group.commands.items():
            yield name, command
            if isinstance(command, TyperGroup):
                yield from listed(command)

    for name, command in listed(typer.main.get_command(app)):
        text = command.help if isinstance(command, TyperGroup) else command.short_help
        assert text and "\n" not in text and text.endswith("."), (name, text)


def test_bad_usage_exits_2():
    assert invoke("train").exit_code == 2
    assert invoke("nonsense").exit_code == 2
    assert invoke("data", "synth", "x", "--per-class", "many").exit_code == 2


@pytest.mark.parametrize("config, expected", [
    ({"stage": "scratch", "trian": {}}, "unknown key trian; did you mean train?"),
    ({"stage": "scratch", "train": {"epochs": "x"}}, "train.epochs"),
    ({"stage": "extract", "model": {"base": "vgg_16"}}, "model.base: unknown base; did you mean vgg16?"),
    ({"stage": "scratch", "distribute": "multi_worker"}, "distribute: multi_worker is refused"),
    ({"stage": "scratch", "data": {"train_dir": "/no/such/dir", "validation_split": 0.2}},
     "data.train_dir /no/such/dir does not exist"),
])
def test_config_and_data_errors_leave_no_run(tmp_path, write_config, config, expected):
    result = invoke("train", write_config(config), "--runs-dir", tmp_path / "runs")
    assert_user_error(result, expected)
    assert not (tmp_path / "runs").exists() or not any((tmp_path / "runs").iterdir())


def test_single_class_folder_is_refused(tmp_path, write_config, tiny_data):
    cfg = tiny_config(tiny_data)
    cfg["data"]["train_dir"] = str(tiny_data / "train" / "..")
    cfg["data"]["validation_dir"] = str(tiny_data / "validation")
    result = invoke("train", write_config(cfg), "--runs-dir", tmp_path / "runs")
    assert_user_error(result, "every split needs the same class subfolders")


def test_yaml_error_names_file_and_line(tmp_path):
    config = tmp_path / "broken.yaml"
    config.write_text("stage: scratch\ntrain: [\n")
    assert_user_error(invoke("train", config), f"{config}:3:1: YAML error")


def test_bad_set_override(write_config):
    result = invoke("train", write_config({"stage": "scratch"}), "--set", "train.epochs")
    assert_user_error(result, "--set expects key.path=value")


def test_unwritable_runs_dir(tmp_path, write_config, tiny_data):
    blocker = tmp_path / "file"
    blocker.write_text("")
    result = invoke("train", write_config(tiny_config(tiny_data)), "--runs-dir", blocker / "runs")
    assert_user_error(result, "cannot create a run in")


def test_schema_is_json():
    schema = json.loads(invoke("schema").stdout)
    assert schema["title"] == "Config" and "augment" in schema["properties"]


def test_data_synth(tmp_path):
    result = invoke("data", "synth", tmp_path / "d", "--per-class", 2, "--image-size", 24, "--seed", 3)
    assert result.exit_code == 0 and "wrote 12 images (star4, star6)" in result.stdout
    assert len(list((tmp_path / "d").rglob("*.jpg"))) == 12
    assert_user_error(invoke("data", "synth", tmp_path / "d"), "already exists")
    assert_user_error(invoke("data", "synth", tmp_path / "e", "--task", "cats"), "unknown task 'cats'")


def test_summary_errors(tmp_path):
    assert_user_error(invoke("summary", "--runs-dir", tmp_path), "no runs in")
    assert_user_error(invoke("summary", tmp_path / "missing.keras"), "does not exist")
    bad = tmp_path / "bad.keras"
    bad.write_bytes(b"not a zip")
    assert_user_error(invoke("summary", bad), "is not a .keras model")


def test_gradcam_refuses_a_model_file_with_a_lambda_layer(tmp_path, tiny_data):
    import keras

    inputs = keras.Input((32, 32, 3))
    keras.Model(inputs, keras.layers.Lambda(lambda x: x * 2)(inputs)).save(tmp_path / "lambda.keras")
    result = invoke("gradcam", tiny_data / "test" / "star4", "--model", tmp_path / "lambda.keras")
    assert_user_error(result, f"model {tmp_path}/lambda.keras contains a Lambda layer")


def test_nothing_reaches_the_network_without_imagenet_weights(tmp_path, write_config, tiny_data,
                                                             monkeypatch):
    """Train, explain and summarize with every outgoing connection refused."""
    import socket

    attempts = []

    def refuse(*args, **kwargs):
        attempts.append(args)
        raise OSError("network use is not allowed in this test")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
    config = write_config(tiny_config(tiny_data, train={"epochs": 1}) | {"explain": {"gradcam_images": 2}})
    runs = tmp_path / "runs"
    assert invoke("train", config, "--runs-dir", runs).exit_code == 0
    image = next((tiny_data / "test" / "star4").iterdir())
    for args in (["summary", "--runs-dir", runs], ["data", "check", tiny_data],
                 ["gradcam", image, "--runs-dir", runs, "--out", tmp_path / "g"]):
        result = invoke(*args)
        assert result.exit_code == 0, result.output
    assert attempts == []
