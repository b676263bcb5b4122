"""`convcli runs`: list, show and compare runs (and sweeps)."""

from __future__ import annotations

from pathlib import Path
from typing import List, Optional

import typer

from convcli.cli.main import RUNS_DIR, new_console
from convcli.errors import RunError


def runs_list(ctx: typer.Context, runs_dir: Path = RUNS_DIR,
              as_json: bool = typer.Option(False, "--json", help="Print the runs and sweeps as JSON, "
                                           "for scripts (nothing else on stdout)."),
              html: bool = typer.Option(False, "--html", help="Write index.html in the runs folder "
                                        "(every run and sweep, filterable, linking to their pages) "
                                        "and print its path.")) -> None:
    """Every run: stage, status, best validation and test accuracy, epochs, duration, start.

    Folders that are not runs, runs without meta.json and killed runs are listed as such.
    """
    if ctx.invoked_subcommand is not None:
        return
    if html:
        from convcli.pages.index import write_index

        if not runs_dir.is_dir():
            raise RunError(f"no runs folder {runs_dir}; train a run first, or give --runs-dir")
        typer.echo(write_index(runs_dir))
        return
    from convcli.run_tables import runs_table, sweeps_table
    from convcli.runs import describe_all
    from convcli.sweeps.directory import list_sweeps, listing_row

    sweeps = [listing_row(sweep) for sweep in list_sweeps(runs_dir)]
    if as_json:
        from convcli.run_tables import listing_json

        typer.echo(listing_json(describe_all(runs_dir), sweeps, runs_dir))
        return
    console = new_console()
    console.print(runs_table(describe_all(runs_dir), runs_dir))
    if sweeps:
        console.print(sweeps_table(sweeps))


def runs_show(run: Optional[str] = typer.Argument(None, help="A run directory or a unique prefix of its "
                                                  "name, with or without the time (default: the latest)."),
              html: bool = typer.Option(False, "--html", help="Write report.html again and print its path."),
              runs_dir: Path = RUNS_DIR,
              as_json: bool = typer.Option(False, "--json", help="Print the run (or sweep) as JSON, "
                                           "for scripts (nothing else on stdout).")) -> None:
    """One run: status, results, its config.yaml and its files (a sweep: its points)."""
    from convcli.run_tables import run_details
    from convcli.runs import find_run

    try:
        found = find_run(run, runs_dir) if not (run and Path(run, "sweep.yaml").is_file()) else None
    except RunError:
        found = None
    if found is None:
        from convcli.sweeps.display import points_json, points_table, recorded_sweep

        name, sweep, points, best = recorded_sweep(run, runs_dir)
        if as_json:
            typer.echo(points_json(name, sweep, points, best))
        else:
            new_console().print(points_table(sweep, points, best, f"sweep {name}"))
        return
    if as_json:
        from convcli.run_tables import run_json

        typer.echo(run_json(found))
        return
    if html:
        from convcli.pages.run import write_page

        typer.echo(write_page(found))
        return
    new_console().print(run_details(found))


def runs_compare(runs: List[str] = typer.Argument(..., help="Two or more runs (directories or name prefixes)."),
                 runs_dir: Path = RUNS_DIR) -> None:
    """Results side by side, and only the config keys that differ."""
    from convcli.run_tables import comparison_table
    from convcli.runs import compare

    if len(runs) < 2:
        raise typer.BadParameter("give at least two runs to compare", param_hint="RUNS")
    new_console().print(comparison_table(*compare(runs, runs_dir)))


def runs_push(refs: List[str] = typer.Argument(..., metavar="RUN_OR_SWEEP...", help="Runs or sweeps "
                                               "(directories or name prefixes)."),
              mlflow: Optional[str] = typer.Option(None, "--mlflow", metavar="URI", help="The MLflow "
                                                   "tracking URI (default: the one the run was "
                                                   "tracked with, else $MLFLOW_TRACKING_URI)."),
              mlflow_experiment: Optional[str] = typer.Option(None, "--mlflow-experiment",
                                                              metavar="NAME", help="The experiment "
                                                              "(default: the run's tracking.experiment)."),
              runs_dir: Path = RUNS_DIR) -> None:
    """Send finished runs (and sweeps with their trials) to MLflow; what the server already
    holds is not sent again."""
    from convcli.push import push

    for pushed in push(refs, runs_dir, mlflow, mlflow_experiment):
        what = "sent" if pushed.sent else "already complete"
        typer.echo(f"{pushed.kind} {pushed.name}: {what} (MLflow run {pushed.run_id})")
