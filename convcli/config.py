"""The experiment config: its schema, every rule about it, and the only YAML reader.

`load_config(path, overrides)` reads a YAML file (safeyaml.py: safe and bounded), applies `--set`
overrides, validates, and returns a `Config`. Any problem becomes a `ConfigError`
whose one-line message names the file, the key path and the value received.
"""

from __future__ import annotations

import difflib
import math
import os
from pathlib import Path
from typing import Any, Callable, Literal, Optional, Union

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from convcli import safeyaml
from convcli.bases import BASE_NAMES, BASES, BUILTIN, BUILTIN_FILTERS
from convcli.errors import ConfigError


# Upper bounds on what a config can make convcli allocate or run: a config from elsewhere
# is untrusted (safeyaml.py bounds the file itself).
MAX_SIZE = 4096  # pixels on an image side, images in a batch, filters in a conv layer
MAX_UNITS = 65536  # units of the dense layer
MAX_EPOCHS = 100_000
MAX_SHOWN = 80  # characters of a received value quoted in an error

# The config format's version, and the steps that read older ones: UPGRADES[n] turns the
# mapping of a version-n config into version n + 1 (a renamed key, a moved section). Version
# 1 is the format since the first release, so there is no step yet; the first change to a
# key name adds UPGRADES[1] (docs/architecture.md#record-and-config-versions).
CONFIG_VERSION = 1
UPGRADES: dict[int, Callable[[dict], dict]] = {}


class Section(BaseModel):
    """A config section: unknown keys are errors."""

    model_config = ConfigDict(extra="forbid")


class EarlyStopping(Section):
    monitor: Optional[Literal["val_loss", "val_accuracy", "loss", "accuracy"]] = Field(
        None, description="the metric watched: val_loss | val_accuracy | loss | accuracy; "
        "default: train.monitor")
    patience: int = Field(5, ge=1, description="epochs without improvement before training stops")


class Data(Section):
    train_dir: str = Field(BUILTIN, description="a folder with one subfolder of images per class, "
                           "or builtin (the built-in dataset, with its own validation and test splits)")
    validation_dir: Optional[str] = Field(None, description="a folder with the same class "
                                          "subfolders (give this or validation_split)")
    validation_split: Optional[float] = Field(None, gt=0, lt=1, description="the fraction of "
                                              "train_dir held out per class for validation, by seed")
    test_dir: Optional[str] = Field(None, description="optional folder of the same classes; its "
                                    "accuracy is reported for the best checkpoint")
    image_size: tuple[int, int] = Field((64, 64), description="[height, width] (or one number) "
                                        "every image is resized to, bilinear")
    batch_size: int = Field(32, ge=1, le=MAX_SIZE, description="images per training step (the "
                            "global batch under distribute)")
    color_mode: Literal["rgb", "grayscale"] = Field(
        "rgb", description="rgb | grayscale (Keras' name): grayscale images train scratch and "
        "augment models with one input channel; a pretrained base (3 channels) gets them repeated "
        "to 3 inside the model, so the saved model takes grayscale images either way")
    cache: Literal["auto", "memory", "disk", "none"] = Field(
        "auto", description="decoded images: auto (memory when they fit in 1 GiB, else none) | "
        "memory | disk (a file in the run directory, deleted at the end) | none (decode every epoch)")
    on_bad_file: Literal["error", "skip"] = Field(
        "error", description="an image that cannot be decoded: error (refuse to train, listing "
        "them) | skip (leave it out, with a warning)")

    @field_validator("image_size", mode="before")
    @classmethod
    def _square_from_int(cls, value: Any) -> Any:
        return (value, value) if isinstance(value, int) else value

    @field_validator("image_size")
    @classmethod
    def _positive_size(cls, value: tuple[int, int]) -> tuple[int, int]:
        if min(value) < 8:
            raise ValueError("each side must be at least 8 pixels")
        if max(value) > MAX_SIZE:
            raise ValueError(f"each side must be at most {MAX_SIZE} pixels")
        return value

    @property
    def channels(self) -> int:
        """The model's input channels: 1 for grayscale, 3 for rgb."""
        return 1 if self.color_mode == "grayscale" else 3

    @model_validator(mode="after")
    def _one_validation_source(self) -> "Data":
        if self.train_dir == BUILTIN:
            given = [k for k in ("validation_dir", "validation_split", "test_dir") if getattr(self, k) is not None]
            if given:
                raise ValueError(f"train_dir: builtin brings its own validation and test "
                                 f"splits; remove {', '.join(given)}")
        elif (self.validation_dir is None) == (self.validation_split is None):
            raise ValueError("set exactly one of validation_dir or validation_split "
                             f"(received validation_dir={self.validation_dir}, "
                             f"validation_split={self.validation_split})")
        return self


class Model(Section):
    conv_filters: list[int] = Field(default_factory=lambda: [32, 64, 128, 128], min_length=1,
                                    max_length=32, description="scratch / augment: one Conv2D + "
                                    "2x2 pooling block per entry, with this many filters")
    kernel_size: int = Field(3, ge=1, le=64, description="side of each Conv2D kernel")
    padding: Literal["valid", "same"] = Field("valid", description="valid: border effects shrink "
                                              "each feature map | same: its size is kept")
    strides: int = Field(1, ge=1, le=64, description="stride of each Conv2D")
    pooling: Literal["max", "average"] = Field("max", description="the 2x2 pooling after each "
                                               "conv block: max | average")
    dense_units: int = Field(512, ge=1, le=MAX_UNITS, description="units of the classifier's "
                             "dense layer (every stage)")
    dropout: Optional[float] = Field(None, ge=0, lt=1, description="default: 0 for scratch, 0.5 otherwise")
    base: str = Field(BUILTIN, description="extract / fine-tune: builtin or a keras.applications "
                      "convnet: " + ", ".join(BASES))
    weights: Optional[str] = Field(None, description="imagenet | none | builtin | a weights or "
                                   ".keras file; default: builtin for the builtin base, else imagenet")

    @field_validator("base")
    @classmethod
    def _known_base(cls, value: str) -> str:
        by_application = {info.application: name for name, info in BASES.items()}
        value = by_application.get(value, value)  # VGG16, as keras.applications spells it
        if value not in BASE_NAMES:
            close = closest(value.lower(), BASE_NAMES)
            hint = f"did you mean {' or '.join(close)}? " if close else ""
            raise ValueError(f"unknown base; {hint}known bases: {', '.join(BASE_NAMES)}")
        return value

    @field_validator("conv_filters")
    @classmethod
    def _positive_filters(cls, value: list[int]) -> list[int]:
        if min(value) < 1 or max(value) > MAX_SIZE:
            raise ValueError(f"every entry must be a positive number of filters, at most {MAX_SIZE}")
        return value


class Augment(Section):
    """The book's ImageDataGenerator arguments, in its units (degrees, fractions)."""

    rotation_range: float = Field(40, ge=0, le=180, description="degrees")
    width_shift_range: float = Field(0.2, ge=0, lt=1, description="fraction of the width")
    height_shift_range: float = Field(0.2, ge=0, lt=1, description="fraction of the height")
    shear_range: float = Field(0.2, ge=0, le=45, description="degrees, as in ImageDataGenerator")
    zoom_range: float = Field(0.2, ge=0, lt=1, description="zoom in [1 - z, 1 + z] per axis")
    horizontal_flip: bool = Field(True, description="flip half the images left to right")
    fill_mode: Literal["nearest", "reflect", "wrap", "constant"] = Field(
        "nearest", description="pixels from outside the image: nearest | reflect | wrap | constant")


class Extract(Section):
    method: Literal["features", "frozen"] = Field(
        "features", description="features: the base runs once per image (cached) and a dense "
        "head trains on its outputs | frozen: the frozen base inside the model, trained end to end")


class FineTune(Section):
    head_epochs: int = Field(10, ge=0, le=MAX_EPOCHS, description="phase head: epochs with the "
                             "base frozen, at train.learning_rate")
    init_from: Optional[str] = Field(None, description="a finished extract or fine-tune run "
                                     "directory: its best model supplies base and head, and "
                                     "phase head is skipped")
    unfreeze_from: Optional[str] = Field(None, description="phase fine-tune unfreezes the base "
                                         "from this layer on; default: the first layer of the "
                                         "base's last block")
    unfreeze_last: Optional[int] = Field(None, ge=1, description="or unfreeze the base's last N "
                                         "layers (not with unfreeze_from)")
    learning_rate: float = Field(1e-5, gt=0, description="phase fine-tune's learning rate; it "
                                 "runs train.epochs epochs")

    @model_validator(mode="after")
    def _one_unfreeze_rule(self) -> "FineTune":
        if self.unfreeze_from is not None and self.unfreeze_last is not None:
            raise ValueError("set unfreeze_from or unfreeze_last, not both")
        return self


class Train(Section):
    epochs: int = Field(30, ge=1, le=MAX_EPOCHS, description="epochs to train (fine-tune: of "
                        "phase fine-tune)")
    optimizer: Literal["rmsprop", "adam", "adamw", "sgd"] = Field(
        "rmsprop", description="rmsprop | adam | adamw | sgd, with Keras' defaults")
    learning_rate: float = Field(1e-4, gt=0, description="the optimizer's learning rate")
    early_stopping: Optional[EarlyStopping] = Field(None, description="stop when the monitored "
                                                    "metric stops improving; default: train "
                                                    "every epoch")
    class_weight: Union[Literal["none", "balanced"], dict[str, float]] = Field(
        "none", description="weigh each class's loss (Keras' class_weight): none | balanced "
        "(n_images / (n_classes * n_class_images), from the training split) | {class_name: "
        "weight} (classes left out weigh 1)")
    monitor: Literal["val_loss", "val_accuracy"] = Field(
        "val_loss", description="what picks the best epoch: the best checkpoint, early stopping's "
        "default and every table's best epoch (lowest val_loss or highest val_accuracy)")
    jit_compile: Union[bool, Literal["auto"]] = Field(
        "auto", description="XLA: auto (Keras decides; off on CPUs and under distribute) | true | false")
    mixed_precision: Literal["none", "mixed_float16", "mixed_bfloat16"] = Field(
        "none", description="Keras dtype policy: mixed_float16 for GPUs (loss scaling included), "
        "mixed_bfloat16 for TPUs and CPUs with bfloat16; the output layer stays float32")
    steps_per_execution: int = Field(1, ge=1, description="batches per call of the compiled "
                                     "train step; batch callbacks (progress, NaN check) run once per call")

    @field_validator("class_weight", mode="before")
    @classmethod
    def _known_weights(cls, value: Any) -> Any:
        """One clear message for every wrong value (not one per member of the Union)."""
        if value is None or value is False:
            return "none"
        numbers = isinstance(value, dict) and value and all(
            isinstance(w, (int, float)) and not isinstance(w, bool) and 0 <= w <= 1e6 for w in value.values())
        if value not in ("none", "balanced") and not numbers:
            raise ValueError("use none, balanced or {class_name: weight} with weights from 0 to 1e6")
        return value

    @field_validator("mixed_precision", mode="before")
    @classmethod
    def _off_is_none(cls, value: Any) -> Any:
        return "none" if value is False or value is None else value


class Explain(Section):
    gradcam_images: int = Field(8, ge=0, description="Grad-CAM of this many sampled validation "
                                "images at the end of every run (0: none)")
    layer: Optional[str] = Field(None, description="the layer Grad-CAM explains; default: the "
                                 "last feature map before the final pooling")


class Config(Section):
    """One experiment. Key names follow the Keras arguments they feed."""

    name: Optional[str] = Field(None, description="default: the config file's stem")
    stage: Literal["scratch", "augment", "extract", "fine-tune"] = Field(
        ..., description="the workflow's step: scratch | augment | extract | fine-tune")
    seed: int = Field(1337, ge=0, lt=2**32,  # NumPy's seed range
                      description="seeds Python, NumPy, TensorFlow, the shuffle and augmentation")
    deterministic: bool = Field(False, description="TensorFlow op determinism: bit-identical "
                                "reruns (jit_compile auto then leaves XLA off)")
    data: Data = Field(default_factory=Data, description="where the images are and how they are read")
    model: Model = Field(default_factory=Model, description="the network: a small convnet, or a "
                         "pretrained base and a head")
    augment: Optional[Augment] = Field(None, description="random transforms of training images "
                                       "(augment: {} takes the book's values)")
    extract: Optional[Extract] = Field(None, description="stage extract only")
    fine_tune: Optional[FineTune] = Field(None, description="stage fine-tune only")
    train: Train = Field(default_factory=Train, description="the optimizer and the epochs")
    explain: Explain = Field(default_factory=Explain, description="Grad-CAM at the end of a run")
    distribute: Literal["none", "mirrored", "multi_worker"] = Field(
        "none", description="none | mirrored (tf.distribute.MirroredStrategy over this machine's "
        "GPUs); multi_worker is refused: Keras 3.15 cannot fit under it")
    version: int = Field(CONFIG_VERSION, ge=1, le=CONFIG_VERSION, description="the config format's "
                         f"version (this convcli: {CONFIG_VERSION}); default: this convcli's. An older "
                         "one is upgraded when read, a newer one refused")

    @model_validator(mode="after")
    def _resolve(self) -> "Config":
        _check_sections(self)
        _check_feature_map(self)
        _fill_stage_defaults(self)
        _check_base(self)
        _check_distribute(self)
        return self


# Which optional sections each stage reads. A section a stage ignores is an error, so a
# config never looks like it does something it does not.
STAGE_SECTIONS = {
    "scratch": set(),
    "augment": {"augment"},
    "extract": {"extract", "augment"},
    "fine-tune": {"fine_tune", "augment"},
}


def _check_sections(cfg: Config) -> None:
    for section in ("augment", "extract", "fine_tune"):
        if getattr(cfg, section) is not None and section not in STAGE_SECTIONS[cfg.stage]:
            users = [s for s, keys in STAGE_SECTIONS.items() if section in keys]
            raise ValueError(f"stage {cfg.stage} does not use the {section} section; remove it "
                             f"or use stage {' or '.join(users)}")
    if cfg.stage == "augment" and cfg.augment is None:
        raise ValueError("stage augment needs an augment section (an empty one, augment: {}, "
                         "takes the book's values)")
    method = cfg.extract.method if cfg.extract else Extract().method
    if cfg.stage == "extract" and method == "features" and cfg.augment is not None:
        raise ValueError("extract method features precomputes the base's outputs once, so it "
                         "cannot augment; remove the augment section or use method: frozen")


def _check_distribute(cfg: Config) -> None:
    # docs/notes.md#multi-worker: fit fails under MultiWorkerMirroredStrategy in Keras 3.15.1
    # (keras-team/keras#20585), and Keras callbacks would make every worker write the run.
    if cfg.distribute == "multi_worker":
        raise ValueError("distribute: multi_worker is refused: Keras 3.15's fit fails under "
                         "MultiWorkerMirroredStrategy (keras-team/keras#20585) and every worker would "
                         "write the same run files; use mirrored for the GPUs of one machine")


def _check_feature_map(cfg: Config) -> None:
    """Scratch and augment models: the map must not shrink to nothing (border effects)."""
    if cfg.stage not in ("scratch", "augment"):
        return
    m = cfg.model
    height, width = cfg.data.image_size
    for block, _ in enumerate(m.conv_filters, start=1):
        if m.padding == "valid":
            height, width = height - m.kernel_size + 1, width - m.kernel_size + 1
        height, width = math.ceil(height / m.strides), math.ceil(width / m.strides)
        height, width = height // 2, width // 2  # 2x2 pooling, stride 2
        if min(height, width) < 1:
            raise ValueError(
                f"image_size {list(cfg.data.image_size)} is too small for "
                f"{len(m.conv_filters)} conv blocks (kernel_size {m.kernel_size}, padding "
                f"{m.padding}, strides {m.strides}): the feature map vanishes at block {block}; "
                "use a larger image_size, fewer conv_filters or padding: same")


def _fill_stage_defaults(cfg: Config) -> None:
    """Resolve the defaults that depend on the stage, so config.yaml shows real values."""
    model = cfg.model
    if model.dropout is None:
        model.dropout = 0.0 if cfg.stage == "scratch" else 0.5
    if model.weights is None:
        model.weights = BUILTIN if model.base == BUILTIN else "imagenet"
    stop = cfg.train.early_stopping
    if stop is not None and stop.monitor is None:
        stop.monitor = cfg.train.monitor
    if cfg.stage == "extract" and cfg.extract is None:
        cfg.extract = Extract()
    if cfg.stage == "fine-tune" and cfg.fine_tune is None:
        cfg.fine_tune = FineTune()
    tune = cfg.fine_tune
    if tune is not None and tune.unfreeze_from is None and tune.unfreeze_last is None:
        tune.unfreeze_from = default_unfreeze_from(model.base)
        if tune.unfreeze_from is None:
            raise ValueError(f"base {model.base} has no default layer to unfreeze from; set "
                             "fine_tune.unfreeze_from (a layer name of the base) or "
                             "fine_tune.unfreeze_last (a number of layers)")


def default_unfreeze_from(base: str) -> str | None:
    """The first layer of a base's last block, where fine-tuning starts by default."""
    if base == BUILTIN:
        return f"block{len(BUILTIN_FILTERS)}_conv1"
    return BASES[base].unfreeze_from


def _check_base(cfg: Config) -> None:
    """Stages with a pretrained base: weights that exist for it, images it accepts."""
    if cfg.stage not in ("extract", "fine-tune"):
        return
    base, weights = cfg.model.base, cfg.model.weights
    if base == BUILTIN and weights == "imagenet":
        raise ValueError("the builtin base has no ImageNet weights; use model.weights: builtin "
                         "(pretrained on the built-in source task), none, or a file")
    if base != BUILTIN and weights == BUILTIN:
        raise ValueError(f"weights: builtin exist only for base: builtin, not {base}; use "
                         "imagenet, none, or a weights file")
    smallest = 2 ** len(BUILTIN_FILTERS) if base == BUILTIN else BASES[base].min_size
    if min(cfg.data.image_size) < smallest:
        raise ValueError(f"base {base} needs images of at least {smallest}x{smallest} pixels; "
                         f"raise data.image_size. Received: image_size={list(cfg.data.image_size)}")


# --- reading --------------------------------------------------------------------------


def load_config(path: str | os.PathLike, overrides: list[str] | tuple[str, ...] = ()) -> Config:
    """Read, override and validate a config file; raise ConfigError on any problem."""
    path = Path(path)
    raw = read_yaml(path)
    for override in overrides:
        apply_override(raw, override)
    raw.setdefault("name", path.stem)
    return validate(raw, source=str(path))


def read_yaml(path: Path) -> dict:
    """The mapping in a YAML file, read safely (no Python tags run) and within
    safeyaml's limits (size, aliases, depth, numbers; no key written twice)."""
    try:
        with open(path, "rb") as handle:
            raw = handle.read(safeyaml.MAX_BYTES + 1)  # a file of any size: read no more
        if len(raw) > safeyaml.MAX_BYTES:
            raise ConfigError(f"{path} is larger than {safeyaml.MAX_BYTES // 1024} KiB; a config "
                              "or sweep file is a few kB (is it the right file?)")
        text = raw.decode("utf-8")
    except FileNotFoundError:
        raise ConfigError(f"config file {path} does not exist") from None
    except (IsADirectoryError, PermissionError, UnicodeDecodeError) as error:
        raise ConfigError(f"cannot read config file {path}: {error.__class__.__name__}") from None
    try:
        data = safeyaml.load(text)
    except yaml.MarkedYAMLError as error:
        mark = error.problem_mark or error.context_mark
        where = f"{path}:{mark.line + 1}:{mark.column + 1}" if mark else str(path)
        problem = (error.problem or error.context or "invalid YAML").strip()
        raise ConfigError(f"{where}: YAML error: {problem}") from None
    except yaml.YAMLError as error:
        raise ConfigError(f"{path}: YAML error: {error}") from None
    if data is None:
        raise ConfigError(f"{path} is empty; a config needs at least `stage:` "
                          f"({' | '.join(STAGE_SECTIONS)})")
    if not isinstance(data, dict):
        raise ConfigError(f"{path} must hold a mapping of config keys, not a "
                          f"{type(data).__name__}")
    return data


def flatten(node, prefix: str = "") -> dict:
    """A nested config mapping as {"train.epochs": 30, ...}."""
    if isinstance(node, dict):
        return {k: v for key, value in node.items() for k, v in flatten(value, f"{prefix}{key}.").items()}
    return {prefix.rstrip("."): node}


def apply_override(raw: dict, override: str) -> None:
    """Apply one `key.path=value` override in place; the value is read as YAML."""
    key, sep, text = override.partition("=")
    if not sep or not key.strip():
        raise ConfigError(f"--set expects key.path=value, e.g. train.epochs=3. Received: {override!r}")
    try:
        value = safeyaml.load(text)
    except yaml.YAMLError:
        raise ConfigError(f"--set {key}: the value is not valid YAML. Received: {text!r}") from None
    parts = key.strip().split(".")
    node = raw
    for depth, part in enumerate(parts[:-1]):
        child = node.setdefault(part, {})
        if child is None:
            child = node[part] = {}
        if not isinstance(child, dict):
            raise ConfigError(f"--set {key}: {'.'.join(parts[:depth + 1])} is a value, not a "
                              f"section. Received: {override!r}")
        node = child
    node[parts[-1]] = value


def validate(raw: dict, source: str = "config") -> Config:
    """A Config from a plain mapping (of any version this convcli reads), or a ConfigError
    naming the first problem."""
    try:
        return Config.model_validate(upgrade(raw, source))
    except ValidationError as error:
        # An unknown key first: a misspelt `stage` also makes `stage` missing.
        errors = sorted(error.errors(), key=lambda e: e["type"] != "extra_forbidden")
        problems = [_describe(e) for e in errors]
        more = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
        raise ConfigError(f"{source}: {problems[0]}{more}") from None


def upgrade(raw: dict, source: str) -> dict:
    """The mapping of a config brought to CONFIG_VERSION (no `version`: this one)."""
    version = raw.get("version", CONFIG_VERSION)
    if not isinstance(version, int) or isinstance(version, bool) or version < 1:
        raise ConfigError(f"{source}: version must be a whole number from 1 (the config format's "
                          f"version; leave it out for this convcli's, {CONFIG_VERSION}). Received: {version!r}")
    if version > CONFIG_VERSION:
        raise ConfigError(f"{source} was written by a newer convcli (version {version}; this convcli "
                          f"reads configs up to version {CONFIG_VERSION}); upgrade convcli "
                          "(pip install -U convcli), or write the config for this one")
    for step in range(version, CONFIG_VERSION):
        raw = UPGRADES[step](raw)
    return {**raw, "version": CONFIG_VERSION}


def _describe(error: dict) -> str:
    """One pydantic error as `key.path: what is wrong. Received: value`."""
    loc = [str(part) for part in error["loc"]]
    where = ".".join(loc) or "config"
    if error["type"] == "extra_forbidden":
        known = _field_names(loc[:-1])
        close = difflib.get_close_matches(loc[-1], known, n=1)
        hint = f"; did you mean {close[0]}?" if close else f"; known keys: {', '.join(known)}"
        return f"unknown key {where}{hint}"
    if error["type"] == "missing":
        return f"{where} is required"
    message = error["msg"].removeprefix("Value error, ")
    if error["type"] == "value_error" and (not loc or isinstance(error.get("input"), dict)):
        return f"{where}: {message}" if loc else message  # a rule across keys
    received = repr(error.get("input"))
    if len(received) > MAX_SHOWN:
        received = received[:MAX_SHOWN - 3] + "..."
    return f"{where}: {message}. Received: {received}"


def closest(word: str, choices) -> list[str]:
    """The choices nearest to a misspelt word, all of them when they tie (vgg61: vgg16, vgg19)."""
    scores = {c: difflib.SequenceMatcher(None, word, c).ratio()
              for c in difflib.get_close_matches(word, choices, n=5)}
    return sorted(c for c, score in scores.items() if score == max(scores.values()))


def _field_names(loc: list[str]) -> list[str]:
    """The keys allowed at a key path, for did-you-mean hints."""
    model: type[BaseModel] = Config
    for part in loc:
        field = model.model_fields.get(part)
        annotation = getattr(field, "annotation", None)
        inner = [a for a in getattr(annotation, "__args__", (annotation,)) if isinstance(a, type)
                 and issubclass(a, BaseModel)]
        if not inner:
            return []
        model = inner[0]
    return list(model.model_fields)


def key_paths(model: type[BaseModel] = Config, prefix: str = "") -> list[str]:
    """Every dotted key a config can set, as --set spells them: train.epochs, ..."""
    keys = []
    for name, field in model.model_fields.items():
        inner = [a for a in getattr(field.annotation, "__args__", (field.annotation,))
                 if isinstance(a, type) and issubclass(a, BaseModel)]
        keys += [f"{prefix}{name}"] + (key_paths(inner[0], f"{prefix}{name}.") if inner else [])
    return keys


def json_schema() -> dict:
    """The JSON Schema of a config file."""
    return Config.model_json_schema()


def to_yaml(cfg: Config) -> str:
    """The resolved config as YAML, in schema order, loadable by load_config."""
    return yaml.safe_dump(cfg.model_dump(mode="json"), sort_keys=False)
