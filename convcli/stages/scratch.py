"""Stage `scratch`: the book's small convnet, trained from scratch with no regularization.

The baseline of the workflow: on a small dataset it overfits, training accuracy racing
ahead of validation accuracy.
"""

from __future__ import annotations

import keras

from convcli.config import Config
from convcli.data.folders import Files
from convcli.data.pipeline import make_datasets
from convcli.models.convnet import build_convnet
from convcli.runs import Run
from convcli.stages.recipe import one_hot_labels, trainer_for
from convcli.training import Result, compile_model


def build_model(cfg: Config, class_names: list[str], load_weights: bool = True) -> keras.Model:
    return build_convnet(cfg.model, cfg.data.image_size, len(class_names), cfg.data.channels)


def train(cfg: Config, run: Run, files: Files, model: keras.Model) -> Result:
    datasets = make_datasets(cfg, files, run.scratch)
    return fit_convnet(cfg, run, files, model, datasets)


def fit_convnet(cfg: Config, run: Run, files: Files, model: keras.Model, datasets) -> Result:
    """Compile and fit the convnet in one phase (shared with `augment`)."""
    compile_model(model, cfg.train, files.num_classes, one_hot=one_hot_labels(cfg, files))
    trainer = trainer_for(cfg, run, files)
    trainer.fit(model, datasets.train, datasets.validation, phase="train",
                epochs=cfg.train.epochs, train_config=cfg.train)
    return trainer.result
