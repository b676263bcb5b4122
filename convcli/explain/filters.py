"""Filter patterns: the input each convolution filter responds to most, by gradient ascent.

The book's "visualizing convnet filters": start from grey noise and climb the gradient
of one filter's mean activation in input space. Here all filters climb at once, one
image per filter in one batch; each image's loss depends on that image alone, so the
batch gives what one filter at a time would.
"""

from __future__ import annotations

import keras
import numpy as np
import tensorflow as tf

from convcli.explain import overlay, taps


def filter_patterns(model: keras.Model, layer_name: str, count: int = 16, steps: int = 30,
                    step_size: float = 10.0, image_size: tuple[int, int] | None = None,
                    seed: int = 0) -> np.ndarray:
    """(n, h, w, 3) uint8: the pattern of each of the first n filters of a layer.

    Args:
        model: a model taking raw [0, 255] images.
        layer_name: a layer at the top level or inside a nested base.
        count: how many filters, from filter 0; n = min(count, the layer's channels).
        steps, step_size: gradient ascent steps and the size of each, in pixel levels.
        image_size: (h, w) of the patterns; default: the model's input size.
        seed: seeds the starting noise.
    """
    images = ascended_images(model, layer_name, count, steps, step_size, image_size, seed)
    return np.stack([deprocessed(image) for image in images])


def ascended_images(model: keras.Model, layer_name: str, count: int = 16, steps: int = 30,
                    step_size: float = 10.0, image_size: tuple[int, int] | None = None,
                    seed: int = 0) -> np.ndarray:
    """(n, h, w, 3) float32: filter_patterns' images in raw pixel space, before deprocessing."""
    if count < 1:
        raise ValueError(f"count must be at least 1 filter. Received: count={count}")
    extractor = layer_model(model, layer_name)
    if len(extractor.output.shape) != 4:
        raise ValueError(f"layer {layer_name} has no filters: filter patterns need a layer with "
                         f"(height, width, channels) outputs, e.g. a convolution. Received: "
                         f"output shape={tuple(extractor.output.shape)}")
    n = min(count, extractor.output.shape[-1])
    channels = model.inputs[0].shape[-1]  # 3, or 1 for a grayscale model
    start = starting_noise(n, input_size(model, image_size), seed, channels)
    return gradient_ascent(extractor, start, np.arange(n), steps, step_size)


def layer_model(model: keras.Model, layer_name: str) -> keras.Model:
    """A model: raw images -> the output of `layer_name` (KeyError if there is none)."""
    tapped = taps.tap_model(model, [layer_name])
    return keras.Model(tapped.inputs[0], tapped.outputs[0])  # drops what comes after the layer


def input_size(model: keras.Model, image_size: tuple[int, int] | None) -> tuple[int, int]:
    """image_size if given, else the model's input (height, width)."""
    if image_size is not None:
        return tuple(image_size)
    height, width = model.inputs[0].shape[1:3]
    if height is None or width is None:
        raise ValueError(f"model {model.name} takes images of any size: pass image_size, e.g. "
                         f"(150, 150). Received: image_size=None")
    return height, width


def starting_noise(n: int, image_size: tuple[int, int], seed: int, channels: int = 3) -> np.ndarray:
    """(n, h, w, channels) float32: the book's grey noise, uniform in [128, 148) pixel levels."""
    rng = np.random.default_rng(seed)
    return (rng.uniform(0, 20, size=(n, *image_size, channels)) + 128).astype(np.float32)


def gradient_ascent(extractor: keras.Model, images: np.ndarray, filter_indices, steps: int,
                    step_size: float) -> np.ndarray:
    """The images after `steps` ascent steps, image i on filter filter_indices[i]."""
    step = ascent_step(extractor, step_size)
    images = tf.constant(images, tf.float32)
    filter_indices = tf.constant(filter_indices, tf.int32)
    for _ in range(steps):
        images = step(images, filter_indices)
    return images.numpy()


def ascent_step(extractor: keras.Model, step_size: float):
    """A tf.function: (images, filter_indices) -> the images one step up their filters."""

    @tf.function
    def step(images, filter_indices):
        with tf.GradientTape() as tape:
            tape.watch(images)
            losses = filter_means(extractor(images, training=False), filter_indices)  # (n,)
            # Summed losses: image i's gradient is that of its own loss, the others hold no i.
            total = tf.reduce_sum(losses)
        gradients = tape.gradient(total, images)
        # Normalise each image's gradient by its own RMS, so every step has the same size.
        rms = tf.sqrt(tf.reduce_mean(tf.square(gradients), axis=(1, 2, 3), keepdims=True))
        return images + step_size * gradients / (rms + 1e-5)

    return step


def filter_means(activations, filter_indices):
    """(n,): image i's mean activation of filter filter_indices[i], over all positions."""
    channel_means = tf.reduce_mean(activations, axis=(1, 2))  # (n, channels)
    return tf.gather(channel_means, filter_indices, axis=1, batch_dims=1)


def deprocessed(image: np.ndarray) -> np.ndarray:
    """A float image as (h, w, 3) uint8, the book's way: standardised, std 0.1 about 0.5.

    A one-channel (grayscale) image is drawn grey: its channel repeated three times.
    """
    image = np.broadcast_to(image, (*image.shape[:2], 3))
    image = (image - image.mean()) / (image.std() + 1e-5)
    return (np.clip(image * 0.1 + 0.5, 0, 1) * 255).astype(np.uint8)


def pattern_grid(patterns: np.ndarray, columns: int = 8) -> np.ndarray:
    """filter_patterns' pictures side by side in one uint8 grid."""
    return overlay.tile(patterns, columns)
