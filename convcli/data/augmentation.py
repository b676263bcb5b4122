"""Data augmentation: the book's ImageDataGenerator arguments as one random warp per image.

Keras' preprocessing layers (RandomRotation, RandomTranslation, RandomShear, RandomZoom)
each resample the whole batch, so the book's recipe resamples every image four times.
ImageDataGenerator instead multiplies its transforms into one matrix and resamples
once; so does `Augmenter`, with one ImageProjectiveTransformV3 over the batch.

Units are ImageDataGenerator's: `rotation_range` and `shear_range` in degrees, shifts as
fractions of the side, zoom drawn per axis in [1 - z, 1 + z]. Randomness is stateless,
from a seed each batch carries (see pipeline.py), so the same seed gives the same
augmented images whatever the parallelism.
"""

from __future__ import annotations

import math

import tensorflow as tf

from convcli.config import Augment


class Augmenter:
    """Random rotation, shift, shear, zoom and horizontal flip of a batch, in one warp."""

    def __init__(self, augment: Augment, seed: int):
        self.augment, self.seed = augment, seed

    def __call__(self, images: tf.Tensor, seed: tf.Tensor | None = None) -> tf.Tensor:
        """images: float (batch, height, width, channels); seed: two integers."""
        images = tf.convert_to_tensor(images, tf.float32)
        seed = tf.constant([self.seed, 0], tf.int64) if seed is None else seed
        height, width = tf.shape(images)[1], tf.shape(images)[2]
        transforms = self.transforms(tf.shape(images)[0], height, width, seed)
        return tf.raw_ops.ImageProjectiveTransformV3(
            images=images, transforms=transforms, output_shape=tf.stack([height, width]),
            fill_value=0.0, interpolation="BILINEAR", fill_mode=self.augment.fill_mode.upper())

    def transforms(self, count, height, width, seed) -> tf.Tensor:
        """(count, 8) projective transforms, each mapping an output pixel to the input pixel
        it samples: flip . rotation . shear . zoom about the centre, then the shift."""
        a = self.augment
        u = tf.random.stateless_uniform([count, 7], seed, minval=-1.0, maxval=1.0)
        h, w = tf.cast(height, tf.float32), tf.cast(width, tf.float32)
        angle = math.radians(a.rotation_range) * u[:, 0]
        cos, sin = tf.cos(angle), tf.sin(angle)
        shear = tf.tan(math.radians(a.shear_range) * u[:, 1])  # x' = x + tan(angle) * y
        zoom_x, zoom_y = 1 + a.zoom_range * u[:, 2], 1 + a.zoom_range * u[:, 3]
        shift_x, shift_y = a.width_shift_range * w * u[:, 4], a.height_shift_range * h * u[:, 5]
        flip = tf.where(u[:, 6] < 0, -1.0, 1.0) if a.horizontal_flip else tf.ones([count])
        # The 2x2 linear part, multiplied out: flip @ rotation @ shear @ zoom.
        a0, a1 = flip * cos * zoom_x, flip * zoom_y * (cos * shear - sin)
        b0, b1 = sin * zoom_x, zoom_y * (sin * shear + cos)
        center_x, center_y = (w - 1) / 2, (h - 1) / 2
        a2 = center_x + shift_x - (a0 * center_x + a1 * center_y)
        b2 = center_y + shift_y - (b0 * center_x + b1 * center_y)
        zeros = tf.zeros([count])
        return tf.stack([a0, a1, a2, b0, b1, b2, zeros, zeros], axis=1)

    def is_identity(self) -> bool:
        a = self.augment
        return not (a.rotation_range or a.width_shift_range or a.height_shift_range
                    or a.shear_range or a.zoom_range or a.horizontal_flip)
