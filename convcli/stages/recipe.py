"""What every stage takes from the config's recipe in the same way: the Trainer (class
weights, mixed labels) and whether labels are one-hot."""

from __future__ import annotations

from convcli.config import Config
from convcli.data import modern_augment
from convcli.data.folders import Files
from convcli.runs import Run
from convcli.training import Trainer, class_weights


def trainer_for(cfg: Config, run: Run, files: Files) -> Trainer:
    """The run's Trainer, with the config's class weights; it hides training accuracy
    when mixup or cutmix mix the labels."""
    mixed = cfg.augment is not None and cfg.augment.mixes_labels
    return Trainer(run, class_weight=class_weights(cfg.train, files), mixed_labels=mixed)


def one_hot_labels(cfg: Config, files: Files) -> bool:
    """Whether the datasets carry one-hot labels (data/modern_augment.py)."""
    return modern_augment.one_hot_labels(cfg.train, cfg.augment, files.num_classes)
