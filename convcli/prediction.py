"""Predictions: a run's class probabilities for images a user hands in.

Images are named and read as Grad-CAM reads them (image_files.py: files or folders, each
checked before any is predicted, the pipeline's one resize path); the model is the
run's best checkpoint or a model file (resolve.py).
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
from rich.table import Table
from rich.text import Text

from convcli.config import load_config
from convcli.evaluation import class_probabilities
from convcli.evaluation.tta import Views
from convcli.formats import Fitted, percent
from convcli.image_files import expand, input_channels, model_inputs, read_image
from convcli.resolve import explained_model
from convcli.runs import find_run

Ranked = list[tuple[str, float]]  # (class, probability), most probable first


def predict_images(images: list[Path], run_ref: str | None, runs_dir: Path, batch_size: int = 32,
                   model_file: Path | None = None,
                   classes: list[str] | None = None, output: str | None = None, tta: int = 1
                   ) -> tuple[list[tuple[Path, Ranked]], str]:
    """Per image, every class with its probability, sorted high to low; and the model's title.

    The model is a run's best checkpoint, or `model_file` (--model) with `classes`;
    `output` (--output) names one output of several; `tta`: probabilities averaged over
    that many views of each image (evaluation/tta.py).
    """
    views = _views(tta, run_ref, runs_dir, model_file)
    paths = expand(images)
    for path in paths:
        read_image(path)  # every file checked before any is predicted: one error, no partial output
    model, class_names, image_size, title = explained_model(run_ref, model_file, runs_dir, classes,
                                                            feature_map=False, output=output)
    channels = input_channels(model)
    results = []
    # A batch at a time, so a folder of large photos never sits in memory whole.
    for start in range(0, len(paths), batch_size):
        chunk = paths[start:start + batch_size]
        batch = model_inputs(chunk, image_size, channels)
        outputs = np.mean([model.predict_on_batch(view) for view in views(batch)], axis=0)
        for path, probabilities in zip(chunk, class_probabilities(outputs)):
            results.append((path, ranked(probabilities, class_names)))
    if tta > 1:
        title += f", {tta} views each ({views.described})"
    return results, title


def _views(tta: int, run_ref: str | None, runs_dir: Path, model_file: Path | None) -> Views:
    """A run's views come from its own augmentation; a model file's are flips."""
    if tta == 1 or model_file is not None:
        return Views(tta)
    cfg = load_config(find_run(run_ref, runs_dir).config)
    return Views(tta, cfg.augment, cfg.seed)


def ranked(probabilities: np.ndarray, class_names: list[str]) -> Ranked:
    order = np.argsort(-probabilities, kind="stable")  # ties keep the class order
    return [(class_names[i], float(probabilities[i])) for i in order]


def predictions_json(results: list[tuple[Path, Ranked]]) -> str:
    """`predict --json`: [{"image": path, "probabilities": [{"class", "probability"}, ...]}]."""
    return json.dumps([{"image": str(path),
                        "probabilities": [{"class": name, "probability": probability}
                                          for name, probability in classes]}
                       for path, classes in results], indent=2)


def predictions_table(results: list[tuple[Path, Ranked]], title: str, shown: int = 5) -> Fitted:
    """One row per image: the predicted class, then the classes by probability.

    Images are named from their common folder, given in the caption, so names stay short.
    """
    more = len(results[0][1]) - shown if results else 0
    folder = _common_folder([path for path, _ in results])
    notes = ([f"images in {folder}"] if folder else []) + (
        [f"the {shown} most probable classes of {shown + more} (--json has all)"] if more > 0 else [])
    return Fitted(*(_predictions_layout(results, title, notes, folder, shown, predicted, apart)
                    for predicted, apart in ((True, "  "), (True, "\n"), (False, "\n"))))


def _predictions_layout(results: list[tuple[Path, Ranked]], title: str, notes: list[str],
                        folder: Path | None, shown: int, predicted: bool, apart: str) -> Table:
    """With or without the predicted column (narrow: the first probability is the prediction);
    the probabilities `apart` on one line or one a line."""
    notes = notes + ([] if predicted else ["the first class is the predicted one"])
    table = Table(title=title, title_justify="left", caption_justify="left",
                  caption="; ".join(notes) or None)
    table.add_column("image", no_wrap=True)
    if predicted:
        table.add_column("predicted", no_wrap=True)
    table.add_column("probabilities")
    for path, classes in results:
        table.add_row(Text(str(path.relative_to(folder)) if folder else str(path)),
                      *([Text(classes[0][0])] if predicted else []),
                      Text(apart.join(f"{name} {percent(p)}" for name, p in classes[:shown])))
    return table


def _common_folder(paths: list[Path]) -> Path | None:
    """The folder every image is in (None when they share none, or it is the current one)."""
    try:
        folder = Path(os.path.commonpath([path.parent for path in paths]))
    except ValueError:  # no images, or absolute and relative paths mixed
        return None
    return None if folder in (Path(""), Path(".")) else folder


def predict_exported(images: list[Path], model_path: Path, run_ref: str | None = None,
                     batch_size: int = 32) -> tuple[list[tuple[Path, Ranked]], str]:
    """Like predict_images, with an exported model (.tflite, .onnx, a SavedModel folder) in
    its own runtime, its classes and image size from its export.json; and a title."""
    from convcli.errors import RunError
    from convcli.exporting.record import locate
    from convcli.exporting.runtimes import load_runtime

    if run_ref is not None:
        raise RunError("give --run or --model, not both")
    paths = expand(images)
    for path in paths:
        read_image(path)  # every file checked before any is predicted
    record, found = locate(model_path)
    runtime = load_runtime(record.format, found)
    results = []
    for start in range(0, len(paths), batch_size):
        chunk = paths[start:start + batch_size]
        pixels = model_inputs(chunk, record.image_size, record.channels)
        for path, probabilities in zip(chunk, runtime(pixels)):
            results.append((path, ranked(probabilities, record.class_names)))
    quantized = "" if record.quantize == "none" else f" {record.quantize}"
    return results, f"predictions — {model_path} ({record.format}{quantized}, {runtime.name})"
