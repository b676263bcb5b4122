"""The config file's schema: `Config`, its sections (sections.py) and its rules (rules.py)
put together, its version, and the key paths and JSON Schema derived from it."""

from __future__ import annotations

from typing import Literal, Optional

from pydantic import BaseModel, Field, model_validator

from convcli.config.rules import apply_rules
from convcli.config.sections import Augment, Data, Explain, Extract, FineTune, Model, Section, Tracking, Train

# The config format's version; loading.py's UPGRADES read older ones
# (docs/architecture.md#record-and-config-versions).
CONFIG_VERSION = 1


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
    tracking: Tracking = Field(default_factory=Tracking, description="sending runs to an MLflow "
                               "tracking server (docs/tracking.md); off by default")
    distribute: Literal["none", "mirrored", "multi_worker"] = Field(
        "none", description="none | mirrored (tf.distribute.MirroredStrategy over this machine's "
        "GPUs); multi_worker is refused: Keras 3.15 cannot fit under it")
    version: int = Field(CONFIG_VERSION, ge=1, le=CONFIG_VERSION, description="the config format's "
                         f"version (this convcli: {CONFIG_VERSION}); default: this convcli's. An older "
                         "one is upgraded when read, a newer one refused")

    @model_validator(mode="after")
    def _resolve(self) -> "Config":
        apply_rules(self)
        return self


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
