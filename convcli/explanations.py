"""Explanations: what the picture commands make, from what the user names to files.

Each function takes the command line's values, resolves the model (resolve.py), does
the work with `explain/` through `image_files.py`, and returns what the CLI prints.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from convcli.bases import BASE_NAMES, BUILTIN
from convcli.config import load_config
from convcli.errors import ConfigError, ModelError
from convcli.explain.gradcam import GradCam
from convcli.explain.overlay import tile
from convcli.image_files import (check_layer, expand, input_channels, model_inputs, one_image,
                                 read_image, save_png, write_gradcam)
from convcli.resolve import class_index, explained_model


def write_gradcams(images: list[Path], run: str | None, model_file: Path | None, layer: str | None,
            class_: str | None, alpha: float, out: Path, runs_dir: Path,
            classes: list[str] | None = None, output: str | None = None):
    """Heatmaps for every image into `out`; (results, class names, model title, the tensor
    explained).

    `classes` names a model file's classes (--classes), else they are numbered; `output`
    (--output) names one output of several."""
    paths = expand(images)
    model, class_names, image_size, title = explained_model(run, model_file, runs_dir, classes,
                                                            output=output)
    chosen = class_index(class_, class_names)
    if layer is not None:
        check_layer(model, layer, "--layer")
    cam = GradCam(model, layer)
    results = write_gradcam(cam, paths, image_size, out, alpha, chosen)
    return results, class_names, title, cam.explained


def augment_preview(config: Path, image: Path, count: int, out: Path, overrides=()) -> tuple[Path, list]:
    """A grid: the image as the model sees it, then `count` augmented versions of it, as
    training makes them: the book's warp, then the Keras layers (RandAugment, colour
    jitter, erasing) and mixup or cutmix with other training images. Returns the PNG and,
    under mixup or cutmix, each version's share of the image in its label."""
    from convcli.data.modern_augment import make_modern_augmenter
    from convcli.data.pipeline import make_augmenter

    cfg = load_config(config, overrides)
    if cfg.augment is None:
        raise ConfigError(f"{config} has no augment section: training with it sees the images "
                          "as they are; add one (augment: {} takes the book's values)")
    path = one_image(image)
    read_image(path)  # checked before decoding: exists, a readable format, not a bomb
    original = model_inputs([path], cfg.data.image_size, cfg.data.channels)
    augmented = np.repeat(original, count, axis=0)
    augmenter = make_augmenter(cfg.augment, cfg.seed)
    if augmenter is not None:
        augmented = np.asarray(augmenter(augmented))
    shares = []
    modern = make_modern_augmenter(cfg.augment, cfg.seed)
    if modern is not None:
        augmented, shares = _modern_preview(modern, augmented, cfg)
    pictures = [np.clip(p, 0, 255).astype(np.uint8) for p in np.concatenate([original, augmented])]
    pictures = [np.repeat(p, 3, axis=-1) if p.shape[-1] == 1 else p for p in pictures]  # grayscale
    target = out / f"{path.stem}_augmented.png"
    save_png(tile(pictures, columns=min(8, count + 1), gap=2), target)
    return target, shares


def _modern_preview(modern, images: np.ndarray, cfg) -> tuple[np.ndarray, list]:
    """The versions through the config's Keras layers; mixup and cutmix mix each with a
    batch that also holds as many training images (label 0: this image, 1: another)."""
    from convcli.data import folders
    from convcli.tfenv import import_tensorflow

    tf = import_tensorflow()
    count = len(images)
    seed = tf.constant([cfg.seed, 0], tf.int64)
    if not modern.mixers:
        mixed, _ = modern(tf.constant(images), tf.zeros([count, 1]), seed)
        return np.asarray(mixed), []
    training = folders.resolve(cfg.data, cfg.seed).train.paths
    others = [Path(p) for p in np.random.default_rng(cfg.seed).permutation(training)[:count]]
    partners = model_inputs(others, cfg.data.image_size, cfg.data.channels)
    batch = tf.constant(np.concatenate([images, partners[:count]]))
    labels = tf.concat([tf.zeros([count, 1]), tf.ones([len(batch) - count, 1])], axis=0)
    mixed, mixed_labels = modern(batch, labels, seed)
    return np.asarray(mixed)[:count], [round(1 - float(v), 2) for v in np.asarray(mixed_labels)[:count, 0]]


def write_activation_grids(image: Path, run: str | None, model_file: Path | None, layers: list[str],
                out: Path, runs_dir: Path, output: str | None = None) -> list[Path]:
    """One PNG grid of channels per convolution and pooling layer (or per named layer)."""
    from convcli.explain.activations import channel_grid, feature_layers, layer_activations

    path = one_image(image)
    read_image(path)
    model, _, image_size, _ = explained_model(run, model_file, runs_dir, probabilities=False,
                                              output=output)
    names = [name for entry in layers for name in entry.split(",") if name] or feature_layers(model)
    _check_names(model, names, feature_layers(model), "--layers")
    maps = layer_activations(model, model_inputs([path], image_size, input_channels(model))[0], names)
    written = []
    for index, (name, activation) in enumerate(maps.items(), start=1):
        if activation.ndim != 3:
            raise ModelError(f"layer {name} has output shape {activation.shape}, not a feature map")
        written.append(out / f"{index:02d}_{name}.png")
        save_png(channel_grid(activation), written[-1])
    return written


def write_filter_grid(layer: str, run: str | None, base: str | None, weights: str | None, size: int | None,
            count: int, out: Path, runs_dir: Path, model_file: Path | None = None,
            output: str | None = None) -> Path:
    """The patterns `count` filters of `layer` respond to most, stitched into one PNG.

    The model is a pretrained base (`base`), a run's best checkpoint, or a model file."""
    from convcli.explain.activations import feature_layers
    from convcli.explain.filters import filter_patterns, pattern_grid

    if base is not None and (run is not None or model_file is not None):
        raise ConfigError(f"give {'--run' if run is not None else '--model'} or --base, not both")
    model = _base_model(base, weights, size) if base else explained_model(
        run, model_file, runs_dir, probabilities=False, output=output)[0]
    _check_names(model, [layer], feature_layers(model), "--layer")
    patterns = filter_patterns(model, layer, count=count)
    target = out / f"filters_{layer}.png"
    save_png(pattern_grid(patterns), target)
    return target


def _base_model(name: str, weights: str | None, size: int | None):
    """A pretrained base as a model of raw images, for `filters --base`."""
    from convcli.models.pretrained import build_base, feature_extractor
    from convcli.pretraining import builtin_weights

    if name not in BASE_NAMES:
        raise ConfigError(f"--base {name!r} is not a known base; known bases: {', '.join(BASE_NAMES)}")
    weights = weights or (BUILTIN if name == BUILTIN else "imagenet")
    if weights == BUILTIN:
        weights = str(builtin_weights())
    size = size or (64 if name == BUILTIN else 150)
    return feature_extractor(build_base(name, weights, (size, size)), name, (size, size))


def _check_names(model, names: list[str], candidates: list[str], option: str) -> None:
    unknown = [name for name in names if name not in candidates]
    if unknown:
        raise ConfigError(f"{option}: {', '.join(unknown)} is no convolution or pooling layer of "
                          f"model {model.name}; candidates: {', '.join(candidates)}")
