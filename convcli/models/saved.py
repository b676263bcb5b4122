"""Model files a user hands in (.keras, .h5, .hdf5), loaded in Keras' safe mode.

Safe mode refuses Lambda layers, whose code would run on load. Files are loaded
without their training configuration (`compile=False`): the commands that read them
only run the model, and a file saved by Keras 2 names its optimizer's arguments the old
way (`lr`, `decay`), which Keras 3 refuses when it compiles ("Argument(s) not
recognized: {'lr': ...}"); a Keras 2 file is read through legacy.py, and what cannot be
loaded is said in one line by refusals.py. Keras' own warnings while loading are not
the user's concern.
"""

from __future__ import annotations

import contextlib
import logging
import tempfile
import warnings
import zipfile
from pathlib import Path
from typing import Iterator

from convcli.errors import ModelError
from convcli.models.legacy import h5_config, readable_copy
from convcli.models.refusals import first_line, load_failure, refuse_unloadable

__all__ = ["first_line"]  # re-exported: the callers of Keras read a message's first line here

HDF5_SUFFIXES = (".h5", ".hdf5")  # Keras 2's legacy format, under either name
MODEL_SUFFIXES = (".keras", *HDF5_SUFFIXES)
HDF5_SIGNATURE = b"\x89HDF\r\n\x1a\n"


def load_model_file(path: Path, compile: bool = False):
    """A Keras model from a .keras/.h5/.hdf5 file, in safe mode; ModelError if it cannot be."""
    import keras

    check_model_file(path)
    hdf5 = path.suffix.lower() in HDF5_SUFFIXES
    config = h5_config(path) if hdf5 else None
    if config is not None:
        refuse_unloadable(path, config)
    try:
        with quiet_keras(), readable_copy(path, config) if hdf5 else contextlib.nullcontext(path) \
                as readable, keras_named(readable) as named:
            return keras.models.load_model(named, compile=compile, safe_mode=True)
    except Exception as error:  # Keras raises many types for a bad file
        raise ModelError(load_failure(path, error)) from None


@contextlib.contextmanager
def keras_named(path: Path) -> Iterator[Path]:
    """`path`, or a link to it whose suffix is lower case: Keras reads `.keras` and `.h5` by
    their suffix, as written ("File format not supported: filepath=x.KERAS")."""
    if path.suffix == path.suffix.lower():
        yield path
        return
    with tempfile.TemporaryDirectory(prefix="convcli-model-") as folder:
        link = Path(folder) / f"model{path.suffix.lower()}"
        link.symlink_to(path.resolve())
        yield link


EXPORT_SUFFIXES = {".tflite": "LiteRT", ".onnx": "ONNX"}  # what `convcli export` writes


def check_model_file(path: Path) -> None:
    """A ModelError unless the file is, by its name and first bytes, a Keras model file."""
    if path.is_dir():
        raise ModelError(f"{path} is a folder, not a model file: a Keras model is one file (.keras, "
                         ".h5 or .hdf5)")
    if not path.exists():
        raise ModelError(f"model file {path} does not exist")
    suffix = path.suffix.lower()
    shown = ", ".join(MODEL_SUFFIXES[:-1]) + f" and {MODEL_SUFFIXES[-1]}"
    if suffix in EXPORT_SUFFIXES:
        raise ModelError(f"{path} is an exported model ({EXPORT_SUFFIXES[suffix]}): `convcli predict "
                         f"--model` runs it; this command needs a Keras model file ({shown}), such "
                         "as the run's checkpoints/best.keras")
    if suffix not in MODEL_SUFFIXES:
        raise ModelError(f"{path} is not a Keras model file: convcli reads {shown} files, not "
                         f"{suffix or 'files without a suffix'}")
    if suffix == ".keras" and not zipfile.is_zipfile(path):
        raise ModelError(f"{path} is not a .keras model: a .keras file is a zip archive and this one "
                         "is not (damaged, or another format renamed)")
    with open(path, "rb") as handle:
        if suffix in HDF5_SUFFIXES and handle.read(8) != HDF5_SIGNATURE:
            raise ModelError(f"{path} is not an {suffix} model: it lacks the HDF5 signature "
                             "(damaged, or another format renamed)")


def model_classes(model, title: str, classes: list[str] | None) -> list[str]:
    """The class names of a model's outputs: `classes` if given (checked), else numbered.

    One sigmoid unit means two classes.
    """
    units = model.outputs[0].shape[-1] or 1
    count = max(2, units)
    if not classes:
        return [str(i) for i in range(count)]
    if len(classes) != count or len(set(classes)) != len(classes):
        problem = "repeats a name" if len(set(classes)) != len(classes) else f"names {len(classes)}"
        raise ModelError(f"--classes {','.join(classes)} {problem}, but model {title} has {count} "
                         f"classes ({units} output unit{'s' if units > 1 else ''}); give {count} "
                         "distinct names, in the order of its outputs")
    return list(classes)


def one_output(model, title: str, output: str | None = None, option: bool = True):
    """The model with one output tensor of class scores, or a ModelError saying why not.

    A single output wrapped in a list or a dict (`outputs=[y]`, `outputs={"probs": y}`,
    and every Keras 2 H5 file) is used as that output; of several, `output` names the
    one to use (`option`: the command has --output to name it). A model saved before it
    was built, or whose output is not one row of scores per image (a per-pixel map), is
    refused (issue 28: each crashed a command).
    """
    import keras

    outputs = built_outputs(model, title)
    named = named_outputs(model, outputs)
    if output is not None and output not in named:
        raise ModelError(f"--output {output} is not an output of model {title}; its output"
                         f"{'s are' if len(named) > 1 else ' is'} {', '.join(named)}")
    if len(named) > 1 and output is None:
        how = (f"name it with --output (e.g. --output {next(iter(named))})" if option else
               "save a model of the one you want (keras.Model(model.inputs, <its output>))")
        raise ModelError(f"model {title} has {len(named)} outputs ({', '.join(named)}); convcli "
                         f"reads one output of class scores: {how}")
    chosen = named[output] if output is not None else outputs[0]
    if len(chosen.shape) != 2:
        raise ModelError(f"model {title} outputs shape {tuple(chosen.shape)}, not one score per "
                         "class for each image (batch, classes): convcli classifies whole images")
    if len(outputs) == 1 and not isinstance(_structure(model), (list, tuple, dict)):
        return model  # already one plain output: kept as it is, its name and layers unchanged
    return keras.Model(model.inputs, chosen, name=model.name)


def built_outputs(model, title: str) -> list:
    """The model's output tensors; a ModelError if it was saved before it was built."""
    try:
        outputs = list(model.outputs)
        model.inputs[0]
    except (AttributeError, IndexError, TypeError, ValueError):
        raise ModelError(f"model {title} was saved before it was built: it records no input shape; "
                         "call it on a batch of images (or model.build) and save it again") from None
    return outputs


def named_outputs(model, outputs: list) -> dict:
    """{name: output tensor}, in the order the model was given them: a dict's keys (Keras
    keeps `model.outputs` in sorted key order), else the layers that make them."""
    structure = _structure(model)
    if isinstance(structure, dict):
        return dict(structure)
    named = {}
    for index, tensor in enumerate(outputs):
        history = getattr(tensor, "_keras_history", None)
        name = history.operation.name if history is not None else str(index)
        named[name if name not in named else f"{name}_{index}"] = tensor
    return named


def _structure(model):
    """The model's output as it was given (a tensor, a list or a dict); None for a
    Sequential whose outputs exist but that was never called (Keras 2.0 H5 files)."""
    try:
        return model.output
    except (AttributeError, ValueError):
        return None


def as_probabilities(model, title: str):
    """(the model outputting class probabilities, a note for the user or None).

    A model that outputs logits gets their softmax (one unit: sigmoid) appended, and the
    note says so; one whose output is neither is refused (explain/output.py).
    """
    from convcli.explain.output import with_probabilities

    model = one_output(model, title)
    try:
        model, appended = with_probabilities(model)
    except ValueError as error:
        raise ModelError(f"model {title} ends in neither class probabilities (a softmax or sigmoid) "
                         f"nor logits (no activation): {error}; convcli cannot read its outputs as "
                         "classes") from None
    if appended is None:
        return model, None
    return model, f"the model outputs logits: probabilities are their {appended}"


def image_input(model, title: str) -> tuple[int, int]:
    """The (height, width) of the images a model takes, or a ModelError saying what it takes.

    Images of any fixed size, with 1 (grayscale) or 3 (colour) channels.
    """
    shapes = [tuple(tensor.shape) for tensor in model.inputs]
    shape = shapes[0]
    if len(shapes) != 1 or len(shape) != 4 or shape[-1] not in (1, 3):
        takes = " and ".join(str(s) for s in shapes)
        raise ModelError(f"model {title} takes {len(shapes)} input{'s' if len(shapes) > 1 else ''} "
                         f"of shape {takes}, not images (batch, height, width, 1 or 3 channels)")
    if None in shape[1:3]:
        raise ModelError(f"model {title} takes images of any size; convcli needs a fixed input size")
    return shape[1:3]


@contextlib.contextmanager
def quiet_keras() -> Iterator[None]:
    """Keras' warnings discarded: Python warnings (e.g. "Argument `decay` is no longer
    supported") and absl's log lines (e.g. "WARNING:absl:... HDF5 file ... legacy")."""
    absl = logging.getLogger("absl")
    level = absl.level
    absl.setLevel(logging.ERROR)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            yield
    finally:
        absl.setLevel(level)
