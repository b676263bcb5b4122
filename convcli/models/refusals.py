"""Refusals: why a model file cannot be loaded, said in one line with what to do.

Keras' own errors bury the cause: "Error when deserializing class 'X' using
config={...}" puts the cause after a config dump of several hundred characters, and
"Exception encountered when calling Flatten.call()." puts it on a later line. Layers
Keras 3 cannot rebuild at all are found in a Keras 2 config before loading.
"""

from __future__ import annotations

import re
from pathlib import Path

# Keras 2 recorded TensorFlow functions called on Keras tensors (`x * 2`, tf.nn.relu(x),
# x[:, 0]) as these layers; Keras 3 has no such layers and cannot rebuild them.
TF_OPERATION_LAYERS = ("TFOpLambda", "SlicingOpLambda")
REBUILD = "rebuild the model in Keras 3 from Keras layers and load its weights (model.load_weights)"


def layer_classes(config) -> set[str]:
    """Every layer class a model config names, nested models included."""
    found = set()
    if isinstance(config, dict):
        if isinstance(config.get("class_name"), str) and ("config" in config or "name" in config):
            found.add(config["class_name"])
        for value in config.values():
            found |= layer_classes(value)
    elif isinstance(config, list):
        for item in config:
            found |= layer_classes(item)
    return found


def refuse_unloadable(path: Path, config) -> None:
    """A ModelError if a Keras 2 config has layers Keras 3 cannot rebuild."""
    from convcli.errors import ModelError

    operations = sorted(layer_classes(config) & set(TF_OPERATION_LAYERS))
    if operations:
        raise ModelError(f"model {path} holds {' and '.join(operations)} layers (TensorFlow operations "
                         "applied to Keras 2 tensors, such as `x * 2` or tf.nn.relu(x)), which Keras 3 "
                         f"cannot rebuild; {REBUILD}, or replace them with Keras layers in Keras 2 and "
                         "save it again")


def load_failure(path: Path, error: BaseException) -> str:
    """The one line that says why Keras could not load `path`: the cause, never a config dump."""
    text = str(error).strip()
    if "`Lambda` layer" in text:
        return (f"model {path} contains a Lambda layer, whose code would run when it loads; convcli "
                "loads model files in Keras' safe mode only and refuses it; replace the Lambda with "
                "Keras layers (such as Rescaling for x / 255) and save the model again")
    unknown = re.search(r"(?:Unknown layer|Could not locate class): '([^']+)'", text)
    if unknown:
        return (f"model {path} uses layer class '{unknown.group(1)}', which is not one of Keras' own: "
                f"its code lives in the program that saved it, and convcli loads Keras layers only; "
                f"{REBUILD}")
    return f"cannot load model {path}: {cause(text)[:300]}"


def cause(text: str) -> str:
    """The cause in a Keras error message, without the config or arguments around it."""
    layer = re.match(r"Error when deserializing class '([^']+)'", text)
    encountered = text.rsplit("Exception encountered:", 1)
    if layer and len(encountered) == 2:
        return f"layer class {layer.group(1)}: {_first_line(encountered[1])}"
    call = re.match(r"Exception encountered when calling (\S+?)\.call\(\)\.", text)
    lines = [line for line in text.splitlines() if line.strip()]
    if call and len(lines) > 1:  # the cause is the next line, in bold
        return f"calling {call.group(1)}: {ANSI.sub('', lines[1]).strip()}"
    return _first_line(text)


ANSI = re.compile(r"\x1b\[[0-9;]*m")  # Keras prints the cause of a failed call in bold


def first_line(error: BaseException) -> str:
    """The first line of an exception's message (Keras messages run to pages)."""
    return _first_line(str(error)) if str(error).strip() else type(error).__name__


def _first_line(text: str) -> str:
    text = text.strip()
    return text.splitlines()[0] if text else "unknown error"
