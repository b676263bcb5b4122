"""Commands on one model: `summary` (its layers), `evaluate` (its numbers on a split),
`predict` (class probabilities of images), `export` (a deployable file, checked)."""

from __future__ import annotations

from pathlib import Path
from typing import List, Literal, Optional

import typer

from convcli.cli.main import (CLASSES_OPTION, MODEL_OPTION, OUTPUT_OPTION, RUN_OPTION, RUNS_DIR, TTA_OPTION,
                              new_console, parse_names)
from convcli.errors import ModelError
from convcli.tfenv import import_tensorflow


def summary(target: Optional[str] = typer.Argument(
        None, help="A config (.yaml), a run (directory or name prefix) or a model file "
                   "(.keras). Default: the latest run."),
        set_: List[str] = typer.Option([], "--set", help="Override a config key (with a CONFIG)."),
        runs_dir: Path = RUNS_DIR) -> None:
    """Layer output shapes, parameters and trainable flags of a model."""
    import_tensorflow()
    from convcli.resolve import load_for_summary
    from convcli.models.table import layer_rows
    from convcli.tables import layer_table

    model, title = load_for_summary(target, runs_dir, set_)
    new_console().print(layer_table(layer_rows(model), title=title))


def evaluate(run: Optional[str] = typer.Argument(None, help="A run directory or a unique prefix of its "
                                                 "name (default: the latest run)."),
             split: Optional[Literal["test", "validation"]] = typer.Option(
                 None, "--split", help="The split of the run's own data (default: test)."),
             data: Optional[Path] = typer.Option(None, "--data", help="A folder of class folders, with "
                                                 "the run's classes, to evaluate on instead."),
             model: Optional[Path] = typer.Option(None, "--model", help="A .keras/.h5/.hdf5 model "
                                                  "file instead of a run, with --data."),
             classes: Optional[str] = CLASSES_OPTION, output: Optional[str] = OUTPUT_OPTION,
             tta: int = TTA_OPTION, runs_dir: Path = RUNS_DIR) -> None:
    """Loss, accuracy, precision, recall and confusion matrix of a run's best model.

    The matrix is also written into the run directory: confusion.png for the test split,
    confusion-validation.png, or confusion-data.png for --data. With --model FILE
    --data DIR: <FILE stem>-confusion.png here; without --classes, DIR's class folders
    in sorted order are the model's classes 0, 1, ... (as Keras numbers them). With
    --tta N: accuracy with and without test-time augmentation, side by side.
    """
    if split is not None and data is not None:
        raise typer.BadParameter("give --split or --data, not both", param_hint="--split")
    if model is not None and (run is not None or split is not None or data is None):
        raise typer.BadParameter("--model FILE takes --data DIR (a folder of class folders), "
                                 "and no RUN or --split", param_hint="--model")
    for given, name in ((classes, "--classes"), (output, "--output")):
        if given is not None and model is None:
            raise typer.BadParameter(f"{name} goes with a --model file", param_hint=name)
    import_tensorflow()
    from convcli.evaluation import (class_table, confusion_table, evaluate_model_file, evaluate_run,
                                    tta_table)
    from convcli.formats import percent

    if model is not None:
        evaluation, png, title = evaluate_model_file(model, data, parse_names(classes), output=output,
                                                     tta=tta)
        source = f"model {title}"
    else:
        found, evaluation, png = evaluate_run(run, runs_dir, split or "test", data, tta=tta)
        source = f"run {found.name}"
        if tta > 1:  # the run page shows what tta.json now records
            from convcli.pages.run import write_page

            write_page(found)
    console = new_console()
    console.print(f"{source}, {data if data is not None else (split or 'test') + ' split'}: "
                  f"loss {evaluation.loss:.4f}, accuracy {percent(evaluation.accuracy, 2)} "
                  f"({evaluation.correct} of {evaluation.images} images"
                  + (f", {tta} views each)" if tta > 1 else ")"),
                  markup=False, highlight=False, soft_wrap=True)
    if tta > 1:
        console.print(tta_table(evaluation))
    console.print(class_table(evaluation))
    console.print(confusion_table(evaluation))
    console.print(f"wrote {png}", markup=False, highlight=False, soft_wrap=True)


def predict(images: List[Path] = typer.Argument(..., help="Image files or folders of images."),
            run: Optional[str] = RUN_OPTION, model: Optional[Path] = MODEL_OPTION,
            classes: Optional[str] = CLASSES_OPTION, output: Optional[str] = OUTPUT_OPTION,
            as_json: bool = typer.Option(False, "--json", help="Print a JSON list of images and their "
                                         "probabilities, and nothing else, on stdout."),
            tta: int = TTA_OPTION, runs_dir: Path = RUNS_DIR) -> None:
    """Class probabilities of each image under a run's best model, a model file or an
    exported model, most probable first."""
    import_tensorflow()
    from convcli.models.saved import EXPORT_SUFFIXES, MODEL_SUFFIXES
    from convcli.prediction import predict_exported, predict_images, predictions_json, predictions_table

    # A folder is an export (a SavedModel), unless its name says it is meant as a Keras file.
    if model is not None and (model.suffix.lower() in EXPORT_SUFFIXES or
                              (model.is_dir() and model.suffix.lower() not in MODEL_SUFFIXES)):
        if tta > 1:
            raise typer.BadParameter("--tta needs a Keras model (a run's, or a .keras/.h5 file); an "
                                     "export runs in its own runtime", param_hint="--tta")
        results, title = predict_exported(images, model, run)
    else:
        results, title = predict_images(images, run, runs_dir, model_file=model,
                                        classes=parse_names(classes), output=output, tta=tta)
        title = f"predictions — {title}"
    if as_json:
        typer.echo(predictions_json(results))
    else:
        new_console().print(predictions_table(results, title))


def export(run: Optional[str] = typer.Argument(None, help="A run directory or a unique prefix of its "
                                               "name (default: the latest run)."),
           model: Optional[Path] = typer.Option(None, "--model", help="A .keras/.h5/.hdf5 model file "
                                                "made elsewhere instead of a run, with --data."),
           data: Optional[Path] = typer.Option(None, "--data", help="With --model: a folder of class "
                                               "folders to check the export on (and calibrate int8)."),
           classes: Optional[str] = typer.Option(None, "--classes", help="With --model: its class "
                                                 "names, comma-separated, in the order of its outputs "
                                                 "(default: --data's folders, sorted)."),
           output: Optional[str] = OUTPUT_OPTION,
           format: str = typer.Option("saved_model", "--format", help="saved_model | litert (.tflite) "
                                      "| onnx."),
           quantize: str = typer.Option("none", "--quantize", help="none | float16 | dynamic-int8 (int8 "
                                        "weights) | int8 (full integer, calibrated on training "
                                        "images); quantized formats: litert only."),
           out: Optional[Path] = typer.Option(None, "--out", help="A new or empty folder (default: "
                                              "RUN/export/FORMAT[-QUANTIZE], or "
                                              "FILESTEM-FORMAT[-QUANTIZE] here for --model)."),
           force: bool = typer.Option(False, "--force", help="Keep the export even if it does not "
                                      "match the Keras model closely enough."),
           runs_dir: Path = RUNS_DIR) -> None:
    """A run's best model (or a model file) as a SavedModel, LiteRT or ONNX file, checked
    in its own runtime.

    It takes raw images like best.keras (preprocessing inside). It is loaded
    in its runtime and compared with best.keras on the run's test split (else
    validation): float32 must agree on every image (max difference 1e-4),
    int8 on 99% with accuracy within a point; otherwise nothing is written
    and the exit code is 1, unless --force. With --model FILE --data DIR:
    a model made elsewhere, checked against the file on DIR's images (int8
    calibrated on up to 300 of them); its classes are --classes, else DIR's
    class folders in sorted order; logits are exported as their softmax.
    """
    _check_export_usage(run, model, data, classes, output)
    import_tensorflow()
    from convcli.exporting.agreement import check_table
    from convcli.exporting.exporter import export_model_file, export_run, failure_message

    if model is not None:
        exported = export_model_file(model, data, parse_names(classes), format, quantize, out, force,
                                     output=output)
    else:
        exported = export_run(run, runs_dir, format, quantize, out, force)
    console = new_console()
    console.print(check_table(exported.record.check, format, quantize, exported.record.source_dtype_policy,
                              exported.source.name))
    if exported.folder is None:
        raise ModelError(failure_message(exported))
    if not exported.record.check.passed:
        typer.secho(f"warning: kept with --force: {'; '.join(exported.record.check.failures)}",
                    fg="yellow", err=True)
    console.print(f"wrote {exported.folder}", markup=False, highlight=False, soft_wrap=True)


def _check_export_usage(run: Optional[str], model: Optional[Path], data: Optional[Path],
                        classes: Optional[str], output: Optional[str] = None) -> None:
    """export takes a run, or --model FILE --data DIR: a model file given as RUN says so."""
    from convcli.models.saved import MODEL_SUFFIXES

    if run is not None and model is None and Path(run).suffix.lower() in MODEL_SUFFIXES:
        raise typer.BadParameter(f"export takes a run; to export the model file {run}, give "
                                 f"--model {run} --data DIR (class folders to check it on)",
                                 param_hint="RUN")
    if model is not None and (run is not None or data is None):
        raise typer.BadParameter("--model FILE takes --data DIR (a folder of class folders to check "
                                 "the export on), and no RUN", param_hint="--model")
    if model is None and (data is not None or classes is not None):
        raise typer.BadParameter(f"{'--data' if data is not None else '--classes'} goes with --model "
                                 "FILE; a run is checked on its own split, with its own classes",
                                 param_hint="--data" if data is not None else "--classes")
    if model is None and output is not None:
        raise typer.BadParameter("--output names an output of a --model file; a run's model has one",
                                 param_hint="--output")
