"""The layer table of a model: name, type, output shape, parameters, trainable, cost.

What `convcli summary` prints and model.txt holds: how each layer reshapes the image
(border effects and pooling shrink height and width, filters set the depth), what it
costs per image (multiply-adds) and how much of the image each of its units sees
(receptive field); both computed in models/cost.py.
"""

from __future__ import annotations

from dataclasses import dataclass

import keras
import numpy as np

from convcli.models.cost import layer_macs, receptive_fields


@dataclass(frozen=True)
class LayerRow:
    name: str
    type: str
    output_shape: tuple
    params: int
    trainable_params: int
    macs: int = 0  # multiply-adds per image
    receptive_field: tuple | None = None  # (height, width) in input pixels; None: whole image

    @property
    def trainable(self) -> str:
        if self.params == 0:
            return "-"
        if self.trainable_params == self.params:
            return "yes"
        return "no" if self.trainable_params == 0 else "partly"


def layer_rows(model: keras.Model) -> list[LayerRow]:
    """One row per top-level layer, with the output shape Keras itself reports."""
    fields = receptive_fields(model)
    return [LayerRow(name=layer.name, type=type(layer).__name__, output_shape=_shape(layer),
                     params=count_params(layer.weights),
                     trainable_params=count_params(layer.trainable_weights),
                     macs=layer_macs(layer), receptive_field=fields.get(layer.name))
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
    return {"total": total, "trainable": trainable, "non_trainable": total - trainable,
            "macs": sum(row.macs for row in rows)}


def last_feature_map(rows: list[LayerRow]) -> LayerRow | None:
    """The last row whose output is still a map: one tensor (batch, height, width, channels)."""
    maps = [row for row in rows if len(row.output_shape) == 4
            and not any(isinstance(size, tuple) for size in row.output_shape)]
    return maps[-1] if maps else None


def totals_caption(rows: list[LayerRow]) -> str:
    """The caption: parameters and multiply-adds per image; the last feature map's field."""
    counts = totals(rows)
    macs = format_count(counts["macs"])
    macs = f"{macs[:-1]} {macs[-1]}MACs" if macs[-1].isalpha() else f"{macs} MACs"
    caption = (f"total {counts['total']:,} parameters: {counts['trainable']:,} trainable, "
               f"{counts['non_trainable']:,} frozen; {macs} per image")
    last = last_feature_map(rows)
    if last is None or not rows_have_fields(rows):
        return caption
    field = format_receptive_field(last.receptive_field)
    return (f"{caption}\nfield: the receptive field, in input pixels (all: the whole image); "
            f"{last.name}, the last feature map, sees {field}")


def format_shape(shape: tuple) -> str:
    """Shapes as Keras prints them: (None, 62, 62, 32)."""
    return "(" + ", ".join("None" if d is None else str(d) for d in shape) + ")"


def format_count(count: int) -> str:
    """A count in three significant digits: 864, 340K, 1.23M, 15.3G."""
    if count < 1000:
        return str(count)
    for power, suffix in enumerate("KMGT", start=1):
        text = f"{count / 1000 ** power:.3g}"
        if float(text) < 1000:  # 999.6K rounds to 1e+03: say 1M instead
            return text + suffix
    return f"{count / 1000 ** 4:.0f}T"


def receptive_field_column(rows: list[LayerRow]) -> list[str]:
    """Per row: 34x34, "all" (the whole image), or "-" for every row of a model that takes no images."""
    if not rows_have_fields(rows):
        return ["-"] * len(rows)
    return [format_receptive_field(row.receptive_field) for row in rows]


def format_receptive_field(field: tuple | None) -> str:
    """(34, 34) as 34x34; None (each unit sees the whole image) as "all"."""
    return "all" if field is None else "x".join(str(size) for size in field)


def rows_have_fields(rows: list[LayerRow]) -> bool:
    """Whether any row has a receptive field: the model takes images (its input's is 1x1)."""
    return any(row.receptive_field is not None for row in rows)
