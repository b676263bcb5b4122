"""Keras 2 Sequential H5 files, made readable by Keras 3.

Keras 2.0-2.2 (the book's) saved a Sequential model's config as a bare list of layers,
the first carrying `batch_input_shape`, with no InputLayer. Keras 3.15's legacy loader
refuses the list ("A Sequential model configuration must be a dictionary") and reads
that shape as an input shape, batch axis included ("Kernel shape must have the same
length as input"). `readable_copy` gives such a file to Keras as a temporary copy whose
config has the form Keras 3 reads: {"name", "layers"}, an InputLayer first. The weights
are untouched: an InputLayer has none.
"""

from __future__ import annotations

import contextlib
import json
import shutil
import tempfile
from pathlib import Path
from typing import Iterator


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


@contextlib.contextmanager
def readable_copy(path: Path) -> Iterator[Path]:
    """`path` itself, or a temporary copy with its Keras 2 Sequential config rewritten."""
    import h5py

    try:
        with h5py.File(path, "r") as handle:
            config = json.loads(handle.attrs["model_config"])
    except Exception:  # not a model file h5py reads: Keras' own error will say so
        config = None
    rewritten = keras3_sequential(config)
    if rewritten is None:
        yield path
        return
    with tempfile.TemporaryDirectory(prefix="convcli-keras2-") as folder:
        copy = Path(folder) / f"model{path.suffix}"
        shutil.copyfile(path, copy)
        with h5py.File(copy, "r+") as handle:
            handle.attrs["model_config"] = json.dumps(rewritten)
        yield copy
