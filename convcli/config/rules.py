"""The config's rules across fields and sections: what each stage reads, the defaults that
depend on the stage, and what a base, the image size and distribute allow together."""

from __future__ import annotations

import math
from typing import Any

from convcli.bases import BASES, BUILTIN, BUILTIN_FILTERS
from convcli.config.sections import Extract, FineTune

# The functions below take the Config being validated (schema.py calls apply_rules from
# its validator); it is typed Any so that this module does not import schema.py back.
AnyConfig = Any


# Which optional sections each stage reads. A section a stage ignores is an error, so a
# config never looks like it does something it does not.
STAGE_SECTIONS = {
    "scratch": set(),
    "augment": {"augment"},
    "extract": {"extract", "augment"},
    "fine-tune": {"fine_tune", "augment"},
}



def apply_rules(cfg: AnyConfig) -> None:
    """Check every rule across sections and fill the stage's defaults, in place; a broken
    rule is a ValueError (pydantic reports it as the config's)."""
    _check_sections(cfg)
    _check_feature_map(cfg)
    _fill_stage_defaults(cfg)
    _check_base(cfg)
    _check_distribute(cfg)
    _check_warmup(cfg)


def _check_sections(cfg: AnyConfig) -> None:
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


def _check_distribute(cfg: AnyConfig) -> None:
    # docs/notes.md#multi-worker: fit fails under MultiWorkerMirroredStrategy in Keras 3.15.1
    # (keras-team/keras#20585), and Keras callbacks would make every worker write the run.
    if cfg.distribute == "multi_worker":
        raise ValueError("distribute: multi_worker is refused: Keras 3.15's fit fails under "
                         "MultiWorkerMirroredStrategy (keras-team/keras#20585) and every worker would "
                         "write the same run files; use mirrored for the GPUs of one machine")


def _check_feature_map(cfg: AnyConfig) -> None:
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


def _fill_stage_defaults(cfg: AnyConfig) -> None:
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


def _check_base(cfg: AnyConfig) -> None:
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


def _check_warmup(cfg: AnyConfig) -> None:
    """Warmup must leave each phase epochs to train at its rate (fine-tune: both phases)."""
    warmup = cfg.train.warmup_epochs
    phases = {"train.epochs": cfg.train.epochs}
    if cfg.fine_tune is not None and cfg.fine_tune.head_epochs and not cfg.fine_tune.init_from:
        phases["fine_tune.head_epochs"] = cfg.fine_tune.head_epochs
    short = [f"{key} ({epochs})" for key, epochs in phases.items() if warmup and warmup >= epochs]
    if short:
        raise ValueError(f"train.warmup_epochs ({warmup}) must be fewer than the epochs of each "
                         f"phase: {', '.join(short)}")
