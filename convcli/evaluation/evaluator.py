"""`convcli evaluate`: a run's best checkpoint on a split of its own data (or on a folder),
or a model file on a folder of class folders; the images found and checked against the
model's classes, the numbers computed (scores.py) and the confusion matrix drawn."""

from __future__ import annotations

import json
from pathlib import Path

from convcli.config import load_config
from convcli.data import folders
from convcli.data.check import listing, scan_files, screen
from convcli.data.folders import Files, Split
from convcli.data.pipeline import make_dataset, to_channels
from convcli.errors import DataError, ModelError, RunError
from convcli.evaluation.display import write_confusion_png
from convcli.evaluation.scores import Evaluation, evaluate
from convcli.evaluation.tta import Views
from convcli.files import atomic_write_text, read_json
from convcli.models.saved import (as_probabilities, image_input, load_model_file, model_classes,
                                  one_output)
from convcli.runs import Run, find_run


def evaluate_run(ref: str | None, runs_dir: Path, split: str = "test",
                 data_dir: Path | None = None, tta: int = 1) -> tuple[Run, Evaluation, Path]:
    """Evaluate a run's best checkpoint on a split of its own data, or on `data_dir`.

    `data_dir` is a folder of class folders with the run's classes; `split` is then not
    used. Writes the confusion matrix into the run directory: confusion.png for the test
    split, confusion-validation.png, confusion-data.png (for `data_dir`). `tta`: views
    per image (tta.py); with more than one, the matrix is the averaged outputs' and
    tta.json in the run directory records both accuracies (the run page shows them).
    """
    run = find_run(ref, runs_dir)
    if not run.best.is_file():
        raise RunError(f"run {run.name} has no best checkpoint (checkpoints/best.keras; status: "
                       f"{run.status()}); evaluate a run that finished an epoch, or resume this one "
                       "with `convcli train CONFIG --resume`")
    class_names, cfg = _run_class_names(run), _run_config(run)
    if data_dir is None:
        images = _run_split(run, cfg, split, class_names)
    else:
        images = _data_split(data_dir, run, class_names)
    views = Views(tta, cfg.augment, cfg.seed)
    model = load_model_file(run.best, compile=False)
    _check_outputs(model, run, class_names)
    dataset = make_dataset(images, len(class_names), cfg.data.image_size, cfg.data.batch_size,
                           channels=cfg.data.channels,
                           cache="none")  # one pass: nothing to keep
    evaluation = evaluate(model, dataset, class_names, views)
    name = "data" if data_dir is not None else split
    suffix = f"-tta{tta}" if tta > 1 else ""
    png = run.path / ("confusion" + ("" if name == "test" else f"-{name}") + suffix + ".png")
    write_confusion_png(evaluation, png, title=f"{run.name}: {data_dir or f'{split} split'}"
                        + (f", {tta} views" if tta > 1 else ""))
    if tta > 1:
        record_tta(run, name if data_dir is None else str(data_dir), evaluation)
    return run, evaluation, png


def record_tta(run: Run, images: str, evaluation: Evaluation) -> None:
    """tta.json: the latest test-time augmentation of each split, for the run page."""
    path = run.path / "tta.json"
    try:
        record = read_json(path) if path.is_file() else {}
    except ValueError:
        record = {}  # a damaged record is rewritten, not a reason to fail the evaluation
    record[images] = {"views": evaluation.views, "described": evaluation.views_described,
                      "accuracy": evaluation.without_tta.accuracy, "accuracy_tta": evaluation.accuracy,
                      "loss": evaluation.without_tta.loss, "loss_tta": evaluation.loss,
                      "images": evaluation.images}
    atomic_write_text(path, json.dumps(record, indent=2) + "\n")


def evaluate_model_file(model_file: Path, data_dir: Path, classes: list[str] | None = None,
                        batch_size: int = 32, output: str | None = None, tta: int = 1
                        ) -> tuple[Evaluation, Path, str]:
    """Evaluate a model file (--model) on a folder of class folders (--data); and its title.

    The model's classes are `classes` (--classes, in the order of its outputs; the
    folders name some or all of them), else the folders in sorted order, as Keras'
    image_dataset_from_directory numbers them. A model that outputs logits is scored,
    loss included, on their softmax (sigmoid), and the title says so. Writes
    <model stem>-confusion.png here. `output` (--output) names one output of several;
    `tta` views per image: the image and its mirror (a file has no augmentation).
    """
    views = Views(tta)
    title = str(model_file)
    model = one_output(load_model_file(model_file), title, output)
    image_size = image_input(model, title)
    model, note = as_probabilities(model, title)
    class_names, images = labelled_for_model(model, title, data_dir, classes)
    channels = model.inputs[0].shape[-1]
    dataset = make_dataset(images, len(class_names), image_size, batch_size, cache="none")
    dataset = dataset.map(lambda batch, labels: (to_channels(batch, channels), labels))
    evaluation = evaluate(model, dataset, class_names, views)
    png = Path(f"{model_file.stem}-confusion.png")
    write_confusion_png(evaluation, png, title=f"{model_file.name}: {data_dir}")
    return evaluation, png, f"{title} ({note})" if note else title


def labelled_for_model(model, title: str, data_dir: Path, classes: list[str] | None
                       ) -> tuple[list[str], Split]:
    """(the model's class names, the images of `data_dir` labelled with their indices).

    The names are `classes` (--classes, in the order of the model's outputs; the folders
    name some or all of them), else the folders in sorted order, as Keras'
    image_dataset_from_directory numbers them, when there are as many as the model has
    classes.
    """
    found, images = _labelled_images(data_dir)
    class_names = model_classes(model, title, classes)
    if not classes:
        if len(found) != len(class_names):
            raise DataError(f"--data {data_dir} has {len(found)} class folders ({', '.join(found)}), "
                            f"but model {title} has {len(class_names)} classes; name them, in the "
                            "order of its outputs, with --classes a,b,c")
        class_names = found
    unknown = [name for name in found if name not in class_names]
    if unknown:
        raise DataError(f"--data {data_dir} has class folders {', '.join(unknown)} that are not in "
                        f"--classes {','.join(class_names)}")
    return class_names, Split(images.paths, [class_names.index(found[label]) for label in images.labels])


def _labelled_images(data_dir: Path) -> tuple[list[str], Split]:
    """The class names and images of a folder of class folders (--data), every one decodable."""
    try:
        found, images = folders.scan(data_dir, "DATA")
    except DataError as error:  # folders.scan names config keys (data.KEY); this is --data
        raise DataError(str(error).replace("data.DATA", "--data")) from None
    problems = scan_files(Files(found, images, Split(), None))
    if problems:
        bad = [f"{problem.path} ({problem.kind})" for problem in problems]
        raise DataError(f"{len(bad)} image file(s) in --data {data_dir} cannot be decoded: "
                        f"{listing(bad)}; fix or remove them (convcli data check {data_dir} lists "
                        "every problem)")
    return found, images


def _run_class_names(run: Run) -> list[str]:
    meta = run.read_meta()
    if not meta.class_names:
        raise RunError(f"run {run.name} records no class names in meta.json (status: "
                       f"{meta.status or 'unknown'}); it did not get as far as training")
    return meta.class_names


def _run_config(run: Run):
    if not run.config.is_file():
        raise RunError(f"run {run.name} has no config.yaml; it is not a run convcli can evaluate")
    return load_config(run.config)


def _run_split(run: Run, cfg, split: str, class_names: list[str]) -> Split:
    """The split's files as training read them (the same validation_split, the same
    bad files left out), checked against the classes the run trained on."""
    try:
        files = folders.resolve(cfg.data, cfg.seed)
    except DataError as error:
        # Paths in config.yaml are as the user typed them: relative to where they trained.
        raise DataError(f"{error} (a folder named in run {run.name}'s config.yaml); run from where "
                        "it was trained, or give the images with --data DIR") from None
    files = screen(files, cfg.data.on_bad_file)
    if files.class_names != class_names:
        raise DataError(f"run {run.name}'s data now has classes {files.class_names}, but it trained "
                        f"on {class_names}; restore its data folders, or use --data DIR")
    if split == "test" and files.test is None:
        raise DataError(f"run {run.name} has no test split (its config sets no data.test_dir); "
                        "use --split validation, or --data DIR with a folder of class folders")
    return getattr(files, split)


def _data_split(data_dir: Path, run: Run, class_names: list[str]) -> Split:
    """The images of a folder of class folders, every one decodable, with the run's classes."""
    found, images = _labelled_images(data_dir)
    if found != class_names:
        raise DataError(f"--data {data_dir} has classes {found}, but run {run.name} was trained on "
                        f"{class_names}; give a folder with one subfolder per class of the run")
    return images


def _check_outputs(model, run: Run, class_names: list[str]) -> None:
    """Two classes are one sigmoid unit; more are one softmax unit each."""
    expected = 1 if len(class_names) == 2 else len(class_names)
    if model.outputs[0].shape[-1] != expected:
        raise ModelError(f"run {run.name}'s best checkpoint has {model.outputs[0].shape[-1]} output "
                         f"unit(s), but its meta.json names {len(class_names)} classes "
                         f"({', '.join(class_names)}); the run directory is inconsistent")
