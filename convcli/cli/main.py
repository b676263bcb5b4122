"""The command line's root: the app, its groups, the options commands share, and errors.

`ConvcliGroup.invoke` is the one place a ConvcliError (or a full disk) becomes a red
line on stderr and exit code 1, Ctrl-C exit code 130 and SIGTERM 143. TensorFlow is
imported only inside the commands that need it, so `convcli --help` answers at once.
"""

from __future__ import annotations

from pathlib import Path
from typing import List, Optional

import typer
from typer.core import TyperGroup

from convcli.errors import (ConvcliError, Interrupted, SweepInterrupted, Terminated, disk_full,
                            interruptions_unwrapped, interrupts_raised)

EXIT_USER_ERROR, EXIT_INTERRUPTED, EXIT_TERMINATED = 1, 130, 143


class ConvcliGroup(TyperGroup):
    """The root command group: turns user errors into one line and an exit code."""

    def parse_args(self, ctx: typer.Context, args: list[str]) -> list[str]:
        # An empty argument is almost always an unset shell variable, and as a path it
        # would mean the current folder (`predict "$IMG"` would predict every image there).
        if "" in args:
            raise typer.BadParameter(f"argument {args.index('') + 1} is empty (an unset shell "
                                     "variable?); every argument must name something", ctx)
        return super().parse_args(ctx, args)

    def invoke(self, ctx: typer.Context):
        # SIGTERM, like Ctrl-C, stops a command with a KeyboardInterrupt, so it cleans up.
        with interrupts_raised():
            return self._reported(ctx)

    def _reported(self, ctx: typer.Context):
        try:
            with interruptions_unwrapped():
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
        except Terminated:
            typer.secho("interrupted by SIGTERM", fg="red", err=True)
            raise typer.Exit(EXIT_TERMINATED) from None
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
data_app = typer.Typer(no_args_is_help=True, help="Make the built-in dataset, check a dataset, or split "
                       "labelled images into one.")
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


def new_console():
    """A rich Console on stdout (rich is imported when a command prints, not for --help)."""
    from rich.console import Console

    return Console()


RUN_OPTION = typer.Option(None, "--run", help="A run directory or a unique prefix of its name "
                                              "(default: the latest run); its best model is used.")
MODEL_OPTION = typer.Option(None, "--model", help="A .keras/.h5/.hdf5 model file instead of a run "
                            "(predict also takes an export: .tflite, .onnx or a SavedModel folder).")
CLASSES_OPTION = typer.Option(None, "--classes", help="With --model: its class names, comma-separated, "
                              "in the order of its outputs (default: 0, 1, ...).")
OUTPUT_OPTION = typer.Option(None, "--output", metavar="NAME", help="With --model: the output to use "
                             "of a model that has several (a dict key or the layer that makes it).")
TTA_OPTION = typer.Option(1, "--tta", min=1, max=64, metavar="N", help="Test-time augmentation: "
                          "average each image's outputs over N views (the image, then warps of the "
                          "run's own augmentation, or its mirror).")


def parse_names(classes: Optional[str]) -> Optional[List[str]]:
    """--classes a,b,c as ["a", "b", "c"]; None when not given."""
    return [name.strip() for name in classes.split(",") if name.strip()] if classes else None


# --- tracking options (train, sweep, demo; docs/tracking.md) ----------------------------

MLFLOW_OPTION = typer.Option(None, "--mlflow", metavar="URI", help="Send the run(s) to this MLflow "
                             "tracking server or store (http://HOST:PORT, file:PATH, sqlite:///FILE, "
                             "postgresql://...); sets tracking.mlflow.")
MLFLOW_EXPERIMENT_OPTION = typer.Option(None, "--mlflow-experiment", metavar="NAME", help="The MLflow "
                                        "experiment (tracking.experiment, default convcli); "
                                        "without --mlflow, $MLFLOW_TRACKING_URI is the server.")
MLFLOW_MODEL_OPTION = typer.Option(False, "--mlflow-model", help="Also send checkpoints/best.keras "
                                   "to MLflow (tracking.log_model).")


def with_tracking(tracking, uri: Optional[str], experiment: Optional[str], model: bool):
    """A config's tracking section with the flags applied and its URI resolved and checked
    (a URI MLflow does not understand is refused here, before anything is made)."""
    from convcli.config import Tracking
    from convcli.tracking import resolve_tracking, target_of

    given = {"mlflow": uri, "experiment": experiment, "log_model": model or None}
    tracking = Tracking.model_validate({**tracking.model_dump(),
                                        **{k: v for k, v in given.items() if v is not None}})
    tracking = resolve_tracking(tracking, asked=bool(experiment or model))
    target_of(tracking)
    return tracking
