"""convcli/config/: the schema, every error path, overrides, the resolved YAML."""

import pytest

from convcli.config import apply_override, json_schema, load_config, to_yaml, validate
from convcli.errors import ConfigError


def error_of(raw) -> str:
    with pytest.raises(ConfigError) as caught:
        validate(raw, source="x.yaml")
    message = str(caught.value)
    assert "\n" not in message and message.startswith("x.yaml: ")
    return message


@pytest.mark.parametrize("raw, expected", [
    ({"stage": "scratch", "trian": {}}, "unknown key trian; did you mean train?"),
    ({"stage": "scratch", "train": {"epoch": 3}}, "unknown key train.epoch; did you mean epochs?"),
    ({"stage": "scratch", "model": {"conv_filter": [8]}}, "did you mean conv_filters?"),
    ({"stage": "scratch", "train": {"early_stopping": {"patiense": 2}}}, "did you mean patience?"),
    ({"stage": "scratch", "zzz": 1}, "known keys: name, stage"),
    ({"stage": "scratch", "train": {"epochs": "many"}}, "train.epochs: "),
    ({"stage": "scratch", "train": {"epochs": 0}}, "Received: 0"),
    ({"stage": "scratch", "train": {"learning_rate": "fast"}}, "train.learning_rate"),
    ({"stage": "scratch", "data": {"batch_size": -1}}, "data.batch_size"),
    ({"stage": "scratch", "data": {"cache": "ram"}}, "data.cache"),
    ({"stage": "scratch", "data": {"image_size": [4, 4]}}, "at least 8 pixels"),
    ({"stage": "scratch", "model": {"padding": "full"}}, "model.padding"),
    ({"stage": "scratch", "model": {"dropout": 1.5}}, "model.dropout"),
    ({"stage": "scratch", "model": {"conv_filters": [8, 0]}}, "positive number of filters"),
    ({"stage": "scrath"}, "stage: Input should be 'scratch'"),
    ({}, "stage is required"),
    ({"stage": "augment"}, "stage augment needs an augment section"),
    ({"stage": "scratch", "augment": {}}, "stage scratch does not use the augment section"),
    ({"stage": "augment", "augment": {}, "fine_tune": {}}, "does not use the fine_tune section"),
    ({"stage": "extract", "augment": {}}, "cannot augment; remove the augment section or use method: frozen"),
    ({"stage": "augment", "augment": {"rotation_range": 400}}, "augment.rotation_range"),
    ({"stage": "augment", "augment": {"fill_mode": "mirror"}}, "augment.fill_mode"),
    ({"stage": "fine-tune", "fine_tune": {"unfreeze_from": "a", "unfreeze_last": 2}}, "not both"),
    ({"stage": "scratch", "data": {"train_dir": "d"}}, "set exactly one of validation_dir or validation_split"),
    ({"stage": "scratch", "data": {"train_dir": "d", "validation_dir": "v", "validation_split": 0.2}},
     "set exactly one"),
    ({"stage": "scratch", "data": {"train_dir": "d", "validation_split": 1.5}}, "data.validation_split"),
    ({"stage": "scratch", "data": {"test_dir": "t"}}, "builtin brings its own validation and test splits"),
    ({"stage": "scratch", "data": {"image_size": [32, 32]}},
     "too small for 4 conv blocks (kernel_size 3, padding valid, strides 1): the feature map vanishes at block 4"),
    ({"stage": "scratch", "distribute": "multi_worker"}, "distribute"),
    ({"stage": "scratch", "train": {"early_stopping": {"monitor": "val_acc"}}}, "train.early_stopping.monitor"),
])
def test_invalid_configs_name_the_problem(raw, expected):
    assert expected in error_of(raw)


def test_first_error_is_shown_with_a_count_of_the_rest():
    assert "(and 1 more)" in error_of({"stage": "scratch", "train": {"epochs": "x", "learning_rate": "y"}})


def test_values_are_coerced_and_stage_defaults_resolved():
    cfg = validate({"stage": "scratch", "train": {"learning_rate": "1e-5"}, "data": {"image_size": 96}})
    assert cfg.train.learning_rate == 1e-5  # PyYAML reads 1e-5 as a string
    assert cfg.data.image_size == (96, 96)
    assert cfg.model.dropout == 0.0 and cfg.model.weights == "builtin"
    assert validate({"stage": "augment", "augment": {}}).model.dropout == 0.5
    assert validate({"stage": "scratch", "model": {"base": "vgg16"}}).model.weights == "imagenet"
    assert validate({"stage": "fine-tune"}).fine_tune.learning_rate == 1e-5


def test_padding_same_keeps_small_images_valid():
    validate({"stage": "scratch", "data": {"image_size": [32, 32]}, "model": {"padding": "same"}})


def test_overrides_apply_before_validation(write_config):
    path = write_config({"stage": "scratch", "train": {"epochs": 30}})
    cfg = load_config(path, ["train.epochs=3", "data.image_size=[80, 96]", "model.conv_filters=[8,16]",
                             "train.early_stopping={monitor: val_loss, patience: 2}"])
    assert cfg.train.epochs == 3 and cfg.data.image_size == (80, 96)
    assert cfg.model.conv_filters == [8, 16] and cfg.train.early_stopping.patience == 2
    assert cfg.name == "experiment"  # the file's stem


@pytest.mark.parametrize("override, expected", [
    ("train.epochs", "--set expects key.path=value"),
    ("=3", "--set expects key.path=value"),
    ("train.epochs.deep=3", "train.epochs is a value, not a section"),
    ("train.epochs=[1", "the value is not valid YAML"),
])
def test_bad_overrides(override, expected):
    raw = {"stage": "scratch", "train": {"epochs": 1}}
    with pytest.raises(ConfigError, match=expected.replace("[", r"\[").replace(".", r"\.")):
        apply_override(raw, override)


def test_override_of_unknown_key_gets_a_hint(write_config):
    with pytest.raises(ConfigError, match="did you mean epochs"):
        load_config(write_config({"stage": "scratch"}), ["train.epoch=3"])


@pytest.mark.parametrize("text, expected", [
    ("stage: scratch\ntrain:\n  epochs: [1\n", "experiment.yaml:4:1: YAML error"),
    ("stage: scratch\n  bad: indent\n", "experiment.yaml:2:6: YAML error"),
    ("", "is empty"),
    ("- a\n- b\n", "must hold a mapping of config keys, not a list"),
    ("stage: !!python/object/apply:os.system ['echo pwned']\n", "YAML error"),
])
def test_yaml_problems_name_file_and_line(write_config, text, expected):
    with pytest.raises(ConfigError) as caught:
        load_config(write_config(text))
    assert expected in str(caught.value)


def test_missing_config_file(tmp_path):
    with pytest.raises(ConfigError, match="does not exist"):
        load_config(tmp_path / "nope.yaml")


def test_resolved_yaml_round_trips(write_config):
    cfg = validate({"stage": "augment", "augment": {"rotation_range": 10}, "train": {"epochs": 4}})
    again = load_config(write_config(to_yaml(cfg)))
    assert again.model_dump() == cfg.model_dump()


def test_schema_covers_every_section():
    properties = json_schema()["properties"]
    for key in ("name", "stage", "seed", "deterministic", "data", "model", "augment", "extract",
                "fine_tune", "train", "explain", "distribute"):
        assert key in properties
