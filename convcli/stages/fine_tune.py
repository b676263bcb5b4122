"""Stage `fine-tune`: train a head on a frozen base, then unfreeze the base's top and go on.

Phase `head` trains the dense head with the base frozen (or `fine_tune.init_from`
takes base and head from a finished run instead): a randomly initialised head would
send large gradients through the base and wreck what it learned. Phase `fine-tune`
then unfreezes the base from `unfreeze_from` (or its last `unfreeze_last` layers),
keeps BatchNormalization layers frozen and in inference mode, recompiles (changing
`trainable` means nothing until then) and trains at the small `fine_tune.learning_rate`.
One Trainer spans both phases: one best checkpoint, one continuous metrics.csv.
"""

from __future__ import annotations

from pathlib import Path

import keras

from convcli.config import Config, FineTune, load_config
from convcli.data.folders import Files
from convcli.errors import ConfigError, TrainingError
from convcli.models.pretrained import find_base
from convcli.models.saved import load_model_file, one_output
from convcli.models.table import count_params
from convcli.runs import Run
from convcli.stages import extract
from convcli.stages.recipe import one_hot_labels, trainer_for
from convcli.training import Result, compile_model


def build_model(cfg: Config, class_names: list[str], load_weights: bool = True) -> keras.Model:
    """The model to fine-tune, from scratch or from init_from; its unfreeze rule checked."""
    if cfg.fine_tune.init_from and load_weights:
        model = _from_run(Path(cfg.fine_tune.init_from), cfg, class_names)
    else:
        model = extract.build_model(cfg, class_names, load_weights)
    unfreeze_start(find_base(model), cfg.fine_tune)
    return model


def train(cfg: Config, run: Run, files: Files, model: keras.Model) -> Result:
    datasets = extract.image_datasets(cfg, run, files)
    trainer = trainer_for(cfg, run, files)
    one_hot = one_hot_labels(cfg, files)
    base = find_base(model)
    base.trainable = False
    if not cfg.fine_tune.init_from and cfg.fine_tune.head_epochs:
        compile_model(model, cfg.train, files.num_classes, one_hot=one_hot)
        trainer.fit(model, datasets.train, datasets.validation, phase="head",
                    epochs=cfg.fine_tune.head_epochs, train_config=cfg.train)

    frozen = count_params(model.trainable_weights)
    unfreeze(base, cfg.fine_tune)
    compile_model(model, cfg.train, files.num_classes, cfg.fine_tune.learning_rate, one_hot)
    unfrozen = count_params(model.trainable_weights)
    if unfrozen <= frozen:
        raise TrainingError(f"unfreezing the base ({_rule(cfg.fine_tune)}) made no more parameters "
                            f"trainable ({frozen:,} before and after); unfreeze a layer with weights")
    trainer.result.details["unfreezing"] = {"frozen_base": frozen, "unfrozen": unfrozen}
    trainer.fit(model, datasets.train, datasets.validation, phase="fine-tune",
                epochs=cfg.train.epochs, train_config=cfg.train)
    return trainer.result


def unfreeze_start(base: keras.Model, fine_tune: FineTune) -> int:
    """The index of the first base layer to unfreeze; ConfigError if the rule names none."""
    names = [layer.name for layer in base.layers]
    if fine_tune.unfreeze_last is not None:
        if fine_tune.unfreeze_last > len(names):
            raise ConfigError(f"fine_tune.unfreeze_last is {fine_tune.unfreeze_last} but base "
                              f"{base.name} has {len(names)} layers")
        return len(names) - fine_tune.unfreeze_last
    if fine_tune.unfreeze_from not in names:
        weighted = [layer.name for layer in base.layers if layer.weights]
        shown = ", ".join(weighted[-24:]) + (f" (and {len(weighted) - 24} earlier)" if len(weighted) > 24 else "")
        raise ConfigError(f"fine_tune.unfreeze_from names no layer of base {base.name}; layers "
                          f"with weights: {shown}. Received: {fine_tune.unfreeze_from!r}")
    return names.index(fine_tune.unfreeze_from)


def unfreeze(base: keras.Model, fine_tune: FineTune) -> None:
    """Make the base trainable from the rule's layer on, BatchNormalization excepted."""
    start = unfreeze_start(base, fine_tune)
    base.trainable = True  # Keras sets every inner layer; then freeze back what stays frozen
    for index, layer in enumerate(base.layers):
        if index < start or isinstance(layer, keras.layers.BatchNormalization):
            layer.trainable = False


def _rule(fine_tune: FineTune) -> str:
    if fine_tune.unfreeze_last is not None:
        return f"unfreeze_last: {fine_tune.unfreeze_last}"
    return f"unfreeze_from: {fine_tune.unfreeze_from}"


def _from_run(path: Path, cfg: Config, class_names: list[str]) -> keras.Model:
    """The best model of a finished run, checked to fit this config and these classes."""
    where = f"fine_tune.init_from {path}"
    run = Run(path)
    meta = run.read_meta() if run.meta.is_file() else None
    status = meta and meta.status
    if not path.is_dir() or status is None:
        raise ConfigError(f"{where} is not a run directory (no meta.json)")
    if status != "completed" or not run.best.is_file():
        raise ConfigError(f"{where} is not a finished run (status: {status}"
                          f"{'' if run.best.is_file() else ', no best checkpoint'})")
    earlier = load_config(run.config)
    if earlier.model.base != cfg.model.base or earlier.stage not in ("extract", "fine-tune"):
        raise ConfigError(f"{where} trained stage {earlier.stage} with base {earlier.model.base}; "
                          f"fine-tuning base {cfg.model.base} needs a run of stage extract or "
                          "fine-tune with the same base")
    if tuple(earlier.data.image_size) != tuple(cfg.data.image_size):
        raise ConfigError(f"{where} was trained on {list(earlier.data.image_size)} images, this "
                          f"config has image_size {list(cfg.data.image_size)}")
    if earlier.data.color_mode != cfg.data.color_mode:
        raise ConfigError(f"{where} was trained on {earlier.data.color_mode} images, this config "
                          f"has color_mode {cfg.data.color_mode}; use the same color_mode")
    if meta.class_names != class_names:
        raise ConfigError(f"{where} was trained on classes {meta.class_names}, "
                          f"this data has {class_names}")
    # One output in a list or a dict is that output; several are refused (issue 28).
    return one_output(load_model_file(run.best, compile=False), f"{where} (its best.keras)",
                      option=False)
