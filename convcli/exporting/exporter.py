"""Exporter: `convcli export`, a run's best.keras (or a model file) into a checked,
deployable folder.

Everything is written into a temporary folder beside the destination (the model, then
export.json once the check has run) and renamed onto it at the end: an export that
failed, was refused or was interrupted leaves nothing behind.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

from convcli.config import load_config
from convcli.data.pipeline import make_dataset
from convcli.errors import RunError
from convcli.evaluation import labelled_for_model
from convcli.exporting import agreement, converters, runtimes, splits
from convcli.exporting.record import (MODEL_FILES, RECORD_NAME, Check, ExportRecord, check_options,
                                      default_folder)
from convcli.models.saved import as_probabilities, image_input, load_model_file, one_output
from convcli.runs import Run, find_run, versions
from convcli.files import staged_folder

PACKAGES = ("tf2onnx", "onnx", "onnxruntime", "ai-edge-litert")
CALIBRATION_SEED = 0  # a model file has no run seed to draw int8's calibration images by


@dataclass
class Source:
    """What an export is made from: a run's best.keras, or a model file (--model)."""

    checkpoint: Path  # the Keras file
    run: Run | None
    class_names: list[str]
    image_size: tuple[int, int]
    channels: int
    batch_size: int

    @property
    def name(self) -> str:
        """How the check's table and messages call the Keras model."""
        return "best.keras" if self.run is not None else self.checkpoint.name


@dataclass
class Exported:
    """What an export did: its source, the folder (None when the check failed and
    nothing was kept) and the record, check included."""

    source: Source
    folder: Path | None
    record: ExportRecord


def export_run(ref: str | None, runs_dir: Path, format: str = "saved_model", quantize: str = "none",
               out: Path | None = None, force: bool = False) -> Exported:
    """Export, load in its runtime, check against best.keras, then keep it if it passed
    (or `force`)."""
    check_options(format, quantize)
    runtimes.require(format)
    run = find_run(ref, runs_dir)
    cfg, class_names = _exportable(run)
    folder = out if out is not None else run.path / "export" / default_folder(format, quantize)
    _check_free(folder, out is None)
    split = splits.check_split(run, cfg, class_names)
    calibration = splits.calibration_split(run, cfg, class_names) if quantize == "int8" else None
    source = Source(run.best, run, class_names, cfg.data.image_size, cfg.data.channels,
                    cfg.data.batch_size)
    # A mixed-precision model is exported, and checked, computing in float32.
    model = load_model_file(run.best, compile=False)
    return _export(source, model, format, quantize, folder, out is None, split, calibration, force)


def export_model_file(model_file: Path, data_dir: Path, classes: list[str] | None = None,
                      format: str = "saved_model", quantize: str = "none", out: Path | None = None,
                      force: bool = False, output: str | None = None) -> Exported:
    """Export a model file made elsewhere (--model), checked on `data_dir` as a run's export is
    on its test split; int8 is calibrated on up to 300 of the same images.

    Its classes are named as `evaluate --model` names them; a model that outputs logits is
    exported with their softmax (sigmoid), so its output is probabilities as every export's.
    Default folder: <FILE stem>-FORMAT[-QUANTIZE] here. Of a model with several outputs,
    `output` (--output) is the one exported.
    """
    check_options(format, quantize)
    runtimes.require(format)
    folder = out if out is not None else Path(f"{model_file.stem}-{default_folder(format, quantize)}")
    _check_free(folder, out is None)
    model = one_output(load_model_file(model_file), str(model_file), output)
    image_size = image_input(model, str(model_file))
    model, _ = as_probabilities(model, str(model_file))
    class_names, images = labelled_for_model(model, str(model_file), data_dir, classes)
    calibration = splits.sample(images, CALIBRATION_SEED) if quantize == "int8" else None
    source = Source(model_file, None, class_names, image_size, model.inputs[0].shape[-1], 32)
    return _export(source, model, format, quantize, folder, out is None, (str(data_dir), images),
                   calibration, force)


def _export(source: Source, model, format: str, quantize: str, folder: Path, default: bool,
            split: tuple, calibration, force: bool) -> Exported:
    """Write, load in its runtime and check; keep it if it passed (or `force`)."""
    if calibration is not None:
        calibration = splits.calibration_images(calibration, len(source.class_names),
                                                source.image_size, source.channels)
    model, mixed_policy = converters.in_float32(model)
    made_parent = not folder.parent.exists()
    try:
        with staged_folder(folder) as temp:
            record = _write_and_check(source, model, format, quantize, temp, split, calibration)
            record.source_dtype_policy = mixed_policy
            if not record.check.passed and not force:
                raise _NotKept(record)
            (temp / RECORD_NAME).write_text(record.model_dump_json(indent=2) + "\n")
            _check_free(folder, default)
        return Exported(source, folder, record)
    except _NotKept as refused:
        return Exported(source, None, refused.record)
    finally:
        if made_parent and folder.parent.is_dir() and not any(folder.parent.iterdir()):
            folder.parent.rmdir()  # e.g. RUN/export/, made for an export that was not kept


class _NotKept(Exception):
    """Leaves the staged folder unrenamed: the export failed its check, without --force."""

    def __init__(self, record: ExportRecord):
        super().__init__(record.check.failures)
        self.record = record


def _exportable(run: Run):
    """(config, class names) of a run that has a best checkpoint to export."""
    if not run.best.is_file():
        raise RunError(f"run {run.name} has no best checkpoint (checkpoints/best.keras; status: "
                       f"{run.status()}); export a run that finished an epoch")
    class_names = run.read_meta().class_names
    if not class_names:
        raise RunError(f"run {run.name} records no class names in meta.json; it did not get as far "
                       "as training")
    return load_config(run.config), class_names


def _write_and_check(source: Source, model, format: str, quantize: str, temp: Path, split: tuple,
                     calibration) -> ExportRecord:
    """Write the model into `temp`, load it in its runtime, and check it on `split`."""
    model_path = temp / MODEL_FILES[format]
    converters.write_model(model, format, quantize, model_path, calibration)
    runtime = runtimes.load_runtime(format, model_path)
    name, images = split
    dataset = make_dataset(images, len(source.class_names), source.image_size, source.batch_size,
                           cache="none", channels=source.channels)  # one pass: nothing to keep
    check = agreement.check(model, runtime, dataset, quantize, name,
                            (source.checkpoint.stat().st_size, agreement.size_bytes(model_path)))
    return _record(source, format, quantize, model, check)


def _check_free(folder: Path, default: bool) -> None:
    """Never write into a folder that holds something."""
    if folder.is_file():
        raise RunError(f"{folder} is a file; give --out a new or empty folder")
    if folder.exists() and any(folder.iterdir()):
        how = "remove it, or give --out DIR" if default else "choose a new folder, or remove it"
        raise RunError(f"{folder} already exists and is not empty; {how}")


def _record(source: Source, format: str, quantize: str, model, check: Check) -> ExportRecord:
    found = versions()
    for package in PACKAGES:
        try:
            found[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            pass
    height, width, channels = model.inputs[0].shape[1:]
    return ExportRecord(format=format, quantize=quantize, model=MODEL_FILES[format],
                        input_shape=[None, height, width, channels],
                        output_shape=[None, len(source.class_names)], class_names=source.class_names,
                        source_run=source.run.name if source.run is not None else None,
                        source_checkpoint=str(source.checkpoint.resolve()),
                        created=dt.datetime.now().isoformat(timespec="seconds"), versions=found,
                        check=check)


def failure_message(exported: Exported) -> str:
    """The one line that says an export failed its check, with the numbers."""
    check = exported.record.check
    split = f"the {check.split} split" if exported.source.run is not None else f"--data {check.split}"
    return (f"the {exported.record.format} export ({exported.record.quantize}) does not match "
            f"{exported.source.name} on {split}: {'; '.join(check.failures)} (needed: "
            f"{check.rule}); nothing was written; --force keeps it anyway")
