"""What a user points at — a config, a run or a model file — resolved to a Keras model.

Model files are loaded in Keras' safe mode (models/saved.py).
"""

from __future__ import annotations

from pathlib import Path

from convcli.config import BUILTIN, load_config
from convcli.data import folders, synthetic
from convcli.errors import DataError, RunError
from convcli.models.saved import MODEL_SUFFIXES, load_model_file
from convcli.runs import Run, find_run

CONFIG_SUFFIXES = (".yaml", ".yml")


def load_for_summary(target: str | None, runs_dir: Path, overrides=()):
    """(model, title) for `convcli summary [CONFIG | RUN | MODEL]`."""
    if target and Path(target).suffix.lower() in CONFIG_SUFFIXES:
        return model_from_config(Path(target), overrides)
    if target and Path(target).suffix.lower() in MODEL_SUFFIXES:
        return load_model_file(Path(target)), str(target)
    run = find_run(target, runs_dir)
    return load_model_file(run_checkpoint(run)), f"{run.name} (best checkpoint)"


def model_from_config(path: Path, overrides=()):
    """Build, without training, the model a config would train (random weights)."""
    from convcli.stages import stage_for

    cfg = load_config(path, overrides)
    class_names, note = _class_names(cfg)
    model = stage_for(cfg).build_model(cfg, class_names, load_weights=False)
    return model, f"{path} (stage {cfg.stage}, {len(class_names)} classes{note}, untrained)"


def _class_names(cfg) -> tuple[list[str], str]:
    """The classes decide the output layer; assume two when the data is not there yet."""
    if cfg.data.train_dir == BUILTIN:
        return list(synthetic.TASKS["target"].classes), ""
    try:
        class_names, _ = folders.scan(Path(cfg.data.train_dir), "train_dir")
    except DataError:
        return ["class_0", "class_1"], " assumed: train_dir not readable"
    return class_names, ""


def run_checkpoint(run: Run) -> Path:
    """The best checkpoint of a run (the last one if no best was written)."""
    for path in (run.best, run.last):
        if path.is_file():
            return path
    status = run.read_meta().get("status", "unknown")
    raise RunError(f"run {run.name} has no checkpoint (status: {status})")
