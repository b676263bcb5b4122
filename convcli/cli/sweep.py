"""`convcli sweep`: many runs from one sweep file, or (--status) its progress."""

from __future__ import annotations

from pathlib import Path
from typing import List, Optional

import typer

from convcli.cli.main import (MLFLOW_EXPERIMENT_OPTION, MLFLOW_MODEL_OPTION, MLFLOW_OPTION, RUNS_DIR,
                              new_console, with_tracking)
from convcli.errors import SweepInterrupted


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
                                    "points (from any machine, with --storage) and start nothing."),
        mlflow: Optional[str] = MLFLOW_OPTION,
        mlflow_experiment: Optional[str] = MLFLOW_EXPERIMENT_OPTION,
        mlflow_model: bool = MLFLOW_MODEL_OPTION,
) -> None:
    """Many runs from one sweep file: a grid or a search over config keys, each point over
    several seeds, with mean, std and 95% interval per point. Rerun to continue."""
    from convcli.shipped import sweep_path
    from convcli.sweeps.display import Display, points_table

    console, given, sweep_file = new_console(), sweep_file, sweep_path(sweep_file)
    if status:
        _print_status(console, sweep_file, set_, runs_dir, storage, study)
        return
    from convcli.sweeps.session import run_sweep

    target = _target(sweep_file, set_, mlflow, mlflow_experiment, mlflow_model)
    try:
        result = run_sweep(sweep_file, set_, runs_dir, workers, storage, study, new, Display(console),
                           target)
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


def _target(sweep_file: Path, set_: List[str], mlflow: Optional[str], experiment: Optional[str],
            model: bool):
    """Where the sweep is tracked (the flags over the base config's tracking), or None."""
    from convcli.config import Tracking
    from convcli.sweeps.spec import load_sweep
    from convcli.tracking import target_of

    base = load_sweep(sweep_file, set_).base.get("tracking") or {}
    return target_of(with_tracking(Tracking.model_validate(base), mlflow, experiment, model))


def _print_status(console, sweep_file: Path, set_: List[str], runs_dir: Path, storage: Optional[str],
                  study: Optional[str]) -> None:
    """--status: the trials by status and the points table, starting nothing."""
    from convcli.sweeps.display import points_table
    from convcli.sweeps.session import sweep_status

    found, counts, points, best = sweep_status(sweep_file, set_, runs_dir, storage, study)
    console.print("trials: " + ", ".join(f"{n} {s}" for s, n in counts.items() if n),
                  highlight=False, soft_wrap=True)
    console.print(points_table(found, points, best, f"sweep {found.name}"))
