"""The modern recipes' augmentations (augment.randaugment, color_jitter, random_erasing,
mixup, cutmix): Keras' own layers, applied to training batches after the book's warp.

Pixels are in [0, 255] here, as everywhere in the pipeline. Each layer is seeded from
the config's seed: the same seed gives the same transforms, new ones every epoch. Mixup
and cutmix mix labels too, so they need one-hot labels when there are more than two
classes; with both set, each batch gets one of them, chosen at random (timm's switch).
"""

from __future__ import annotations

import keras
import tensorflow as tf

from convcli.config import Augment, Train

PIXELS = (0, 255)


class ModernAugmenter:
    """The config's Keras augmentation layers, as one function of a batch and its labels."""

    def __init__(self, augment: Augment, seed: int):
        self.seed = seed
        self.images = image_layers(augment, seed)
        self.mixers = [layer for layer in (
            keras.layers.MixUp(alpha=augment.mixup, seed=seed + 4) if augment.mixup else None,
            keras.layers.CutMix(factor=augment.cutmix, seed=seed + 5) if augment.cutmix else None,
        ) if layer is not None]

    def __call__(self, images: tf.Tensor, labels: tf.Tensor, seed: tf.Tensor):
        """images: float (batch, height, width, channels) in [0, 255]; labels: float, one
        row per image; seed: two integers, the batch's own (for the mixup/cutmix switch)."""
        for layer in self.images:
            images = layer(images, training=True)
        if len(self.mixers) == 2:
            pick = tf.random.stateless_uniform([], seed) < 0.5
            return tf.cond(pick, lambda: self.mix(0, images, labels), lambda: self.mix(1, images, labels))
        if self.mixers:
            return self.mix(0, images, labels)
        return images, labels

    def mix(self, which: int, images: tf.Tensor, labels: tf.Tensor):
        mixed = self.mixers[which]({"images": images, "labels": labels}, training=True)
        return mixed["images"], tf.cast(mixed["labels"], labels.dtype)


def image_layers(augment: Augment, seed: int) -> list[keras.layers.Layer]:
    """RandAugment, colour jitter and random erasing, in that order, as the config asks."""
    found = []
    if augment.randaugment:
        found.append(keras.layers.RandAugment(value_range=PIXELS, num_ops=augment.randaugment.num_ops,
                                              factor=augment.randaugment.factor, seed=seed + 1))
    if augment.color_jitter:
        jitter = augment.color_jitter
        found.append(keras.layers.RandomColorJitter(
            value_range=PIXELS, brightness_factor=jitter.brightness or None,
            contrast_factor=jitter.contrast or None, saturation_factor=jitter.saturation or None,
            hue_factor=jitter.hue or None, seed=seed + 2))
    if augment.random_erasing:
        erasing = augment.random_erasing
        found.append(keras.layers.RandomErasing(factor=erasing.probability, scale=erasing.scale,
                                                value_range=PIXELS, seed=seed + 3))
    return found


def make_modern_augmenter(augment: Augment | None, seed: int) -> ModernAugmenter | None:
    """None when the config asks for none of these transforms."""
    if augment is None or not (augment.randaugment or augment.color_jitter or augment.random_erasing
                               or augment.mixes_labels):
        return None
    return ModernAugmenter(augment, seed)


def one_hot_labels(train: Train, augment: Augment | None, num_classes: int) -> bool:
    """Whether training and validation labels must be one-hot: more than two classes, and
    labels that are not one class each (smoothed or mixed)."""
    mixed = augment is not None and augment.mixes_labels
    return num_classes > 2 and (train.label_smoothing > 0 or mixed)
