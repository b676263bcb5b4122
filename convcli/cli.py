"""The command line: parse arguments, call one domain function, print the outcome.

`ConvcliGroup.invoke` is the one place a ConvcliError (or a full disk) becomes a red
line on stderr and exit code 1, and Ctrl-C becomes exit code 130. TensorFlow is
imported only inside the commands that need it, so `convcli --help` answers at once.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import List, Literal, Optional

import typer
from typer.core import TyperGroup

from convcli.bases import BASE_NAMES
from convcli.errors import (ConvcliError, DataError, Interrupted, ModelError, RunError,
                            SweepInterrupted, disk_full)
from convcli.tfenv import import_tensorflow

EXIT_USER_ERROR, EXIT_INTERRUPTED = 1, 130


class ConvcliGroup(TyperGroup):
    """The root command group: turns user errors into one line and an exit code."""

    def invoke(self, ctx: typer.Context):
        try:
            return super().invoke(ctx)
        except ConvcliError as error:
            typer.secho(f"error: {error}", fg="red", err=True)
            raise typer.Exit(EXIT_USER_ERROR) from None
        except SweepInterrupted as stop:
            typer.secho(f"interrupted: {stop.message}; continue it with: {stop.command}",
                        fg="red", err=True)
            raise typer.Exit(stop.exit_code) from None
        except Interrupted as stop:
            how = " by SIGTERM" if stop.signal_name == "SIGTERM" else ""
            typer.secho(f"interrupted{how}: run {stop.run_name} keeps its checkpoints up to epoch "
                        f"{stop.epoch}; resume it with: {getattr(stop, 'command', '--resume')}",
                        fg="red", err=True)
            raise typer.Exit(stop.exit_code) from None
        except KeyboardInterrupt:
            typer.secho("interrupted", fg="red", err=True)
            raise typer.Exit(EXIT_INTERRUPTED) from None
        except Exception as error:
            full = disk_full(error)
            if full is None:
                raise
            where = f" writing {full.filename}" if full.filename else ""
            typer.secho(f"error: no space left on the disk{where} ({full.strerror}); free some space "
                        "and run again (a training run is marked failed, keeps its last checkpoint "
                        "and continues with --resume)", fg="red", err=True)
            raise typer.Exit(EXIT_USER_ERROR) from None


app = typer.Typer(cls=ConvcliGroup, no_args_is_help=True, add_completion=False,
                  pretty_exceptions_enable=False,
                  help="Experiment runner for convolutional networks on small image datasets.")
data_app = typer.Typer(no_args_is_help=True, help="Make the built-in dataset, or check a dataset.")
app.add_typer(data_app, name="data")
runs_app = typer.Typer(help="List, inspect and compare runs (`convcli runs` lists them).")
app.add_typer(runs_app, name="runs")
configs_app = typer.Typer(help="The shipped configs and sweeps (`convcli configs` lists them).")
app.add_typer(configs_app, name="configs")

RUNS_DIR = typer.Option(Path("runs"), "--runs-dir", help="Where run directories live.")


def _show_version(value: bool) -> None:
    if not value:
        return
    from importlib.metadata import PackageNotFoundError, version

    try:
        typer.echo(f"convcli {version('convcli')}")
    except PackageNotFoundError:  # a source tree on sys.path, never installed
        from convcli import __version__

        typer.echo(f"convcli {__version__}")
    raise typer.Exit()


@app.callback()
def main(version: bool = typer.Option(False, "--version", is_eager=True, callback=_show_version,
                                      help="Print convcli's version and exit.")) -> None:
    """Experiment runner for convolutional networks on small image datasets."""


def _console():
    from rich.console import Console

    return Console()


BASES_HELP = ("Pretrained bases for model.base (stages extract and fine-tune): "
              + ", ".join(BASE_NAMES) + ".")


@app.command(epilog=BASES_HELP)
def train(config: Path = typer.Argument(..., help="The experiment's YAML config, or the name of a "
                                        "shipped one (convcli configs lists them): finetune."),
          set_: List[str] = typer.Option([], "--set", help="Override a key: --set train.epochs=3 "
                                         "(repeatable; values are YAML)."),
          runs_dir: Path = RUNS_DIR,
          resume: Optional[str] = typer.Option(None, "--resume", help="Continue this interrupted, "
                                               "killed or failed run (a directory or name prefix) "
                                               "from its last completed epoch."),
          force: bool = typer.Option(False, "--force", help="With --resume: continue even if the "
                                     "config or the data changed.")) -> None:
    """Run one experiment into a new dated run directory (or continue one with --resume)."""
    from convcli.config import load_config
    from convcli.shipped import config_path

    if force and resume is None:
        raise typer.BadParameter("--force only applies with --resume RUN", param_hint="--force")
    cfg = load_config(config_path(config), set_)
    import_tensorflow()
    from convcli.experiment import resume_experiment, run_experiment
    from convcli.overview import results_table

    try:
        if resume is None:
            run, summary = run_experiment(cfg, runs_dir)
        else:
            run, summary = resume_experiment(cfg, resume, runs_dir, force)
    except Interrupted as stop:
        options = "".join(f" --set {item}" for item in set_)
        if runs_dir != Path("runs"):
            options += f" --runs-dir {runs_dir}"
        stop.command = f"convcli train {config}{options} --resume {stop.run_name}"
        raise
    console = _console()
    console.print(results_table(summary, run.path))
    console.print(f"run directory: {run.path}", highlight=False, soft_wrap=True)


@app.command()
def summary(target: Optional[str] = typer.Argument(
        None, help="A config (.yaml), a run (directory or name prefix) or a model file "
                   "(.keras). Default: the latest run."),
        set_: List[str] = typer.Option([], "--set", help="Override a config key (with a CONFIG)."),
        runs_dir: Path = RUNS_DIR) -> None:
    """Layer output shapes, parameters and trainable flags of a model."""
    import_tensorflow()
    from convcli.resolve import load_for_summary
    from convcli.models.table import layer_rows
    from convcli.report import layer_table

    model, title = load_for_summary(target, runs_dir, set_)
    _console().print(layer_table(layer_rows(model), title=title))


RUN_OPTION = typer.Option(None, "--run", help="A run directory or a unique prefix of its name "
                                              "(default: the latest run); its best model is used.")
MODEL_OPTION = typer.Option(None, "--model", help="A .keras/.h5/.hdf5 model file instead of a run "
                            "(predict also takes an export: .tflite, .onnx or a SavedModel folder).")
CLASSES_OPTION = typer.Option(None, "--classes", help="With --model: its class names, comma-separated, "
                              "in the order of its outputs (default: 0, 1, ...).")


def _names(classes: Optional[str]) -> Optional[List[str]]:
    return [name.strip() for name in classes.split(",") if name.strip()] if classes else None


@app.command()
def gradcam(images: List[Path] = typer.Argument(..., help="Image files or folders of images."),
            run: Optional[str] = RUN_OPTION, model: Optional[Path] = MODEL_OPTION,
            classes: Optional[str] = CLASSES_OPTION,
            layer: Optional[str] = typer.Option(None, help="The feature map to explain (default: the "
                                                "last one, inside a pretrained base too)."),
            class_: Optional[str] = typer.Option(None, "--class", help="Class name or index to explain "
                                                 "(default: each image's predicted class)."),
            alpha: float = typer.Option(0.4, min=0, max=1, help="Heatmap opacity over the image."),
            out: Path = typer.Option(Path("gradcam"), help="Folder for <image>.png and <image>.npy."),
            runs_dir: Path = RUNS_DIR) -> None:
    """Grad-CAM heatmaps: where in each image the evidence for a class is."""
    import_tensorflow()
    from convcli.explaining import gradcam as explain
    from convcli.report import predictions_table

    results, class_names, title = explain(images, run, model, layer, class_, alpha, out, runs_dir,
                                          classes=_names(classes))
    _console().print(predictions_table(results, class_names, title))
    typer.echo(f"wrote {2 * len(results)} files to {out}/")


@app.command()
def activations(image: Path = typer.Argument(..., help="One image file."),
                run: Optional[str] = RUN_OPTION, model: Optional[Path] = MODEL_OPTION,
                layers: List[str] = typer.Option([], "--layers", help="Layer names (repeatable or "
                                                 "comma-separated; default: every convolution and "
                                                 "pooling layer, inside a pretrained base too)."),
                out: Path = typer.Option(Path("activations"), help="Folder for one PNG per layer."),
                runs_dir: Path = RUNS_DIR) -> None:
    """What each convolution and pooling layer makes of one image: a grid of its channels."""
    import_tensorflow()
    from convcli.explaining import activations as draw

    written = draw(image, run, model, layers, out, runs_dir)
    typer.echo(f"wrote {len(written)} layer grids to {out}/ ({written[0].name} ... {written[-1].name})")


@app.command()
def filters(layer: str = typer.Option(..., help="A convolution layer, inside a pretrained base too."),
            run: Optional[str] = RUN_OPTION,
            base: Optional[str] = typer.Option(None, help="A pretrained base by name instead of a run "
                                               "(convcli train --help lists them)."),
            weights: Optional[str] = typer.Option(None, help="With --base: imagenet, builtin, none or "
                                                  "a file (default: builtin for builtin, else imagenet)."),
            size: Optional[int] = typer.Option(None, min=16, help="With --base: pattern side in pixels "
                                               "(default 64 builtin, 150 otherwise)."),
            count: int = typer.Option(16, min=1, max=256, help="How many filters, from filter 0."),
            out: Path = typer.Option(Path("."), help="Folder for filters_<layer>.png."),
            runs_dir: Path = RUNS_DIR) -> None:
    """The pattern each filter responds to most, by gradient ascent in input space."""
    import_tensorflow()
    from convcli.explaining import filters as draw

    typer.echo(f"wrote {draw(layer, run, base, weights, size, count, out, runs_dir)}")


@app.command()
def augment(config: Path = typer.Argument(..., help="A config with an augment section."),
            image: Path = typer.Argument(..., help="One image file."),
            count: int = typer.Option(15, min=1, max=256, help="How many augmented versions."),
            out: Path = typer.Option(Path("."), help="Folder for <image>_augmented.png."),
            set_: List[str] = typer.Option([], "--set", help="Override a config key.")) -> None:
    """A grid of augmented versions of one image: see what augmentation does before training."""
    import_tensorflow()
    from convcli.explaining import augment_preview

    path = augment_preview(config, image, count, out, set_)
    typer.echo(f"wrote {path} (top left: the image as the model sees it, then {count} augmented)")


@app.command()
def evaluate(run: Optional[str] = typer.Argument(None, help="A run directory or a unique prefix of its "
                                                 "name (default: the latest run)."),
             split: Optional[Literal["test", "validation"]] = typer.Option(
                 None, "--split", help="The split of the run's own data (default: test)."),
             data: Optional[Path] = typer.Option(None, "--data", help="A folder of class folders, with "
                                                 "the run's classes, to evaluate on instead."),
             model: Optional[Path] = typer.Option(None, "--model", help="A .keras/.h5/.hdf5 model "
                                                  "file instead of a run, with --data."),
             classes: Optional[str] = CLASSES_OPTION,
             runs_dir: Path = RUNS_DIR) -> None:
    """Loss, accuracy, precision, recall and confusion matrix of a run's best model.

    The matrix is also written into the run directory: confusion.png for the test split,
    confusion-validation.png, or confusion-data.png for --data. With --model FILE
    --data DIR: <FILE stem>-confusion.png here; without --classes, DIR's class folders
    in sorted order are the model's classes 0, 1, ... (as Keras numbers them).
    """
    if split is not None and data is not None:
        raise typer.BadParameter("give --split or --data, not both", param_hint="--split")
    if model is not None and (run is not None or split is not None or data is None):
        raise typer.BadParameter("--model FILE takes --data DIR (a folder of class folders), "
                                 "and no RUN or --split", param_hint="--model")
    if classes is not None and model is None:
        raise typer.BadParameter("--classes names the classes of a --model file", param_hint="--classes")
    import_tensorflow()
    from convcli.evaluation import class_table, confusion_table, evaluate_model_file, evaluate_run

    if model is not None:
        evaluation, png = evaluate_model_file(model, data, _names(classes))
        source = f"model {model}"
    else:
        found, evaluation, png = evaluate_run(run, runs_dir, split or "test", data)
        source = f"run {found.name}"
    console = _console()
    console.print(f"{source}, {data if data is not None else (split or 'test') + ' split'}: "
                  f"loss {evaluation.loss:.4f}, accuracy {100 * evaluation.accuracy:.2f}% "
                  f"({evaluation.correct} of {evaluation.images} images)",
                  markup=False, highlight=False, soft_wrap=True)
    console.print(class_table(evaluation))
    console.print(confusion_table(evaluation))
    console.print(f"wrote {png}", markup=False, highlight=False, soft_wrap=True)


@app.command()
def predict(images: List[Path] = typer.Argument(..., help="Image files or folders of images."),
            run: Optional[str] = RUN_OPTION, model: Optional[Path] = MODEL_OPTION,
            classes: Optional[str] = CLASSES_OPTION,
            as_json: bool = typer.Option(False, "--json", help="Print a JSON list of images and their "
                                         "probabilities, and nothing else, on stdout."),
            runs_dir: Path = RUNS_DIR) -> None:
    """Class probabilities of each image under a run's best model, a model file or an
    exported model, most probable first."""
    import_tensorflow()
    from convcli.prediction import predict_exported, predict_images, predictions_json, predictions_table

    if model is not None and (model.is_dir() or model.suffix in (".tflite", ".onnx")):
        results, title = predict_exported(images, model, run)
    else:
        results, title = predict_images(images, run, runs_dir, model_file=model, classes=_names(classes))
        title = f"predictions — {title}"
    if as_json:
        typer.echo(predictions_json(results))
    else:
        _console().print(predictions_table(results, title))


@app.command()
def export(run: Optional[str] = typer.Argument(None, help="A run directory or a unique prefix of its "
                                               "name (default: the latest run)."),
           format: str = typer.Option("saved_model", "--format", help="saved_model | litert (.tflite) "
                                      "| onnx."),
           quantize: str = typer.Option("none", "--quantize", help="none | float16 | dynamic-int8 (int8 "
                                        "weights) | int8 (full integer, calibrated on training "
                                        "images); quantized formats: litert only."),
           out: Optional[Path] = typer.Option(None, "--out", help="A new or empty folder (default: "
                                              "RUN/export/FORMAT[-QUANTIZE])."),
           force: bool = typer.Option(False, "--force", help="Keep the export even if it does not "
                                      "match best.keras closely enough."),
           runs_dir: Path = RUNS_DIR) -> None:
    """A run's best model as a SavedModel, LiteRT or ONNX file, checked in its own runtime.

    It takes raw images like best.keras (preprocessing inside). It is loaded
    in its runtime and compared with best.keras on the run's test split (else
    validation): float32 must agree on every image (max difference 1e-4),
    int8 on 99% with accuracy within a point; otherwise nothing is written
    and the exit code is 1, unless --force.
    """
    import_tensorflow()
    from convcli.exporting.agreement import check_table
    from convcli.exporting.exporter import export_run, failure_message

    exported = export_run(run, runs_dir, format, quantize, out, force)
    console = _console()
    console.print(check_table(exported.record.check, format, quantize))
    if exported.folder is None:
        raise ModelError(failure_message(exported))
    if not exported.record.check.passed:
        typer.secho(f"warning: kept with --force: {'; '.join(exported.record.check.failures)}",
                    fg="yellow", err=True)
    console.print(f"wrote {exported.folder}", markup=False, highlight=False, soft_wrap=True)


@app.command()
def pretrain(force: bool = typer.Option(False, "--force", help="Train it again even if cached.")) -> None:
    """Build the built-in base now: pretrained on the built-in source task, then cached.

    Stages extract and fine-tune with `model.base: builtin` do this on first use; run it
    ahead of time to have the base ready (e.g. before going offline or in a Docker build).
    """
    import_tensorflow()
    from convcli.pretraining import builtin_weights

    typer.echo(f"built-in base weights: {builtin_weights(force=force)}")


@app.command()
def schema() -> None:
    """Print the JSON Schema of a config file."""
    from convcli.config import json_schema

    typer.echo(json.dumps(json_schema(), indent=2))


@app.command()
def demo(quick: bool = typer.Option(False, "--quick", help="A few epochs per stage: about two "
                                    "minutes instead of about ten (with one seed)."),
         seeds: int = typer.Option(1, "--seeds", min=1, max=20, help="Train each stage with this "
                                   "many seeds (as sweeps) and show mean ± std and each step's "
                                   "gain with its 95% interval."),
         workers: Optional[int] = typer.Option(None, "--workers", min=1, max=64, help="With --seeds: "
                                               "trials at once (default: one per GPU, else 1)."),
         runs_dir: Path = RUNS_DIR) -> None:
    """The whole workflow on the built-in data: scratch, augment, extract (features and
    frozen), fine-tune, with Grad-CAM; then a table of every stage beside the book's."""
    import time

    began, console = time.perf_counter(), _console()
    if seeds > 1:
        if quick:
            import_tensorflow()  # --quick may pretrain a small built-in base in this process
        from convcli.demo import run_seeded_demo, write_demo_curves
        from convcli.overview import seeded_demo_table

        rows = run_seeded_demo(runs_dir, quick, seeds, workers, console)
        console.print(seeded_demo_table(rows, time.perf_counter() - began, seeds))
        console.print(f"validation curves, mean ± std: {write_demo_curves(rows, runs_dir)}",
                      highlight=False, soft_wrap=True)
        return
    import_tensorflow()
    from convcli.demo import run_demo
    from convcli.overview import demo_table

    rows = run_demo(runs_dir, quick, console)
    console.print(demo_table(rows, time.perf_counter() - began))
    console.print(f"Grad-CAM of the fine-tuned model: {rows[-1]['gradcam']}", highlight=False,
                  soft_wrap=True)


@app.command("sweep")
def sweep_command(
        sweep_file: Path = typer.Argument(..., metavar="SWEEP", help="The sweep file (YAML), or the "
                                          "name of a shipped one: sweeps/lr or lr."),
        set_: List[str] = typer.Option([], "--set", help="Override a key of the base config "
                                       "(repeatable; values are YAML)."),
        runs_dir: Path = RUNS_DIR,
        workers: Optional[int] = typer.Option(None, "--workers", min=1, max=256, help="Trials at "
                                              "once on this machine (default: the sweep file's, "
                                              "else one per GPU, else 1)."),
        storage: Optional[str] = typer.Option(None, "--storage", help="An Optuna storage URL "
                                              "(postgresql://, mysql://, sqlite:///) or a journal "
                                              "file, shared by every machine of the sweep "
                                              "(default: study.db in the sweep directory)."),
        study: Optional[str] = typer.Option(None, "--study", help="The study's name in --storage "
                                            "(default: the sweep's name)."),
        new: bool = typer.Option(False, "--new", help="Start a new sweep even if one of this "
                                 "name is unfinished."),
        status: bool = typer.Option(False, "--status", help="Show the study's progress and "
                                    "points (from any machine, with --storage) and start nothing.")
) -> None:
    """Many runs from one sweep file: a grid or a search over config keys, each point over
    several seeds, with mean, std and 95% interval per point. Rerun to continue."""
    from convcli.shipped import sweep_path
    from convcli.sweeps.display import Display, points_table

    console, given, sweep_file = _console(), sweep_file, sweep_path(sweep_file)
    if status:
        from convcli.sweeps.session import sweep_status

        found, counts, points, best = sweep_status(sweep_file, set_, runs_dir, storage, study)
        console.print("trials: " + ", ".join(f"{n} {s}" for s, n in counts.items() if n),
                      highlight=False, soft_wrap=True)
        console.print(points_table(found, points, best, f"sweep {found.name}"))
        return
    from convcli.sweeps.session import run_sweep

    try:
        result = run_sweep(sweep_file, set_, runs_dir, workers, storage, study, new, Display(console))
    except SweepInterrupted as stop:
        stop.command = " ".join(["convcli sweep", str(given), *(f"--set {s}" for s in set_),
                                 *([f"--runs-dir {runs_dir}"] if runs_dir != Path("runs") else []),
                                 *([f"--storage {storage}"] if storage else []),
                                 *([f"--study {study}"] if study else [])])
        raise
    title = f"sweep {result.folder.name}" + ("" if result.started else " (finished earlier; "
                                              "--new starts another)")
    console.print(points_table(result.sweep, result.points, result.best, title))
    if result.best is not None:
        console.print(f"best point: {result.folder.best_yaml} (convcli train it)", highlight=False,
                      soft_wrap=True)
    console.print(f"sweep directory: {result.folder.path}", highlight=False, soft_wrap=True)


@configs_app.callback(invoke_without_command=True)
def configs_list(ctx: typer.Context) -> None:
    """The configs and sweeps convcli ships: `convcli train NAME` runs one, `convcli configs
    copy NAME` writes one out to edit."""
    if ctx.invoked_subcommand is not None:
        return
    from convcli.overview import shipped_table
    from convcli.shipped import shipped_files

    _console().print(shipped_table(shipped_files()))


@configs_app.command("copy")
def configs_copy(name: str = typer.Argument(..., metavar="NAME", help="A shipped config or sweep, as `convcli "
                                            "configs` names it (finetune, book/finetune, sweeps/lr)."),
                 directory: Path = typer.Argument(Path("."), metavar="DIR", help="The folder to "
                                                  "write it into (made if missing).")) -> None:
    """Write a shipped config (or sweep, with its base config) into DIR to edit; never
    overwrites a file."""
    from convcli.shipped import copy_shipped

    shipped, written = copy_shipped(name, directory)
    typer.echo(f"wrote {', '.join(map(str, written))}; run it with: "
               f"convcli {'sweep' if shipped.is_sweep else 'train'} {written[-1]}")


@runs_app.callback(invoke_without_command=True)
def runs_list(ctx: typer.Context, runs_dir: Path = RUNS_DIR,
              as_json: bool = typer.Option(False, "--json", help="Print the runs and sweeps as JSON, "
                                           "for scripts (nothing else on stdout).")) -> None:
    """Every run: stage, status, best validation and test accuracy, epochs, duration, start.

    Folders that are not runs, runs without meta.json and killed runs are listed as such.
    """
    if ctx.invoked_subcommand is not None:
        return
    from convcli.overview import runs_table, sweeps_table
    from convcli.runs import overview
    from convcli.sweeps.directory import list_sweeps, listing_row

    sweeps = [listing_row(sweep) for sweep in list_sweeps(runs_dir)]
    if as_json:
        from convcli.overview import listing_json

        typer.echo(listing_json(overview(runs_dir), sweeps, runs_dir))
        return
    console = _console()
    console.print(runs_table(overview(runs_dir), runs_dir))
    if sweeps:
        console.print(sweeps_table(sweeps))


@runs_app.command("show")
def runs_show(run: Optional[str] = typer.Argument(None, help="A run directory or a unique prefix of its "
                                                  "name, with or without the time (default: the latest)."),
              html: bool = typer.Option(False, "--html", help="Write report.html again and print its path."),
              runs_dir: Path = RUNS_DIR,
              as_json: bool = typer.Option(False, "--json", help="Print the run (or sweep) as JSON, "
                                           "for scripts (nothing else on stdout).")) -> None:
    """One run: status, results, its config.yaml and its files (a sweep: its points)."""
    from convcli.overview import run_details
    from convcli.runs import find_run

    try:
        found = find_run(run, runs_dir) if not (run and Path(run, "sweep.yaml").is_file()) else None
    except RunError:
        found = None
    if found is None:
        from convcli.sweeps.directory import find_sweep, read_sweep
        from convcli.sweeps.display import points_table
        from convcli.sweeps.records import best_point, read_points

        sweep_dir = find_sweep(run, runs_dir) if run else None
        if sweep_dir is None:
            find_run(run, runs_dir)  # raises the run's own error
        sweep = read_sweep(sweep_dir)
        points = read_points(sweep_dir, sweep)
        if as_json:
            from convcli.sweeps.display import points_json

            typer.echo(points_json(sweep_dir.name, sweep, points, best_point(points, sweep)))
            return
        _console().print(points_table(sweep, points, best_point(points, sweep), f"sweep {sweep_dir.name}"))
        return
    if as_json:
        from convcli.overview import run_json

        typer.echo(run_json(found))
        return
    if html:
        from convcli.page import write_page

        typer.echo(write_page(found))
        return
    _console().print(run_details(found))


@runs_app.command("compare")
def runs_compare(runs: List[str] = typer.Argument(..., help="Two or more runs (directories or name prefixes)."),
                 runs_dir: Path = RUNS_DIR) -> None:
    """Results side by side, and only the config keys that differ."""
    from convcli.overview import comparison_table
    from convcli.runs import compare

    if len(runs) < 2:
        raise typer.BadParameter("give at least two runs to compare", param_hint="RUNS")
    _console().print(comparison_table(*compare(runs, runs_dir)))


@data_app.command("synth")
def data_synth(directory: Path = typer.Argument(..., help="New folder to write (must not exist)."),
               task: str = typer.Option("target", help="target (2 classes, small) | source "
                                        "(8 other classes, for pretraining)."),
               seed: int = typer.Option(0, help="Same seed, same bytes."),
               per_class: Optional[int] = typer.Option(None, help="Images per class and split "
                                                       "(default: the task's own counts)."),
               image_size: int = typer.Option(64, help="Side of the square images, in pixels.")) -> None:
    """Write the built-in dataset: train/validation/test class folders of JPEGs + boxes.csv."""
    from convcli.data.synthetic import generate

    path = generate(directory, task=task, seed=seed, per_class=per_class, image_size=image_size)
    info = json.loads((path / "dataset.json").read_text())
    typer.echo(f"wrote {sum(info['counts'].values()) * len(info['recipe']['classes'])} images "
               f"({', '.join(info['recipe']['classes'])}) to {path}")


@data_app.command("check")
def data_check(directory: Path = typer.Argument(..., help="A dataset folder: train/, validation/ "
                                                "(or val/), test/ of class folders, or one folder "
                                                "of class folders."),
               as_json: bool = typer.Option(False, "--json", help="Print the report as JSON.")) -> None:
    """Decode every image and report what would break or mislead training; exit 1 if so.

    Corrupt, truncated, empty and oversized files, contents that do not match the
    extension, files training skips (other formats, hidden, macOS ._ files), empty or
    single classes, classes that differ between splits, imbalance, the same image in two
    splits (leakage) or twice in one, and image sizes.
    """
    import_tensorflow()
    from convcli.data.check import check_dataset

    report = check_dataset(directory)
    if as_json:
        typer.echo(json.dumps(report.as_dict(), indent=2))
    else:
        from convcli.report import check_tables

        _console().print(check_tables(report))
    if not report.ok:
        errors = sum(problem.severity == "error" for problem in report.problems)
        raise DataError(f"{directory}: {errors} problem(s) would break or mislead training "
                        f"({', '.join(sorted({p.kind for p in report.problems if p.severity == 'error'}))})")


@data_app.command("split")
def data_split(source: Path = typer.Argument(..., metavar="SRC", help="Labelled images: a folder of "
                                             "class folders, a flat folder (labels from file names) "
                                             "or a CSV file."),
               destination: Path = typer.Argument(..., metavar="DST", help="A new or empty folder to write."),
               labels_from: Optional[Literal["folders", "filename", "csv"]] = typer.Option(
                   None, "--labels-from", help="Default: csv with a CSV, folders when SRC has class "
                   "folders, else filename."),
               csv_file: Optional[Path] = typer.Option(None, "--csv", help="file,label rows (header "
                                                       "optional), paths relative to the CSV."),
               pattern: Optional[str] = typer.Option(None, "--pattern", help="With filename: a regex "
                                                     "whose first group is the label (default: the "
                                                     "text before the first ., _ or digit)."),
               validation: float = typer.Option(0.2, "--validation", help="Fraction of each class."),
               test: float = typer.Option(0.2, "--test", help="Fraction of each class (0: no test split)."),
               per_class: Optional[int] = typer.Option(None, "--per-class", min=1, help="Take N images "
                                                       "per class (by seed) before splitting."),
               seed: int = typer.Option(1337, "--seed", help="Same seed, same split."),
               link: bool = typer.Option(True, "--link/--copy", help="Hard links (copies across "
                                         "filesystems), or copies.")) -> None:
    """Split labelled images into DST/train, validation and test class folders (stratified, by
    seed) and DST/split.csv, then check what was written as `data check` does.

    The book's cats-vs-dogs subset from the flat Kaggle folder:
    convcli data split train/ cats_and_dogs_small --per-class 2000 --validation 0.25 --test 0.25
    """
    import_tensorflow()
    from convcli.data.split import split_dataset
    from convcli.report import check_tables

    result = split_dataset(source, destination, labels_from, csv_file, pattern, validation, test,
                           per_class, seed, link)
    _console().print(check_tables(result.report))
    typer.echo(f"wrote {result.images:,} images to {destination} (labels from {result.labels_from}; "
               f"{result.linked:,} hard links, {result.copied:,} copies); {destination / 'split.csv'} "
               "lists them")
    if not result.report.ok:
        raise DataError(f"{destination} was written, but data check finds problems in it (listed "
                        "above); they come from the source images")


@app.command()
def init(data_dir: Path = typer.Argument(..., metavar="DATA_DIR", help="A dataset folder: train/, "
                                         "validation/ (or val/), test/ of class folders, or one "
                                         "folder of class folders."),
         stage: Literal["scratch", "augment", "extract", "fine-tune"] = typer.Option(
             "fine-tune", "--stage", help="The experiment the config runs."),
         out: Path = typer.Option(Path("config.yaml"), "--out", help="The config file to write "
                                  "(never over an existing file)."),
         base: Optional[str] = typer.Option(None, "--base", help="extract / fine-tune: the pretrained "
                                            "base (default: vgg16, the book's; builtin runs offline).")) -> None:
    """Write a commented config for a dataset folder: its splits and classes, an image_size
    from its images, the stage's sections with the book's values. It validates as written."""
    import_tensorflow()
    from convcli.draft import write_draft
    from convcli.report import check_tables

    draft = write_draft(data_dir, stage, out, base)
    _console().print(check_tables(draft.report))
    typer.echo(f"wrote {out} (stage {stage}, {len(draft.class_names)} classes, image_size "
               f"{list(draft.image_size)}, batch_size {draft.batch_size}); run it with: "
               f"convcli train {out}")
