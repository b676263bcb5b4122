"""What a user points at — a config, a run or a model file — resolved to a Keras model.

Model files are loaded in Keras' safe mode (the default): a file with Lambda layers,
which could run arbitrary code, is refused rather than loaded.
"""

from __future__ import annotations

from pathlib import Path

from convcli.config import BUILTIN, load_config
from convcli.data import folders, synthetic
from convcli.errors import DataError, ModelError, RunError
from convcli.runs import Run, find_run

CONFIG_SUFFIXES = (".yaml", ".yml")
MODEL_SUFFIXES = (".keras", ".h5")


def load_for_summary(target: str | None, runs_dir: Path, overrides=()):
    """(model, title) for `convcli summary [CONFIG | RUN | MODEL]`."""
    if target and Path(target).suffix.lower() in CONFIG_SUFFIXES:
        return model_from_config(Path(target), overrides)
    if target and Path(target).suffix.lower() in MODEL_SUFFIXES:
        return load_model_file(Path(target)), str(target)
    run = find_run(target, runs_dir)
    return load_model_file(run_checkpoint(run)), f"{run.name} (best checkpoint)"


def model_from_config(path: Path, overrides=()):
    """Build, without training, the model a config would train."""
    from convcli.stages import stage_for

    cfg = load_config(path, overrides)
    num_classes, note = _num_classes(cfg)
    model = stage_for(cfg).build_model(cfg, num_classes)
    return model, f"{path} (stage {cfg.stage}, {num_classes} classes{note}, untrained)"


def _num_classes(cfg) -> tuple[int, str]:
    """The class count decides the output layer; guess 2 when the data is not there yet."""
    if cfg.data.train_dir == BUILTIN:
        return len(synthetic.TASKS["target"].classes), ""
    try:
        class_names, _ = folders.scan(Path(cfg.data.train_dir), "train_dir")
    except DataError:
        return 2, " assumed: train_dir not readable"
    return len(class_names), ""


def run_checkpoint(run: Run) -> Path:
    """The best checkpoint of a run (the last one if no best was written)."""
    for path in (run.best, run.last):
        if path.is_file():
            return path
    status = run.read_meta().get("status", "unknown")
    raise RunError(f"run {run.name} has no checkpoint (status: {status})")


def load_model_file(path: Path):
    """A Keras model from a .keras/.h5 file, in safe mode."""
    import keras

    if not path.is_file():
        raise ModelError(f"model file {path} does not exist")
    try:
        return keras.models.load_model(path)  # safe_mode=True: no Lambda code is run
    except Exception as error:  # Keras raises many types for a bad file
        reason = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        raise ModelError(f"cannot load model {path}: {reason[:300]}") from None
