"""Intermediate activations: what each convolution and pooling layer makes of one image.

The book's "visualizing intermediate activations": run one image through the model,
keep the output of every feature layer, and draw each channel as a small picture.
"""

from __future__ import annotations

import keras
import numpy as np

from convcli.explain import overlay, taps


def feature_layers(model: keras.Model) -> list[str]:
    """Names of the 2-D convolution and (non-global) pooling layers, in graph order.

    A nested base's layers are listed in its place, so a transfer model lists the
    base's blocks. Works for Sequential and Functional models.
    """
    kinds = (keras.layers.Conv2D, keras.layers.SeparableConv2D, keras.layers.DepthwiseConv2D,
             keras.layers.MaxPooling2D, keras.layers.AveragePooling2D)
    return [layer.name for layer in taps.all_layers(model) if isinstance(layer, kinds)]


def layer_activations(model: keras.Model, image: np.ndarray,
                      names: list[str] | None = None) -> dict[str, np.ndarray]:
    """{layer name: that layer's output for one image}, in the order of `names`.

    Args:
        model: a model taking raw [0, 255] images.
        image: one (h, w, 3) image, floats in [0, 255].
        names: layer names, top-level or inside a nested base; default: feature_layers.

    Returns:
        Each layer's output for the image without the batch axis, e.g. (h', w', c).

    Raises:
        KeyError: a name is no layer of the model (nor of a nested base).
    """
    import tensorflow as tf

    names = feature_layers(model) if names is None else list(names)
    batch = tf.constant(np.asarray(image, np.float32)[None])  # (1, h, w, 3)
    # tap_model takes taps from one place only: the model runs once per place (ConvNeXt's
    # stem and downsampling blocks are nested models, so a dozen places). All of them in one
    # compiled function: called eagerly, or compiled one by one, each traces again (Keras
    # makes an XLA function per grouped convolution call), and TensorFlow warns of retracing.
    groups = _names_by_holder(model, names)
    tapped = [taps.tap_model(model, group) for group in groups]
    outputs = tf.function(lambda images: [each(images, training=False) for each in tapped])(batch)
    found = {name: keras.ops.convert_to_numpy(output)[0]
             for group, group_outputs in zip(groups, outputs)
             for name, output in zip(group, group_outputs)}
    return {name: found[name] for name in names}


def _names_by_holder(model: keras.Model, names: list[str]) -> list[list[str]]:
    """The names grouped by where their layer lives: the top level or one nested model."""
    groups = {}
    for name in names:
        path = taps.layer_path(model, name)  # KeyError(name) for an unknown layer
        groups.setdefault(tuple(id(holder) for holder in path[:-1]), []).append(name)
    return list(groups.values())


def channel_grid(activation: np.ndarray, columns: int = 16, min_cell: int = 32) -> np.ndarray:
    """Every channel of one (h', w', c) activation as a viridis tile, in a uint8 grid.

    Each channel is standardised on its own (the book's post-processing); a constant
    channel, which standardising cannot show, is drawn flat mid-grey. Tiles are blown
    up by a whole factor (nearest neighbour) to at least `min_cell` pixels a side.
    """
    if np.ndim(activation) != 3:
        raise ValueError("channel_grid needs one image's activation of shape (height, width, "
                         "channels), e.g. from a convolution or pooling layer. Received: "
                         f"activation.shape={np.shape(activation)}")
    channels = np.moveaxis(np.asarray(activation, np.float32), -1, 0)  # (c, h', w')
    scale = max(1, -(-min_cell // min(channels.shape[1:])))  # ceil(min_cell / shorter side)
    tiles = [_upscaled(_channel_picture(channel), scale) for channel in channels]
    return overlay.tile(tiles, columns)


def _channel_picture(channel: np.ndarray) -> np.ndarray:
    """One (h', w') channel as a (h', w', 3) uint8 picture, the book's way."""
    if channel.max() == channel.min():
        return np.full((*channel.shape, 3), 128, np.uint8)
    # Centre and scale the channel, then map it around mid-range: std 1 -> 64 grey levels.
    values = (channel - channel.mean()) / (channel.std() + 1e-5) * 64 + 128
    return overlay.colorize(np.clip(values, 0, 255) / 255, "viridis")


def _upscaled(picture: np.ndarray, scale: int) -> np.ndarray:
    """A picture with each pixel repeated into a scale x scale block."""
    return np.repeat(np.repeat(picture, scale, axis=0), scale, axis=1)
