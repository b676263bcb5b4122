"""Stage `extract`: a pretrained convolutional base, frozen, under a new dense classifier.

Two methods, as in the book. `features` runs the base once over every image (cached
on disk, data/features.py) and trains only the dense head on what comes out: fast,
but no augmentation. `frozen` puts the frozen base inside the model and trains end to
end on augmented images: every epoch pays for the base, and the head sees more
variety. Either way the saved checkpoint is the complete model, raw images in.
"""

from __future__ import annotations

import hashlib
import json

import keras

from convcli.config import BUILTIN, Config
from convcli.files import cache_dir
from convcli.data.features import cached_features, feature_batches
from convcli.data.folders import Files
from convcli.data.pipeline import make_augmenter, make_datasets
from convcli.errors import ModelError
from convcli.evaluation import evaluate
from convcli.models.pretrained import (build_base, feature_extractor, find_base, head_layers,
                                       transfer_model, weights_digest)
from convcli.runs import Run
from convcli.pretraining import builtin_weights
from convcli.stages.recipe import one_hot_labels, trainer_for
from convcli.training import Result, compile_model, seed_everything


def build_model(cfg: Config, class_names: list[str], load_weights: bool = True) -> keras.Model:
    """The complete model: preprocessing, the frozen base, the dense head."""
    return transfer_model(base_for(cfg, load_weights), cfg.model.base, cfg.data.image_size,
                          cfg.model.dense_units, cfg.model.dropout, len(class_names), cfg.data.channels)


def base_for(cfg: Config, load_weights: bool = True) -> keras.Model:
    """The config's pretrained base with its weights (random when load_weights is False), frozen."""
    weights = cfg.model.weights if load_weights else "none"
    if weights == BUILTIN:
        weights = str(builtin_weights())
        # Pretraining on first use draws from the global random generators; reseed so the
        # run starts from the same state whether or not the base was already cached.
        seed_everything(cfg.seed, cfg.deterministic)
    try:
        base = build_base(cfg.model.base, weights, cfg.data.image_size)
    except ModelError as error:
        if cfg.data.color_mode != "grayscale":
            raise
        raise ModelError(f"{error}; data.color_mode: grayscale repeats each gray image to the 3 "
                         f"channels base {cfg.model.base} takes, so model.weights must be for 3 "
                         "channels (or use color_mode: rgb)") from None
    base.trainable = False
    return base


def train(cfg: Config, run: Run, files: Files, model: keras.Model) -> Result:
    if cfg.extract.method == "features":
        return train_on_features(cfg, run, files, model)
    trainer = trainer_for(cfg, run, files)
    compile_model(model, cfg.train, files.num_classes, one_hot=one_hot_labels(cfg, files))
    datasets = image_datasets(cfg, run, files)
    trainer.fit(model, datasets.train, datasets.validation, phase="train",
                epochs=cfg.train.epochs, train_config=cfg.train)
    return trainer.result


def image_datasets(cfg: Config, run: Run, files: Files):
    """The raw-image splits, the training split augmented when the config has `augment`."""
    augmenter = make_augmenter(cfg.augment, cfg.seed) if cfg.augment else None
    return make_datasets(cfg, files, run.scratch, augmenter=augmenter)


def train_on_features(cfg: Config, run: Run, files: Files, model: keras.Model) -> Result:
    """Run the base once per image (or read the cache), then fit the head on the features."""
    head, batches, record = feature_head(cfg, files, model)
    one_hot = one_hot_labels(cfg, files)
    compile_model(head, cfg.train, files.num_classes, one_hot=one_hot)
    trainer = trainer_for(cfg, run, files)
    trainer.fit(head, batches("train", True, one_hot), batches("validation", one_hot=one_hot), phase="train",
                epochs=cfg.train.epochs, train_config=cfg.train, saved_model=model)
    if files.test:  # measured on the cached features: no second pass through the base
        best = keras.models.load_model(run.best)
        for layer in head_layers(model):
            layer.set_weights(best.get_layer(layer.name).get_weights())
        trainer.result.evaluation = evaluate(head, batches("test"), files.class_names)
    trainer.result.details["feature_cache"] = record
    return trainer.result


def feature_head(cfg: Config, files: Files, model: keras.Model):
    """(a head-only model on the base's cached features, batches(split, shuffle, one_hot)
    of those features, the cache's record); the base runs once per image, or not at all
    when the cache has its outputs."""
    base = find_base(model)
    extractor = feature_extractor(base, cfg.model.base, cfg.data.image_size, cfg.data.channels)
    about = {"base": cfg.model.base, "image_size": list(cfg.data.image_size),
             "color_mode": cfg.data.color_mode}
    features, record = cached_features(cache_dir() / "features", feature_key(cfg, base, files),
                                       extractor, files, cfg.data.image_size, cfg.data.batch_size,
                                       cfg.data.channels, about)

    # The head shares its layers with `model`, so the checkpoints of `model` hold the head
    # as it is trained.
    x = inputs = keras.Input(shape=features["train"].shape[1:], name="features")
    for layer in head_layers(model):
        x = layer(x)
    head = keras.Model(inputs, x, name="head")

    def batches(name: str, shuffle: bool = False, one_hot: bool = False):
        # Memory-mapped features, gathered batch by batch (data/features.py, issue 28).
        return feature_batches(features[name], getattr(files, name).labels, files.num_classes,
                               cfg.data.batch_size, seed=cfg.seed if shuffle else None, one_hot=one_hot)

    return head, batches, record


def feature_key(cfg: Config, base: keras.Model, files: Files) -> str:
    """What the base's outputs depend on: base, weight values, image size, preprocessing
    (the base's and Keras' version), class order, and every file's size and mtime."""
    parts = {"base": cfg.model.base, "weights": weights_digest(base), "keras": keras.__version__,
             "image_size": list(cfg.data.image_size), "class_names": files.class_names,
             "files": files.fingerprint()}
    if cfg.data.color_mode != "rgb":  # rgb runs keep the keys their caches were written under
        parts["color_mode"] = cfg.data.color_mode
    digest = hashlib.sha256(json.dumps(parts, sort_keys=True).encode()).hexdigest()[:16]
    return f"{cfg.model.base}-{digest}"
