"""Pretrained convolutional bases: build one by name, give it its weights, put a head on it.

A base is a keras.applications convnet without its top, or the built-in VGG-style base.
`transfer_model` wraps it so a saved model takes raw [0, 255] images: the base's own
preprocessing is applied to the symbolic input (a Lambda layer would not reload,
docs/notes.md#preprocessing-inside-the-model), and the base is called with training=False, so its BatchNormalization
layers stay in inference mode even when it is unfrozen for fine-tuning.
"""

from __future__ import annotations

import contextlib
import hashlib
import re
import socket
import warnings
from pathlib import Path

import keras
import numpy as np
from keras import layers

from convcli.bases import BASES, BUILTIN, BUILTIN_FILTERS
from convcli.errors import ModelError
from convcli.models.heads import dense_head
from convcli.models.saved import built_outputs, first_line, load_model_file

DOWNLOAD_TIMEOUT = 20  # seconds without a byte before an ImageNet download gives up


def build_builtin_base(input_shape=(None, None, 3), filters=BUILTIN_FILTERS) -> keras.Model:
    """The built-in base: per block, two 3x3 Conv2D + BatchNorm + ReLU, then 2x2 max pooling.

    It takes pixels in [0, 1]; the layer names follow VGG16's (block5_conv1 there,
    block4_conv1 here), so `fine_tune.unfreeze_from` reads the same.
    """
    inputs = keras.Input(shape=input_shape, name="base_input")
    x = inputs
    for block, width in enumerate(filters, start=1):
        for conv in (1, 2):
            x = layers.Conv2D(width, 3, padding="same", use_bias=False,
                              name=f"block{block}_conv{conv}")(x)
            x = layers.BatchNormalization(name=f"block{block}_bn{conv}")(x)
            x = layers.ReLU(name=f"block{block}_relu{conv}")(x)
        x = layers.MaxPooling2D(2, name=f"block{block}_pool")(x)
    return keras.Model(inputs, x, name="builtin_base")


def build_base(name: str, weights: str, image_size: tuple[int, int]) -> keras.Model:
    """The base `name` for images of `image_size`, with weights resolved from `weights`.

    weights: "imagenet" (Keras downloads them into its cache), "none" (random), or a
    file: weights (.weights.h5 / .h5) or a .keras model holding the same layers. The
    built-in base's own weights file is passed here as a path, like any other.
    """
    shape = (*image_size, 3)
    if name == BUILTIN:
        base = build_builtin_base(shape)
    else:
        with _imagenet_download(name, weights):
            try:
                base = getattr(keras.applications, BASES[name].application)(
                    include_top=False, input_shape=shape,
                    weights="imagenet" if weights == "imagenet" else None)
            except ValueError as error:  # e.g. an input size these weights do not exist for
                raise ModelError(f"cannot build base {name}: {first_line(error)}") from None
    if weights not in ("imagenet", "none"):
        load_weights_file(base, Path(weights), name)
    return base


def preprocess(name: str, x):
    """Apply base `name`'s input preprocessing to raw [0, 255] pixels, inside the model."""
    if name == BUILTIN:
        return layers.Rescaling(1.0 / 255, name="rescaling")(x)
    module = getattr(keras.applications, BASES[name].module)
    return module.preprocess_input(x)  # keras ops on the symbolic tensor: saved with the model


def feature_extractor(base: keras.Model, name: str, image_size: tuple[int, int],
                      channels: int = 3) -> keras.Model:
    """Raw [0, 255] image -> the base's preprocessing -> the base, in inference mode.

    channels 1 (grayscale): the gray channel is repeated to the 3 the base was trained
    on, inside the model, so the saved model takes grayscale images.
    """
    x = inputs = keras.Input(shape=(*image_size, channels), name="image")
    if channels == 1:
        x = layers.Concatenate(name="gray_to_rgb")([inputs, inputs, inputs])
    features = base(preprocess(name, x), training=False)  # BatchNorm stays in inference mode
    return keras.Model(inputs, features, name=f"{base.name}_features")


def transfer_model(base: keras.Model, name: str, image_size: tuple[int, int], dense_units: int,
                   dropout: float, num_classes: int, channels: int = 3) -> keras.Model:
    """The complete classifier: feature_extractor's layers, then the dense head."""
    front = feature_extractor(base, name, image_size, channels)
    x = front.output
    for layer in dense_head(dense_units, dropout, num_classes):
        x = layer(x)
    return keras.Model(front.input, x, name=f"{base.name}_classifier")


def head_layers(model: keras.Model) -> list:
    """The layers of a transfer model after its base: the dense head."""
    return model.layers[model.layers.index(find_base(model)) + 1:]


def find_base(model: keras.Model) -> keras.Model:
    """The pretrained base nested inside a transfer model."""
    nested = [layer for layer in model.layers if isinstance(layer, keras.Model)]
    if len(nested) != 1:
        raise ModelError(f"model {model.name} has no pretrained base inside it (found "
                         f"{len(nested)} nested models); was it trained by stage extract or fine-tune?")
    return nested[0]


# --- weights --------------------------------------------------------------------------


def load_weights_file(base: keras.Model, path: Path, name: str) -> None:
    """Give `base` the weights in a file: a weights file, or a .keras model with its layers."""
    if not path.is_file():
        raise ModelError(f"model.weights file {path} does not exist")
    if path.suffix == ".keras":
        _copy_weights_by_name(base, path, name)
        return
    try:
        with warnings.catch_warnings():  # a file that does not fit also warns, per layer
            warnings.simplefilter("ignore")
            base.load_weights(path)
    except Exception as error:  # Keras raises ValueError, KeyError, OSError... for a bad file
        raise ModelError(f"weights file {path} does not fit base {name}: "
                         f"{_describe_mismatch(error)}") from None


def _copy_weights_by_name(base: keras.Model, path: Path, name: str) -> None:
    """Copy every weighted layer of `base` from the same-named layer of a saved model."""
    source = load_model_file(path, compile=False)
    built_outputs(source, f"model.weights {path}")  # one never built has no weights to copy
    available = {layer.name: layer for layer in _all_layers(source)}
    for layer in base.layers:
        if not layer.weights:
            continue
        found = available.get(layer.name)
        if found is None:
            raise ModelError(f"model.weights {path} does not fit base {name}: it has no layer "
                             f"{layer.name}")
        if len(layer.weights) != len(found.weights):
            raise ModelError(f"model.weights {path} does not fit base {name}: layer {layer.name} "
                             f"has {len(layer.weights)} weights, the file's has {len(found.weights)}")
        for mine, theirs in zip(layer.weights, found.weights):
            if tuple(mine.shape) != tuple(theirs.shape):
                raise ModelError(f"model.weights {path} does not fit base {name}: layer {layer.name} "
                                 f"needs {tuple(mine.shape)}, the file has {tuple(theirs.shape)}")
        layer.set_weights(found.get_weights())


def _all_layers(model: keras.Model):
    for layer in model.layers:
        yield layer
        if isinstance(layer, keras.Model):
            yield from _all_layers(layer)


def weights_digest(model: keras.Model) -> str:
    """A hash of a model's weight values: changes whenever any weight does."""
    digest = hashlib.sha256()
    for weight in model.weights:
        digest.update(np.ascontiguousarray(keras.ops.convert_to_numpy(weight)).tobytes())
    return digest.hexdigest()[:16]


@contextlib.contextmanager
def _imagenet_download(name: str, weights: str):
    """Turn a failed ImageNet download into one line naming the file and where it goes.

    keras.applications fetch weights with file_utils.get_file; while a base is built,
    that function is wrapped so a failure (no network, a bad checksum) names the file,
    and a socket timeout keeps a dead network from hanging.
    """
    if weights != "imagenet":
        yield
        return
    from keras.src.backend.config import keras_home
    from keras.src.utils import file_utils

    real_get_file = file_utils.get_file

    def get_file(fname=None, origin=None, *args, **kwargs):
        try:
            return real_get_file(fname, origin, *args, **kwargs)
        except Exception as error:
            place = Path(kwargs.get("cache_dir") or keras_home()) / kwargs.get("cache_subdir", "datasets")
            raise ModelError(
                f"cannot get the ImageNet weights of {name} ({first_line(error)[:160]}); Keras "
                f"wanted {fname} from {origin}: download it where there is a network and put it "
                f"in {place}/, or set model.weights to a local weights file") from None

    timeout = socket.getdefaulttimeout()
    file_utils.get_file = get_file
    socket.setdefaulttimeout(DOWNLOAD_TIMEOUT)
    try:
        yield
    finally:
        file_utils.get_file = real_get_file
        socket.setdefaulttimeout(timeout)


def _describe_mismatch(error: Exception) -> str:
    """Keras' message about weights that do not fit, cut to the layer and the two shapes."""
    text = str(error)
    layer = re.search(r"name=(\w+)", text)
    shapes = re.search(r"variable\.shape=(\([\d, ]*\)), Received: value\.shape=(\([\d, ]*\))", text)
    if layer and shapes:
        return f"layer {layer.group(1)} needs {shapes.group(1)}, the file has {shapes.group(2)}"
    return first_line(error)[:300]


