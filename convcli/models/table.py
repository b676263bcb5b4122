"""The layer table of a model: name, type, output shape, parameters, trainable.

What `convcli summary` prints and model.txt holds: how each layer reshapes the image
(border effects and pooling shrink height and width, filters set the depth).
"""

from __future__ import annotations

from dataclasses import dataclass

import keras
import numpy as np


@dataclass(frozen=True)
class LayerRow:
    name: str
    type: str
    output_shape: tuple
    params: int
    trainable_params: int

    @property
    def trainable(self) -> str:
        if self.params == 0:
            return "-"
        if self.trainable_params == self.params:
            return "yes"
        return "no" if self.trainable_params == 0 else "partly"


def layer_rows(model: keras.Model) -> list[LayerRow]:
    """One row per top-level layer, with the output shape Keras itself reports."""
    return [LayerRow(name=layer.name, type=type(layer).__name__, output_shape=_shape(layer),
                     params=count_params(layer.weights),
                     trainable_params=count_params(layer.trainable_weights))
            for layer in model.layers]


def _shape(layer) -> tuple:
    output = layer.output
    return tuple(output.shape) if hasattr(output, "shape") else tuple(t.shape for t in output)


def count_params(weights) -> int:
    """The number of values in a list of weights (e.g. model.trainable_weights)."""
    return int(sum(np.prod(w.shape) for w in weights))


def totals(rows: list[LayerRow]) -> dict:
    total = sum(row.params for row in rows)
    trainable = sum(row.trainable_params for row in rows)
    return {"total": total, "trainable": trainable, "non_trainable": total - trainable}


def format_shape(shape: tuple) -> str:
    """Shapes as Keras prints them: (None, 62, 62, 32)."""
    return "(" + ", ".join("None" if d is None else str(d) for d in shape) + ")"
