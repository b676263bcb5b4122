"""Classifier heads: the layers on top of a convolutional base, and the matching loss."""

from __future__ import annotations

import keras
from keras import layers


def output_layer(num_classes: int) -> layers.Dense:
    """One sigmoid unit for two classes (the book's binary head), softmax otherwise.

    float32 so the probabilities stay exact under mixed precision.
    """
    if num_classes == 2:
        return layers.Dense(1, activation="sigmoid", dtype="float32", name="predictions")
    return layers.Dense(num_classes, activation="softmax", dtype="float32", name="predictions")


def classifier_output(x, num_classes: int):
    return output_layer(num_classes)(x)


def dense_head(units: int, dropout: float, num_classes: int) -> list[keras.layers.Layer]:
    """The book's head on a pretrained base: Flatten, Dense + ReLU, Dropout, the output.

    Returned as layers, not applied, so one head can sit on a base's output in the full
    model and on cached features in a head-only model, sharing its weights.
    """
    head = [layers.Flatten(name="flatten"), layers.Dense(units, activation="relu", name="dense")]
    if dropout:
        head.append(layers.Dropout(dropout, name="dropout"))
    return head + [output_layer(num_classes)]


def loss_for(num_classes: int) -> str:
    return "binary_crossentropy" if num_classes == 2 else "sparse_categorical_crossentropy"
