"""The config's sections: one pydantic model per section, each field described, and the
bounds a config from elsewhere may not exceed (schema.py puts them together)."""

from __future__ import annotations

import difflib
import math
from typing import Any, Literal, Optional, Union

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from convcli.bases import BASE_NAMES, BASES, BUILTIN


# Upper bounds on what a config can make convcli allocate or run: a config from elsewhere
# is untrusted (safeyaml.py bounds the file itself).
MAX_SIZE = 4096  # pixels on an image side, images in a batch, filters in a conv layer
MAX_UNITS = 65536  # units of the dense layer
MAX_EPOCHS = 100_000


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
        "auto", description="decoded images: auto (memory when they fit in 1 GiB, else a disk "
        "cache in the cache folder, kept for the next run: convcli cache) | memory | disk (a file "
        "in the run directory, deleted at the end) | none (decode every epoch)")
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
    pixel_range: tuple[float, float] = Field((0, 1), description="scratch / augment: what the "
                                             "model's Rescaling maps raw [0, 255] pixels to: [0, 1] "
                                             "(the book) or e.g. [-1, 1] (centred: leaves chance "
                                             "sooner)")
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

    @field_validator("pixel_range")
    @classmethod
    def _increasing_range(cls, value: tuple[float, float]) -> tuple[float, float]:
        low, high = value
        if not (math.isfinite(low) and math.isfinite(high) and low < high):
            raise ValueError("must be [low, high] with low < high, e.g. [0, 1] or [-1, 1]")
        return value

    @field_validator("conv_filters")
    @classmethod
    def _positive_filters(cls, value: list[int]) -> list[int]:
        if min(value) < 1 or max(value) > MAX_SIZE:
            raise ValueError(f"every entry must be a positive number of filters, at most {MAX_SIZE}")
        return value


class RandAugment(Section):
    """keras.layers.RandAugment: a few random operations of a random strength per image."""

    num_ops: int = Field(2, ge=1, le=14, description="operations applied to each image")
    factor: float = Field(0.5, ge=0, le=1, description="their strength, from 0 (none) to 1 "
                          "(the strongest)")


class ColorJitter(Section):
    """keras.layers.RandomColorJitter: each factor is the largest change, drawn per image."""

    brightness: float = Field(0.2, ge=0, le=1, description="brightness shifted by up to this "
                              "fraction of the pixel range")
    contrast: float = Field(0.2, ge=0, le=1, description="contrast scaled by up to 1 ± this")
    saturation: float = Field(0.2, ge=0, le=1, description="saturation scaled by up to 1 ± this")
    hue: float = Field(0.05, ge=0, le=1, description="hue turned by up to this fraction of the "
                       "colour circle")


class RandomErasing(Section):
    """keras.layers.RandomErasing: a random rectangle of some images filled with noise."""

    probability: float = Field(0.25, gt=0, le=1, description="the fraction of images erased")
    scale: tuple[float, float] = Field((0.02, 0.33), description="[low, high]: the erased "
                                       "rectangle's area as a fraction of the image's")

    @field_validator("scale")
    @classmethod
    def _fractions(cls, value: tuple[float, float]) -> tuple[float, float]:
        if not 0 < value[0] <= value[1] <= 1:
            raise ValueError("must be [low, high] with 0 < low <= high <= 1")
        return value


class Augment(Section):
    """The book's ImageDataGenerator arguments, in its units (degrees, fractions), and the
    modern recipes' transforms after them (all off by default)."""

    rotation_range: float = Field(40, ge=0, le=180, description="degrees")
    width_shift_range: float = Field(0.2, ge=0, lt=1, description="fraction of the width")
    height_shift_range: float = Field(0.2, ge=0, lt=1, description="fraction of the height")
    shear_range: float = Field(0.2, ge=0, le=45, description="degrees, as in ImageDataGenerator")
    zoom_range: float = Field(0.2, ge=0, lt=1, description="zoom in [1 - z, 1 + z] per axis")
    horizontal_flip: bool = Field(True, description="flip half the images left to right")
    fill_mode: Literal["nearest", "reflect", "wrap", "constant"] = Field(
        "nearest", description="pixels from outside the image: nearest | reflect | wrap | constant")
    randaugment: Optional[RandAugment] = Field(None, description="null | {num_ops, factor}: "
                                               "RandAugment after the book's transforms")
    color_jitter: Optional[ColorJitter] = Field(None, description="null | {brightness, "
                                                "contrast, saturation, hue}")
    random_erasing: Optional[RandomErasing] = Field(None, description="null | {probability, "
                                                    "scale}: erase a rectangle (after the others)")
    mixup: Optional[float] = Field(None, gt=0, le=10, description="null | alpha: mix pairs of "
                                   "images and their labels with a Beta(alpha, alpha) weight")
    cutmix: Optional[float] = Field(None, gt=0, le=10, description="null | alpha: paste a "
                                    "rectangle of another image, labels mixed by its area")

    @property
    def label_mixers(self) -> list[str]:
        """The transforms set that mix training labels (mixup, cutmix): training accuracy
        is then not the accuracy of any image's class."""
        return [name for name in ("mixup", "cutmix") if getattr(self, name) is not None]

    @property
    def mixes_labels(self) -> bool:
        return bool(self.label_mixers)


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
    schedule: Literal["constant", "cosine", "step", "exponential"] = Field(
        "constant", description="the learning rate over a phase's epochs: constant | cosine "
        "(to min_lr_fraction of the peak) | step (times step_factor after each of step_epochs) | "
        "exponential (times decay_rate per epoch); in fine-tune each phase has its own")
    warmup_epochs: int = Field(0, ge=0, le=MAX_EPOCHS, description="epochs of linear warmup "
                               "from 0 to the learning rate at the start of each phase")
    min_lr_fraction: float = Field(0.0, ge=0, le=1, description="cosine: the rate it ends at, "
                                   "as a fraction of the peak")
    step_epochs: list[int] = Field(default_factory=list, max_length=100, description="step: the "
                                   "epochs of a phase after which the rate is multiplied by step_factor")
    step_factor: float = Field(0.1, gt=0, le=1, description="step: the factor at each step")
    decay_rate: float = Field(0.9, gt=0, le=1, description="exponential: the factor per epoch")
    weight_decay: Optional[float] = Field(None, ge=0, le=1, description="the optimizer's "
                                          "(decoupled) weight_decay; null: its default (adamw "
                                          "0.004, the others none)")
    clipnorm: Optional[float] = Field(None, gt=0, description="clip each gradient to this norm; "
                                      "null: no clipping")
    momentum: float = Field(0.0, ge=0, lt=1, description="sgd and rmsprop: the optimizer's momentum")
    label_smoothing: float = Field(0.0, ge=0, lt=1, description="spread this much of each "
                                   "label's weight over all classes (binary heads alike)")
    ema: Optional[float] = Field(None, gt=0, lt=1, description="null | the momentum of an "
                                 "exponential moving average of the weights (e.g. 0.999): "
                                 "validation, the best checkpoint, evaluation and export use the "
                                 "averaged weights")

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

    @field_validator("step_epochs")
    @classmethod
    def _increasing_steps(cls, value: list[int]) -> list[int]:
        if any(epoch < 1 for epoch in value) or value != sorted(set(value)):
            raise ValueError("must be increasing epoch numbers from 1, e.g. [10, 20]")
        return value

    @model_validator(mode="after")
    def _own_schedule_keys(self) -> "Train":
        """A schedule's parameter set under another schedule would do nothing: an error."""
        owners = {"min_lr_fraction": "cosine", "step_epochs": "step", "step_factor": "step",
                  "decay_rate": "exponential"}
        # judged by value, not by what the file names: a saved config.yaml names every key
        stray = [key for key, owner in owners.items()
                 if owner != self.schedule and getattr(self, key) != Train.model_fields[key].get_default(
                     call_default_factory=True)]
        if stray:
            raise ValueError(f"{stray[0]} applies to schedule {owners[stray[0]]} only, but schedule "
                             f"is {self.schedule}; set schedule: {owners[stray[0]]} or remove {stray[0]}")
        if self.schedule == "step" and not self.step_epochs:
            raise ValueError("schedule step needs step_epochs, e.g. [10, 20]")
        if self.momentum and self.optimizer not in ("sgd", "rmsprop"):
            raise ValueError(f"momentum is an argument of sgd and rmsprop, not {self.optimizer}")
        return self


class Explain(Section):
    gradcam_images: int = Field(8, ge=0, description="Grad-CAM of this many sampled validation "
                                "images at the end of every run (0: none)")
    layer: Optional[str] = Field(None, description="the layer Grad-CAM explains; default: the "
                                 "last feature map before the final pooling")


class Tracking(Section):
    mlflow: Optional[str] = Field(None, description="an MLflow tracking URI (http://HOST:PORT, "
                                  "file:PATH, sqlite:///FILE, postgresql://..., databricks) that "
                                  "each run is sent to; null: no tracking (default). --mlflow URI "
                                  "sets it; $MLFLOW_TRACKING_URI is used when tracking is asked for "
                                  "without one")
    experiment: str = Field("convcli", min_length=1, max_length=500,
                            description="the MLflow experiment the runs go to (made if missing)")
    log_model: bool = Field(False, description="also send checkpoints/best.keras as an artifact "
                            "(--mlflow-model)")

    @field_validator("mlflow", mode="before")
    @classmethod
    def _blank_is_none(cls, value: Any) -> Any:
        return None if value in ("", "null", "none") else value


def closest(word: str, choices) -> list[str]:
    """The choices nearest to a misspelt word, all of them when they tie (vgg61: vgg16, vgg19)."""
    scores = {c: difflib.SequenceMatcher(None, word, c).ratio()
              for c in difflib.get_close_matches(word, choices, n=5)}
    return sorted(c for c, score in scores.items() if score == max(scores.values()))

