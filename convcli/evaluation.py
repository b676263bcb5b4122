"""Evaluation: how a trained model does on a split of images it was not trained on.

Predictions are computed once; the loss (the loss the model was trained with), the
accuracy, the per-class precision and recall and the confusion matrix all come from
them. The images go through the pipeline's one resize path (`make_dataset`), so the
numbers are the ones training reported for the same split.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import keras
import numpy as np
from rich.table import Table
from rich.text import Text

from convcli.config import load_config
from convcli.data import folders
from convcli.data.check import listing, scan_files, screen
from convcli.data.folders import Files, Split
from convcli.data.pipeline import make_dataset, to_channels
from convcli.errors import DataError, ModelError, RunError
from convcli.formats import Fitted, percent
from convcli.models.heads import loss_for
from convcli.models.saved import image_input, load_model_file, model_classes
from convcli.runs import Run, find_run
from convcli.files import atomic_path
from convcli.tfenv import import_tensorflow


@dataclass
class Evaluation:
    """A model's numbers on one set of labelled images."""

    class_names: list[str]
    loss: float
    confusion: list[list[int]]  # confusion[true][predicted]: image counts

    @property
    def images(self) -> int:
        return sum(map(sum, self.confusion))

    @property
    def correct(self) -> int:
        return sum(self.confusion[i][i] for i in range(len(self.class_names)))

    @property
    def accuracy(self) -> float:
        return self.correct / self.images

    @property
    def support(self) -> list[int]:
        """Images of each true class."""
        return [sum(row) for row in self.confusion]

    @property
    def precision(self) -> list[float | None]:
        """Per class: the share of images predicted as it that are it (None: none predicted)."""
        predicted = np.sum(self.confusion, axis=0)
        return [self.confusion[i][i] / n if n else None for i, n in enumerate(predicted)]

    @property
    def recall(self) -> list[float | None]:
        """Per class: the share of its images predicted as it (None: it has no images)."""
        return [self.confusion[i][i] / n if n else None for i, n in enumerate(self.support)]


def class_probabilities(outputs: np.ndarray) -> np.ndarray:
    """(n, num_classes) probabilities from a model's outputs.

    One sigmoid unit (the book's binary head) is class 1's probability p; class 0's is
    1 - p. Then argmax picks class 1 exactly when p > 0.5, Keras' binary accuracy rule.
    """
    outputs = np.asarray(outputs, dtype=np.float32)
    if outputs.shape[-1] == 1:
        return np.concatenate([1.0 - outputs, outputs], axis=-1)
    return outputs


def evaluate(model, dataset, class_names: list[str]) -> Evaluation:
    """Loss, accuracy and confusion matrix of `model` on batches of (images, labels).

    Labels are as `pipeline.make_labels` makes them: float (n, 1) for two classes, ints
    otherwise. Each batch is predicted once, without Keras' progress output.
    """
    # The model's own call, compiled: not predict_on_batch, which under a
    # MirroredStrategy hands each replica the whole batch and returns every replica's
    # outputs, stacked; and not eager, which takes a third more CPU (docs/notes.md#compiled-calls).
    # Traced twice at most: the full batch, then any batch size.
    forward = import_tensorflow().function(lambda images: model(images, training=False),
                                           reduce_retracing=True)
    outputs, labels = [], []
    for images, batch_labels in dataset:
        outputs.append(np.asarray(forward(images)))
        labels.append(batch_labels.numpy())
    if not outputs:
        raise DataError("there are no images to evaluate")
    outputs, labels = np.concatenate(outputs), np.concatenate(labels)
    truth = labels.reshape(-1).astype(int)
    # The loss the model trained with, as model.evaluate reports it: the mean over images.
    # One sigmoid unit: binary cross-entropy; otherwise (also two softmax units, as a
    # model made elsewhere may have) sparse categorical cross-entropy.
    if outputs.shape[-1] == 1:
        losses = keras.losses.get(loss_for(2))(labels, outputs)
    else:
        losses = keras.losses.get(loss_for(3))(truth, outputs)
    predicted = np.argmax(class_probabilities(outputs), axis=-1)
    confusion = np.zeros((len(class_names), len(class_names)), dtype=int)
    np.add.at(confusion, (truth, predicted), 1)
    return Evaluation(class_names=list(class_names), loss=float(np.mean(losses)),
                      confusion=confusion.tolist())


def evaluate_run(ref: str | None, runs_dir: Path, split: str = "test",
                 data_dir: Path | None = None) -> tuple[Run, Evaluation, Path]:
    """Evaluate a run's best checkpoint on a split of its own data, or on `data_dir`.

    `data_dir` is a folder of class folders with the run's classes; `split` is then not
    used. Writes the confusion matrix into the run directory: confusion.png for the test
    split, confusion-validation.png, confusion-data.png (for `data_dir`).
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
    model = load_model_file(run.best, compile=False)
    _check_outputs(model, run, class_names)
    dataset = make_dataset(images, len(class_names), cfg.data.image_size, cfg.data.batch_size,
                           channels=cfg.data.channels,
                           cache="none")  # one pass: nothing to keep
    evaluation = evaluate(model, dataset, class_names)
    name = "data" if data_dir is not None else split
    png = run.path / ("confusion.png" if name == "test" else f"confusion-{name}.png")
    write_confusion_png(evaluation, png, title=f"{run.name}: {data_dir or f'{split} split'}")
    return run, evaluation, png


def evaluate_model_file(model_file: Path, data_dir: Path, classes: list[str] | None = None,
                        batch_size: int = 32) -> tuple[Evaluation, Path]:
    """Evaluate a model file (--model) on a folder of class folders (--data).

    The model's classes are `classes` (--classes, in the order of its outputs; the
    folders name some or all of them), else the folders in sorted order, as Keras'
    image_dataset_from_directory numbers them. Writes <model stem>-confusion.png here.
    """
    model = load_model_file(model_file)
    title = str(model_file)
    image_size = image_input(model, title)
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
    images = Split(images.paths, [class_names.index(found[label]) for label in images.labels])
    channels = model.inputs[0].shape[-1]
    dataset = make_dataset(images, len(class_names), image_size, batch_size, cache="none")
    dataset = dataset.map(lambda batch, labels: (to_channels(batch, channels), labels))
    evaluation = evaluate(model, dataset, class_names)
    png = Path(f"{model_file.stem}-confusion.png")
    write_confusion_png(evaluation, png, title=f"{model_file.name}: {data_dir}")
    return evaluation, png


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


# --- what a person sees ---------------------------------------------------------------


def class_table(evaluation: Evaluation, title: str = "") -> Fitted:
    """Per true class: images, precision and recall."""
    table = Table(title=title or None, title_justify="left")
    table.add_column("class", no_wrap=True)
    for column in ("images", "precision", "recall"):
        table.add_column(column, justify="right", no_wrap=True)
    for name, support, precision, recall in zip(evaluation.class_names, evaluation.support,
                                                evaluation.precision, evaluation.recall):
        table.add_row(Text(name), str(support), percent(precision), percent(recall))
    return Fitted(table)


def confusion_table(evaluation: Evaluation) -> Fitted:
    """Counts of images: a row per true class, a column per predicted class.

    Predicted classes are headed by name, or by number when the names do not fit side by side.
    """
    return Fitted(_confusion_layout(evaluation, numbered=False), _confusion_layout(evaluation, numbered=True))


def _confusion_layout(evaluation: Evaluation, numbered: bool) -> Table:
    names = evaluation.class_names
    table = Table(title="confusion matrix", title_justify="left", caption_justify="left",
                  caption="predicted classes by number: the rows' numbers" if numbered else None)
    table.add_column("true \\ predicted", no_wrap=True)
    for index, name in enumerate(names):
        table.add_column(str(index) if numbered else Text(name), justify="right", no_wrap=True)
    table.add_column("total", justify="right", no_wrap=True)
    for true, (name, row) in enumerate(zip(names, evaluation.confusion)):
        # The diagonal is bold: the images of a class the model got right.
        cells = [Text(str(count), style="bold" if predicted == true else "")
                 for predicted, count in enumerate(row)]
        label = Text(f"{true} {name}" if numbered else name)  # Text: a name is not rich markup
        table.add_row(label, *cells, str(sum(row)))
    return table


def write_confusion_png(evaluation: Evaluation, path: Path, title: str = "") -> None:
    """The confusion matrix as a picture: counts in the cells, darker for more images."""
    import matplotlib

    matplotlib.use("Agg")  # files only, no display needed
    import matplotlib.pyplot as plt

    names, counts = evaluation.class_names, np.array(evaluation.confusion)
    side = max(4.0, 1.5 + 0.6 * len(names))
    figure, ax = plt.subplots(figsize=(side + 1, side))
    image = ax.imshow(counts, cmap="Blues", vmin=0)
    figure.colorbar(image, ax=ax, fraction=0.046, pad=0.04)
    for (true, predicted), count in np.ndenumerate(counts):
        dark = count > counts.max() / 2  # white text on the dark cells
        ax.text(predicted, true, str(count), ha="center", va="center",
                color="white" if dark else "black")
    slanted = len(names) > 4  # long rows of names overlap unless slanted
    ax.set_xticks(range(len(names)), names, rotation=45 if slanted else 0,
                  ha="right" if slanted else "center")
    ax.set_yticks(range(len(names)), names)
    ax.set(xlabel="predicted", ylabel="true")
    heading = f"accuracy {percent(evaluation.accuracy)} of {evaluation.images} images"
    ax.set_title(f"{title}\n{heading}" if title else heading, fontsize=9)
    figure.tight_layout()
    with atomic_path(path) as temp:
        figure.savefig(temp, format="png", dpi=100)
    plt.close(figure)
