"""Keras 2 H5 model configs, made readable by Keras 3.

Keras 3.15's legacy loader reads most Keras 2 (tf_keras) H5 files, but not these,
each rewritten here into the form Keras 3 writes itself:

- Keras 2.0-2.2 (the book's) saved a Sequential model's config as a bare list of layers,
  the first carrying `batch_input_shape`, with no InputLayer: refused ("A Sequential
  model configuration must be a dictionary"), or that shape read as an input shape,
  batch axis included ("Kernel shape must have the same length as input").
- A model nested as one layer (the book's VGG16 base inside a Sequential or Functional
  model) lists its one input and output as one-element lists, so Keras 3 rebuilds it
  returning a list ("Exception encountered when calling Flatten.call()"); and Keras 2
  numbered the outer call of a nested model 1 (its node 0 was its own construction),
  which Keras 3 does not count ("either has loops or disconnected nodes").
- DepthwiseConv2D and SeparableConv2D (MobileNet, Xception, EfficientNet) carry
  `groups: 1`, an argument Keras 3 no longer takes ("Unrecognized keyword arguments"),
  and SeparableConv2D the `kernel_*` arguments of a plain convolution, which it never
  used (its kernels are `depthwise_*` and `pointwise_*`).

`readable_copy` gives such a file to Keras as a temporary copy with its config
rewritten. The weights are untouched: the rewrites change no layer that holds any.
"""

from __future__ import annotations

import contextlib
import json
import shutil
import tempfile
from pathlib import Path
from typing import Iterator

MODEL_CLASSES = ("Sequential", "Functional", "Model")
ANY = object()
# Arguments Keras 2 wrote that Keras 3 refuses, by layer class, with the value that
# means "as Keras 3 does anyway" (ANY: an argument the layer never used); any other
# value is left for Keras to refuse.
DROPPED_ARGUMENTS = {
    "DepthwiseConv2D": {"groups": 1},
    "SeparableConv2D": {"groups": 1, "kernel_initializer": ANY, "kernel_regularizer": ANY,
                        "kernel_constraint": ANY},
}


def keras3_model(config: dict) -> dict:
    """The Keras 3 form of a Keras 2 model config (the same dict when it needs no change)."""
    if not isinstance(config, dict) or config.get("class_name") not in MODEL_CLASSES:
        return _keras3_layer(config)
    config = keras3_sequential(config) or config
    inner = config.get("config")
    if not isinstance(inner, dict) or not isinstance(inner.get("layers"), list):
        return config
    layers = [_keras3_layer(layer) for layer in inner["layers"]]
    if config["class_name"] != "Sequential":
        nested = {layer.get("name") for layer in layers
                  if isinstance(layer, dict) and layer.get("class_name") in MODEL_CLASSES}
        layers = [_renumbered(layer, nested) for layer in layers]
        inner = {**inner, **{key: _one_tensor(inner[key]) for key in ("input_layers", "output_layers")
                             if key in inner}}
    return {**config, "config": {**inner, "layers": layers}}


def _keras3_layer(layer):
    """A layer's config with the arguments Keras 3 refuses dropped; a nested model rewritten."""
    if not isinstance(layer, dict):
        return layer
    if layer.get("class_name") in MODEL_CLASSES:
        return keras3_model(layer)
    dropped = DROPPED_ARGUMENTS.get(layer.get("class_name"), {})
    settings = layer.get("config")
    if not dropped or not isinstance(settings, dict):
        return layer
    kept = {key: value for key, value in settings.items()
            if key not in dropped or dropped[key] not in (ANY, value)}
    return {**layer, "config": kept}


def _renumbered(layer, nested: set) -> dict:
    """Calls of a nested model numbered from 0, as Keras 3 counts them (Keras 2 counted the
    model's own construction as call 0)."""
    nodes = layer.get("inbound_nodes") if isinstance(layer, dict) else None
    if not nodes or not nested:
        return layer

    def renumber(entry):
        if isinstance(entry, list) and len(entry) >= 3 and entry[0] in nested \
                and isinstance(entry[1], int):
            return [entry[0], max(entry[1] - 1, 0), *entry[2:]]
        return [renumber(item) for item in entry] if isinstance(entry, list) else entry

    return {**layer, "inbound_nodes": renumber(nodes)}


def _one_tensor(tensors):
    """[[name, node, index]] -> [name, node, index]: one input or output, not a list of one."""
    if isinstance(tensors, list) and len(tensors) == 1 and isinstance(tensors[0], list):
        return tensors[0]
    return tensors


def keras3_sequential(config: dict) -> dict | None:
    """The Keras 3 form of a Keras 2 Sequential config, or None when it needs no change."""
    if not isinstance(config, dict) or config.get("class_name") != "Sequential":
        return None
    inner = config.get("config")
    layers = inner if isinstance(inner, list) else (inner or {}).get("layers")
    if not isinstance(layers, list) or not layers or not isinstance(layers[0], dict):
        return None
    first = dict(layers[0].get("config") or {})
    needs_input = layers[0].get("class_name") != "InputLayer" and "batch_input_shape" in first
    if isinstance(inner, dict) and not needs_input:
        return None
    layers = list(layers)
    if needs_input:
        shape = first.pop("batch_input_shape")
        layers[0] = {**layers[0], "config": first}
        layers.insert(0, {"class_name": "InputLayer",
                          "config": {"batch_shape": shape, "dtype": first.get("dtype", "float32"),
                                     "name": f"{first.get('name', 'layer')}_input"}})
    settings = inner if isinstance(inner, dict) else {}
    return {**config, "config": {**settings, "name": settings.get("name", "sequential"), "layers": layers}}


def h5_config(path: Path) -> dict | None:
    """The model config of an H5 file, or None when h5py cannot read one from it."""
    import h5py

    try:
        with h5py.File(path, "r") as handle:
            return json.loads(handle.attrs["model_config"])
    except Exception:  # not a model file h5py reads: Keras' own error will say so
        return None


@contextlib.contextmanager
def readable_copy(path: Path, config: dict | None = None) -> Iterator[Path]:
    """`path` itself, or a temporary copy with its Keras 2 config rewritten for Keras 3."""
    import h5py

    config = h5_config(path) if config is None else config
    rewritten = keras3_model(config) if config is not None else None
    if rewritten is None or rewritten == config:
        yield path
        return
    with tempfile.TemporaryDirectory(prefix="convcli-keras2-") as folder:
        copy = Path(folder) / f"model{path.suffix}"
        shutil.copyfile(path, copy)
        with h5py.File(copy, "r+") as handle:
            handle.attrs["model_config"] = json.dumps(rewritten)
        yield copy
