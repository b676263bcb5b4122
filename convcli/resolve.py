"""What a user points at — a config, a run or a model file — resolved to a Keras model.

Model files are loaded in Keras' safe mode, without their training configuration
(models/saved.py); a model takes images of a fixed size with 1 or 3 channels.
"""

from __future__ import annotations

from pathlib import Path

from convcli.config import BUILTIN, load_config
from convcli.data import folders, synthetic
from convcli.errors import ConfigError, DataError, ModelError, RunError
from convcli.explain.gradcam import feature_map_layers, layer_shapes
from convcli.models.saved import (MODEL_SUFFIXES, as_probabilities, built_outputs, image_input,
                                  load_model_file, model_classes, one_output)
from convcli.runs import Run, find_run

CONFIG_SUFFIXES = (".yaml", ".yml")


def load_for_summary(target: str | None, runs_dir: Path, overrides=()):
    """(model, title) for `convcli summary [CONFIG | RUN | MODEL]`."""
    if target and Path(target).suffix.lower() in CONFIG_SUFFIXES:
        return model_from_config(Path(target), overrides)
    if overrides:
        raise ConfigError(f"--set changes a config; {target or 'the latest run'} is not a .yaml config")
    if target and (Path(target).suffix.lower() in MODEL_SUFFIXES or Path(target).is_file()):
        model = load_model_file(Path(target))
        built_outputs(model, target)  # a model never built has no shapes to show
        return model, str(target)
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
    raise RunError(f"run {run.name} has no checkpoint (status: {run.status()})")


def explained_model(run: str | None, model_file: Path | None, runs_dir: Path,
                    classes: list[str] | None = None, feature_map: bool = True,
                    probabilities: bool = True, output: str | None = None):
    """(model, class names, image size, title) for the commands that run a model on images.

    --model FILE, else --run RUN (a run's best checkpoint; default: the latest run). A
    file's classes are `classes` (--classes), else numbered. `feature_map`: the model
    must have a 2-D feature map to explain (not for predict). `probabilities`: the model
    is made to output class probabilities (logits get their softmax, and the title says
    so); not for the commands that only look inside it. `output` (--output) names the
    output to use of a model that has several.
    """
    if run is not None and model_file is not None:
        raise RunError("give --run or --model, not both")
    if classes and model_file is None:
        raise RunError("--classes names the classes of a --model file; a run records its own")
    if model_file is not None:
        model, title = load_model_file(model_file), str(model_file)
        model = one_output(model, title, output)
        class_names = model_classes(model, title, classes)
    else:
        found = find_run(run, runs_dir)
        model, title = load_model_file(run_checkpoint(found)), f"{found.name} (best checkpoint)"
        model = one_output(model, title, output)
        class_names = found.read_meta().class_names or model_classes(model, title, None)
    image_size = image_input(model, title)
    if feature_map and not feature_map_layers(model):
        raise ModelError(f"model {title} has no layer with a 2-D feature map (batch, height, width, "
                         f"channels) after its input that convcli can reach, so none to pass as "
                         f"--layer NAME; its layers: {', '.join(layer_shapes(model)[-12:])}")
    if probabilities:
        model, note = as_probabilities(model, title)
        title = f"{title} ({note})" if note else title
    return model, class_names, image_size, title


def class_index(value: str | None, class_names: list[str]) -> int | None:
    """A --class given as a name or an index, checked against the model's classes."""
    if value is None:
        return None
    if value in class_names:
        return class_names.index(value)
    if value.lstrip("-").isdigit() and 0 <= int(value) < len(class_names):
        return int(value)
    listed = ", ".join(f"{i} {name}" for i, name in enumerate(class_names))
    raise RunError(f"--class {value!r} is not a class of this model; classes: {listed}")
