"""Small convnets trained from scratch: the book's stack of Conv2D + pooling blocks."""

from __future__ import annotations

import keras
from keras import layers

from convcli.config import Model
from convcli.models.heads import classifier_output


def build_convnet(model: Model, image_size: tuple[int, int], num_classes: int,
                  channels: int = 3) -> keras.Model:
    """A Functional convnet: one Conv2D + 2x2 pooling block per entry of conv_filters.

    Depth grows while the feature maps shrink; with `dropout` > 0 a Dropout layer sits
    between Flatten and the dense layer, as in the book. Functional, not Sequential, so
    inner layers' outputs can be tapped (Grad-CAM, activations).
    """
    inputs = keras.Input(shape=(*image_size, channels), name="image")  # 1: grayscale, 3: RGB
    low, high = model.pixel_range  # raw [0, 255] pixels in, [low, high] out
    x = layers.Rescaling((high - low) / 255, offset=low, name="rescaling")(inputs)
    pooling = layers.MaxPooling2D if model.pooling == "max" else layers.AveragePooling2D
    for block, filters in enumerate(model.conv_filters, start=1):
        x = layers.Conv2D(filters, model.kernel_size, strides=model.strides, padding=model.padding,
                          activation="relu", name=f"conv{block}")(x)
        x = pooling(pool_size=2, name=f"pool{block}")(x)
    x = layers.Flatten(name="flatten")(x)
    if model.dropout:
        x = layers.Dropout(model.dropout, name="dropout")(x)
    x = layers.Dense(model.dense_units, activation="relu", name="dense")(x)
    outputs = classifier_output(x, num_classes)
    return keras.Model(inputs, outputs, name="convnet")
