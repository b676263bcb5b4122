"""Classifier heads: the output layer and the loss that go with the number of classes."""

from __future__ import annotations

import keras


def classifier_output(x, num_classes: int):
    """One sigmoid unit for two classes (the book's binary head), softmax otherwise.

    float32 so the probabilities stay exact under mixed precision.
    """
    if num_classes == 2:
        return keras.layers.Dense(1, activation="sigmoid", dtype="float32", name="predictions")(x)
    return keras.layers.Dense(num_classes, activation="softmax", dtype="float32", name="predictions")(x)


def loss_for(num_classes: int) -> str:
    return "binary_crossentropy" if num_classes == 2 else "sparse_categorical_crossentropy"
