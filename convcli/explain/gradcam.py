"""Grad-CAM: which parts of an image a class's score depends on, seen in a feature map.

Selvaraju et al. (2017), as the book and keras-io compute it: the gradient of a class
score with respect to a convolutional feature map, averaged over the map's height and
width, weighs each channel; the weighted sum of the channels, with negatives cut off,
is the heatmap. The score is the class's logit (before the sigmoid or softmax), whether
the last Dense applies the activation itself or a separate Activation or Softmax layer
does (output.py): the same weights get the same explanation either way. A
single-sigmoid binary head has one logit z: class 1's score is z and class 0's is -z,
so the two classes get different maps (a frequent mistake, tf-keras-vis#78).

Many images are explained in batches inside one compiled function. The channel weights
are averaged per image (not over the batch, as the keras-io example does), so a batch
gives exactly the heatmaps of one image at a time.
"""

from __future__ import annotations

import keras
import numpy as np
import tensorflow as tf

from convcli.explain.output import final_activation
from convcli.explain.overlay import upsample
from convcli.explain.taps import all_layers, as_functional, tap_model


def feature_map_layers(model: keras.Model) -> list[str]:
    """Layers with a 4-D output (batch, height, width, channels), nested bases included."""
    return [layer.name for layer in all_layers(as_functional(model)[0])
            if not isinstance(layer, keras.layers.InputLayer) and len(_output_shape(layer)) == 4]


def layer_shapes(model: keras.Model) -> list[str]:
    """"name (output shape)" of every layer convcli reaches, nested ones included: what a
    user is shown when none of them is a feature map."""
    return [f"{layer.name} {_output_shape(layer) or '(shape unknown)'}"
            for layer in all_layers(as_functional(model)[0])
            if not isinstance(layer, keras.layers.InputLayer)]


def _output_shape(layer) -> tuple:
    """A layer's output shape; () for one never called in a graph (inside a sub-classed model)."""
    try:
        return tuple(layer.output.shape)
    except (AttributeError, ValueError):
        return ()


def default_layer(model: keras.Model) -> str:
    """The last 4-D feature map, before any pooling that ends the model's convolutions.

    The book explains VGG16 at block5_conv3, not at the 2x coarser block5_pool after it.
    """
    candidates = feature_map_layers(model)
    if not candidates:
        raise ValueError(f"model {model.name} has no layer with a 4-D output")
    pooling = (keras.layers.MaxPooling2D, keras.layers.AveragePooling2D)
    layers = {layer.name: layer for layer in all_layers(as_functional(model)[0])}
    while len(candidates) > 1 and isinstance(layers[candidates[-1]], pooling):
        candidates.pop()
    return candidates[-1]


class GradCam:
    """Heatmaps and class probabilities for batches of images, for one model and layer."""

    def __init__(self, model: keras.Model, layer: str | None = None):
        self.layer = layer or default_layer(model)
        self.final = final_activation(model)
        input_of = self.final.layer.name if self.final.scores in ("input", "dense") else None
        self.tapped = tap_model(model, [self.layer], input_of=input_of)
        self.step = tf.function(self._step, reduce_retracing=True)

    @property
    def explained(self) -> str:
        """The tensor whose gradient the heatmaps show, for a person."""
        return self.final.explained

    def __call__(self, images: np.ndarray, classes=None, batch_size: int = 32):
        """(heatmaps (n, h, w) in [0, 1], probabilities (n, num_classes)) for raw images.

        classes: one class index per image, or None for each image's predicted class.
        """
        heatmaps, probabilities = [], []
        for start in range(0, len(images), batch_size):
            batch = tf.convert_to_tensor(images[start:start + batch_size], tf.float32)
            chosen = -1 if classes is None else np.asarray(classes)[start:start + batch_size]
            wanted = tf.broadcast_to(tf.constant(chosen, tf.int32), (len(batch),))
            heatmap, probability = self.step(batch, wanted)
            heatmaps.append(heatmap.numpy())
            probabilities.append(probability.numpy())
        return np.concatenate(heatmaps), np.concatenate(probabilities)

    def _step(self, images, classes):
        with tf.GradientTape() as tape:
            feature_map, *last_input, output = self.tapped(images, training=False)
            logits, probabilities = self._logits(last_input[0] if last_input else None, output)
            # -1: the predicted class
            classes = tf.where(classes < 0, tf.argmax(probabilities, axis=-1, output_type=tf.int32), classes)
            score = tf.gather(logits, classes, batch_dims=1)  # (n,): one score per image
        gradients = tape.gradient(score, feature_map)  # (n, h, w, c)
        weights = tf.reduce_mean(gradients, axis=(1, 2))  # (n, c): per image, per channel
        heatmap = tf.nn.relu(tf.einsum("nhwc,nc->nhw", feature_map, weights))
        # Each map scaled to [0, 1] on its own; an all-zero map stays zero.
        heatmap = heatmap / (tf.reduce_max(heatmap, axis=(1, 2), keepdims=True) + 1e-12)
        return heatmap, probabilities

    def _logits(self, last_input, output):
        """(a score per class before the output activation, the class probabilities).

        A separate final Activation/Softmax layer's input is the scores; a final Dense
        with a sigmoid or softmax is re-applied without it; any other output is taken as
        the scores themselves.
        """
        final = self.final
        if final.scores == "input":
            logits = last_input
        elif final.scores == "dense":
            dense = final.layer
            inputs = tf.cast(last_input, dense.kernel.dtype)  # mixed precision: the layer's dtype
            logits = tf.matmul(inputs, dense.kernel) + (dense.bias if dense.use_bias else 0.0)
        else:
            logits = output
        if output.shape[-1] == 1:  # one sigmoid unit: class 1 is z, class 0 is -z
            return tf.concat([-logits, logits], axis=-1), tf.concat([1.0 - output, output], axis=-1)
        return logits, output


def pointing_game(heatmaps, sizes, boxes) -> float:
    """The share of heatmaps whose maximum, at image resolution, falls inside the object's box.

    sizes: (width, height) per image; boxes: (x_min, y_min, x_max, y_max) per image.
    """
    hits = []
    for heatmap, (width, height), (x_min, y_min, x_max, y_max) in zip(heatmaps, sizes, boxes):
        full = upsample(heatmap, width, height)
        y, x = np.unravel_index(np.argmax(full), full.shape)
        hits.append(x_min <= x + 0.5 <= x_max and y_min <= y + 0.5 <= y_max)  # pixel centres
    return float(np.mean(hits)) if hits else float("nan")
