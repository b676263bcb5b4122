"""Converters: best.keras as a serving model, written as a SavedModel, LiteRT or ONNX file.

Every format gets the same serving model: the run's model with a named input
(`images`: float32 raw [0, 255] pixels of a fixed size, any batch) and a named output
(`probabilities`: one column per class, also for a one-unit sigmoid head), written with
Keras' own `model.export` (https://keras.io/api/models/model_saving_apis/export/).
Converters speak on stdout, stderr and straight to file descriptors 1 and 2;
`quiet()` keeps all of it out of convcli's output.
"""

from __future__ import annotations

import contextlib
import io
import logging
import os
import sys
import tempfile
import warnings
from pathlib import Path
from typing import Callable, Iterator

from convcli.errors import ModelError
from convcli.exporting.record import INPUT_NAME, OUTPUT_NAME
from convcli.models.saved import first_line

KERAS_FORMATS = {"saved_model": "tf_saved_model", "litert": "litert", "onnx": "onnx"}


def in_float32(model) -> tuple[object, str | None]:
    """(the model computing in float32 with the same weights, the mixed policy it had).

    A mixed-precision run's best.keras computes in float16 or bfloat16 (its weights are
    float32), which the ONNX and LiteRT converters refuse; an export is float32 (or
    quantized on LiteRT's own terms). Returns (model, None) for a float32 model.
    """
    import keras

    mixed = set()
    config = _float32_policies(keras.saving.serialize_keras_object(model), mixed)
    if not mixed:
        return model, None
    rebuilt = keras.saving.deserialize_keras_object(config)
    rebuilt.set_weights(model.get_weights())
    return rebuilt, sorted(mixed)[0]


def _float32_policies(node, mixed: set):
    """A serialized model with every mixed DTypePolicy made float32; `mixed` collects them."""
    if isinstance(node, list):
        return [_float32_policies(item, mixed) for item in node]
    if not isinstance(node, dict):
        return node
    if node.get("class_name") == "DTypePolicy" and node["config"]["name"].startswith("mixed_"):
        mixed.add(node["config"]["name"])
        return {**node, "config": {**node["config"], "name": "float32"}}
    return {key: _float32_policies(value, mixed) for key, value in node.items()}


def serving_model(model):
    """The model with input `images` and output `probabilities` (batch, classes)."""
    import keras

    images = keras.Input(shape=tuple(model.inputs[0].shape[1:]), name=INPUT_NAME, dtype="float32")
    outputs = model(images, training=False)
    if outputs.shape[-1] == 1:  # one sigmoid unit is class 1's probability p; class 0's is 1 - p
        outputs = keras.layers.Concatenate()([1.0 - outputs, outputs])
    return keras.Model(images, {OUTPUT_NAME: outputs}, name="serving")


def write_model(model, format: str, quantize: str, path: Path,
                representative: Callable[[], Iterator] | None = None) -> None:
    """Write `serving_model(model)` as `format` at `path` (a file, or a SavedModel folder)."""
    import tensorflow as tf

    serving = serving_model(model)
    signature = [tf.TensorSpec((None, *serving.inputs[0].shape[1:]), tf.float32, name=INPUT_NAME)]
    options = litert_options(quantize, representative) if format == "litert" else {}
    try:
        with quiet():
            serving.export(str(path), format=KERAS_FORMATS[format], input_signature=signature,
                           verbose=False, **options)
    except Exception as error:  # converters raise many types
        raise ModelError(f"converting the model to {format} failed: {first_line(error)[:300]}") from None


def litert_options(quantize: str, representative: Callable[[], Iterator] | None) -> dict:
    """TFLiteConverter settings for a quantization (keras.export passes them on).

    Only LiteRT's built-in operators, so any LiteRT runtime can run the file (Keras
    would also allow TensorFlow ops, which need the Flex delegate); full-integer int8
    only its int8 kernels. Inputs and outputs stay float32 in every case, so the file
    takes raw pixels like best.keras.
    https://ai.google.dev/edge/litert/models/post_training_quantization
    """
    import tensorflow as tf

    builtins = [tf.lite.OpsSet.TFLITE_BUILTINS]
    if quantize == "none":
        return {"target_spec": {"supported_ops": builtins}}
    if quantize == "float16":
        return {"optimizations": [tf.lite.Optimize.DEFAULT],
                "target_spec": {"supported_ops": builtins, "supported_types": [tf.float16]}}
    if quantize == "dynamic-int8":  # int8 weights; activations stay float
        return {"optimizations": [tf.lite.Optimize.DEFAULT], "target_spec": {"supported_ops": builtins}}
    return {"optimizations": [tf.lite.Optimize.DEFAULT], "representative_dataset": representative,
            "target_spec": {"supported_ops": [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]}}


@contextlib.contextmanager
def quiet() -> Iterator[None]:
    """Swallow what a converter or runtime prints: Python's streams, warnings, loggers,
    and file descriptors 1 and 2 (where TensorFlow's and LiteRT's C++ code write)."""
    sys.stdout.flush()
    sys.stderr.flush()
    saved = [os.dup(1), os.dup(2)]
    loggers = [logging.getLogger(name) for name in ("tf2onnx", "absl", "tensorflow")]
    levels = [logger.level for logger in loggers]
    with tempfile.TemporaryFile() as sink, warnings.catch_warnings(), \
            contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
        warnings.simplefilter("ignore")
        for logger in loggers:
            logger.setLevel(logging.ERROR)
        os.dup2(sink.fileno(), 1)
        os.dup2(sink.fileno(), 2)
        try:
            yield
        finally:
            os.dup2(saved[0], 1)
            os.dup2(saved[1], 2)
            for descriptor in saved:
                os.close(descriptor)
            for logger, level in zip(loggers, levels):
                logger.setLevel(level)
