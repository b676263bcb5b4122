"""Stage `augment`: the same convnet with data augmentation and dropout.

Random rotations, shifts, shears, zooms and flips of the training images (never of
the validation or test images) show the model more of the data distribution; dropout
before the dense layer (model.dropout, 0.5 by default here) fights the rest of the
overfitting.
"""

from __future__ import annotations

import keras

from convcli.config import Config
from convcli.data.folders import Files
from convcli.data.pipeline import make_augmenter, make_datasets
from convcli.runs import Run
from convcli.stages.scratch import build_model, fit_convnet
from convcli.training import Result


__all__ = ["build_model", "train"]  # the same convnet as scratch; dropout comes from the config


def train(cfg: Config, run: Run, files: Files, model: keras.Model) -> Result:
    augmenter = make_augmenter(cfg.augment, cfg.seed)
    datasets = make_datasets(cfg, files, run.scratch, augmenter=augmenter)
    return fit_convnet(cfg, run, files, model, datasets)
