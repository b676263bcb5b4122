"""Model files a user hands in (.keras, .h5), loaded in Keras' safe mode.

Safe mode (the default) refuses Lambda layers, whose code would run on load.
"""

from __future__ import annotations

import zipfile
from pathlib import Path

from convcli.errors import ModelError

MODEL_SUFFIXES = (".keras", ".h5")
HDF5_SIGNATURE = b"\x89HDF\r\n\x1a\n"


def load_model_file(path: Path, compile: bool = True):
    """A Keras model from a .keras/.h5 file, in safe mode; ModelError if it cannot be."""
    import keras

    if not path.is_file():
        raise ModelError(f"model file {path} does not exist")
    check_model_file(path)
    try:
        return keras.models.load_model(path, compile=compile)  # safe_mode=True
    except Exception as error:  # Keras raises many types for a bad file
        if "`Lambda` layer" in str(error):
            raise ModelError(f"model {path} contains a Lambda layer, whose code would run when it "
                             "loads; convcli loads model files in Keras' safe mode only and refuses "
                             "it") from None
        raise ModelError(f"cannot load model {path}: {first_line(error)[:300]}") from None


def check_model_file(path: Path) -> None:
    """A ModelError unless the file is, by its name and first bytes, a .keras or .h5 model."""
    suffix = path.suffix.lower()
    if suffix not in MODEL_SUFFIXES:
        raise ModelError(f"{path} is not a Keras model file: convcli reads {' and '.join(MODEL_SUFFIXES)} "
                         f"files, not {suffix or 'files without a suffix'}")
    if suffix == ".keras" and not zipfile.is_zipfile(path):
        raise ModelError(f"{path} is not a .keras model: a .keras file is a zip archive and this one "
                         "is not (damaged, or another format renamed)")
    with open(path, "rb") as handle:
        if suffix == ".h5" and handle.read(8) != HDF5_SIGNATURE:
            raise ModelError(f"{path} is not an .h5 model: it lacks the HDF5 signature (damaged, or "
                             "another format renamed)")


def first_line(error: BaseException) -> str:
    """The first line of an exception's message (Keras messages run to pages)."""
    text = str(error).strip()
    return text.splitlines()[0] if text else type(error).__name__
