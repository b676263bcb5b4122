"""Runtimes: an exported model loaded where it will be served, as a function of images.

SavedModel in TensorFlow (`tf.saved_model.load`), LiteRT in the `ai-edge-litert`
interpreter (TensorFlow's own `tf.lite.Interpreter` when that is not installed), ONNX
in ONNX Runtime. Each takes float32 raw pixels (n, height, width, 3) and returns
probabilities (n, classes); LiteRT runs one image at a time, as an app would.
"""

from __future__ import annotations

from importlib import metadata
from pathlib import Path

import numpy as np

from convcli.errors import ModelError
from convcli.exporting.converters import quiet
from convcli.exporting.record import INPUT_NAME, OUTPUT_NAME

EXTRA = "pip install 'convcli[export]'"
# Packages (import names too) beyond TensorFlow: to export a format, and to run it.
EXPORT_NEEDS = {"onnx": ("tf2onnx", "onnx", "onnxruntime")}
RUN_NEEDS = {"onnx": ("onnxruntime",)}


def require(format: str, needs: dict = EXPORT_NEEDS) -> None:
    """A ModelError naming the extra to install if a converter or runtime is missing."""
    for package in needs.get(format, ()):
        try:
            __import__(package)
        except ImportError:
            raise ModelError(f"{format} models need the {package} package, which is not installed; "
                             f"install the export extra: {EXTRA}") from None


class Runtime:
    """An exported model in its runtime: `runtime(images) -> probabilities`."""

    name: str

    def __call__(self, images: np.ndarray) -> np.ndarray:
        raise NotImplementedError


class SavedModelRuntime(Runtime):
    def __init__(self, folder: Path):
        import tensorflow as tf

        self.name = f"tf.saved_model {metadata.version('tensorflow')}"
        self.serve = tf.saved_model.load(str(folder)).signatures["serving_default"]
        self._tf = tf

    def __call__(self, images):
        return self.serve(**{INPUT_NAME: self._tf.constant(images)})[OUTPUT_NAME].numpy()


class LiteRTRuntime(Runtime):
    def __init__(self, path: Path):
        try:
            from ai_edge_litert.interpreter import Interpreter

            self.name = f"ai-edge-litert {metadata.version('ai-edge-litert')}"
        except ImportError:
            from tensorflow.lite import Interpreter

            self.name = f"tf.lite {metadata.version('tensorflow')}"
        interpreter = Interpreter(model_path=str(path))
        self.run = interpreter.get_signature_runner()
        shape = interpreter.get_input_details()[0]["shape"]
        with quiet():  # the first call says "Created TensorFlow Lite XNNPACK delegate for CPU."
            self.run(**{INPUT_NAME: np.zeros(shape, np.float32)})

    def __call__(self, images):
        return np.concatenate([self.run(**{INPUT_NAME: image[None]})[OUTPUT_NAME] for image in images])


class OnnxRuntime(Runtime):
    def __init__(self, path: Path):
        import onnxruntime

        self.name = f"onnxruntime {onnxruntime.__version__}"
        options = onnxruntime.SessionOptions()
        options.log_severity_level = 3  # errors only
        self.session = onnxruntime.InferenceSession(str(path), options,
                                                    providers=["CPUExecutionProvider"])

    def __call__(self, images):
        return self.session.run([OUTPUT_NAME], {INPUT_NAME: images})[0]


RUNTIMES = {"saved_model": SavedModelRuntime, "litert": LiteRTRuntime, "onnx": OnnxRuntime}


def load_runtime(format: str, path: Path) -> Runtime:
    """The export at `path` in its runtime; a ModelError if the runtime cannot load it."""
    require(format, RUN_NEEDS)
    try:
        return RUNTIMES[format](path)
    except Exception as error:  # runtimes raise many types for a bad file
        text = str(error).strip().splitlines()
        raise ModelError(f"cannot load {path} as a {format} model: "
                         f"{(text[0] if text else type(error).__name__)[:300]}") from None
