"""Commands that train: `train` (one experiment, or --resume), `lr-find` (the learning-rate
range test), `pretrain` (the built-in base), `demo` (the whole workflow)."""

from __future__ import annotations

from pathlib import Path
from typing import List, Optional

import typer

from convcli.bases import BASE_NAMES
from convcli.cli.main import (MLFLOW_EXPERIMENT_OPTION, MLFLOW_MODEL_OPTION, MLFLOW_OPTION, RUNS_DIR,
                              new_console, with_tracking)
from convcli.errors import Interrupted
from convcli.tfenv import import_tensorflow

BASES_HELP = ("Pretrained bases for model.base (stages extract and fine-tune): "
              + ", ".join(BASE_NAMES) + ".")


def train(config: Path = typer.Argument(..., help="The experiment's YAML config, or the name of a "
                                        "shipped one (convcli configs lists them): finetune."),
          set_: List[str] = typer.Option([], "--set", help="Override a key: --set train.epochs=3 "
                                         "(repeatable; values are YAML)."),
          runs_dir: Path = RUNS_DIR,
          resume: Optional[str] = typer.Option(None, "--resume", help="Continue this interrupted, "
                                               "killed or failed run (a directory or name prefix) "
                                               "from its last completed epoch."),
          force: bool = typer.Option(False, "--force", help="With --resume: continue even if the "
                                     "config or the data changed."),
          mlflow: Optional[str] = MLFLOW_OPTION,
          mlflow_experiment: Optional[str] = MLFLOW_EXPERIMENT_OPTION,
          mlflow_model: bool = MLFLOW_MODEL_OPTION) -> None:
    """Run one experiment into a new dated run directory (or continue one with --resume)."""
    from convcli.config import load_config
    from convcli.shipped import config_path

    if force and resume is None:
        raise typer.BadParameter("--force only applies with --resume RUN", param_hint="--force")
    cfg = load_config(config_path(config), set_)
    cfg = cfg.model_copy(update={"tracking": with_tracking(cfg.tracking, mlflow, mlflow_experiment,
                                                           mlflow_model)})
    import_tensorflow()
    from convcli.experiment import resume_experiment, run_experiment
    from convcli.run_tables import results_table

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
    console = new_console()
    console.print(results_table(summary, run.path))
    console.print(f"run directory: {run.path}", highlight=False, soft_wrap=True)


def lr_find(config: Path = typer.Argument(..., help="The experiment's YAML config, or the name of "
                                          "a shipped one: augment."),
            set_: List[str] = typer.Option([], "--set", help="Override a key: --set "
                                           "augment.mixup=0.2 (repeatable; values are YAML)."),
            runs_dir: Path = RUNS_DIR,
            phase: Optional[str] = typer.Option(None, "--phase", help="Stage fine-tune: the phase "
                                                "to test, head or fine-tune (default: fine-tune, "
                                                "after training the head as the run would)."),
            steps: int = typer.Option(200, "--steps", min=20, max=10000, help="Steps of the ramp "
                                      "(it stops early when the loss diverges)."),
            start: float = typer.Option(1e-7, "--start", help="The ramp's first learning rate."),
            end: float = typer.Option(10.0, "--end", help="The ramp's last learning rate.")) -> None:
    """Find a learning rate: raise it exponentially over a few hundred steps of a throwaway
    model (the range test) and suggest the rate where the loss falls fastest.

    Writes <runs-dir>/lr-find/<date>_<name>/ (lr-find.csv, lr-find.png, lr-find.json,
    config.yaml) and prints the suggestion as a --set to paste into `convcli train`.
    """
    from convcli.config import load_config
    from convcli.shipped import config_path

    cfg = load_config(config_path(config), set_)
    import_tensorflow()
    from convcli.lr_find import RISEN, find_learning_rate

    folder, finding = find_learning_rate(cfg, runs_dir, phase, steps, start, end)
    console = new_console()
    rises = (f", {round(100 * (RISEN - 1))}% above it from {finding.rises_at:.1e}"
             if finding.rises_at else "")
    console.print(f"range test: {finding.steps} steps from {start:g}, stopped at {finding.stopped}; "
                  f"lowest loss at {finding.lowest_loss_rate:.1e}{rises}", highlight=False, soft_wrap=True)
    if finding.suggestion is None:
        console.print("no suggestion: the loss did not fall along the ramp (a model already "
                      "trained, or a task it does not start to learn in a few hundred steps); "
                      "stay below the rate where it rises", highlight=False, soft_wrap=True)
    else:
        console.print(f"suggested learning rate: {finding.suggestion:.1e} (where the loss falls "
                      f"fastest)\n  --set {finding.key}={finding.suggestion:.1e}", highlight=False,
                      soft_wrap=True)
    console.print(f"plot: {folder.path / 'lr-find.png'}", highlight=False, soft_wrap=True)


def pretrain(force: bool = typer.Option(False, "--force", help="Train it again even if cached.")) -> None:
    """Build the built-in base now: pretrained on the built-in source task, then cached.

    Stages extract and fine-tune with `model.base: builtin` do this on first use; run it
    ahead of time to have the base ready (e.g. before going offline or in a Docker build).
    """
    import_tensorflow()
    from convcli.pretraining import builtin_weights

    typer.echo(f"built-in base weights: {builtin_weights(force=force)}")


def demo(quick: bool = typer.Option(False, "--quick", help="A few epochs per stage: about one "
                                    "minute instead of about four (with one seed)."),
         seeds: int = typer.Option(1, "--seeds", min=1, max=20, help="Train each stage with this "
                                   "many seeds (as sweeps) and show mean ± std and each step's "
                                   "gain with its 95% interval."),
         workers: Optional[int] = typer.Option(None, "--workers", min=1, max=64, help="With --seeds: "
                                               "trials at once (default: one per GPU, else 1)."),
         runs_dir: Path = RUNS_DIR,
         mlflow: Optional[str] = MLFLOW_OPTION,
         mlflow_experiment: Optional[str] = MLFLOW_EXPERIMENT_OPTION,
         mlflow_model: bool = MLFLOW_MODEL_OPTION) -> None:
    """The whole workflow on the built-in data: scratch, augment, extract (features and
    frozen), fine-tune, with Grad-CAM; then a table of every stage beside the book's."""
    import time

    from convcli.config import Tracking
    from convcli.tracking import target_of

    began, console = time.perf_counter(), new_console()
    tracking = with_tracking(Tracking(), mlflow, mlflow_experiment, mlflow_model)
    if seeds > 1:
        if quick:
            import_tensorflow()  # --quick may pretrain a small built-in base in this process
        from convcli.demo import run_seeded_demo, write_demo_curves
        from convcli.run_tables import lessons_table, seeded_demo_table

        rows = run_seeded_demo(runs_dir, quick, seeds, workers, console, target_of(tracking))
        console.print(seeded_demo_table(rows, time.perf_counter() - began, seeds))
        console.print(lessons_table(rows))
        console.print(f"validation curves, mean ± std: {write_demo_curves(rows, runs_dir)}",
                      highlight=False, soft_wrap=True)
        print_demo_page(console, rows, runs_dir, time.perf_counter() - began, seeds)
        return
    import_tensorflow()
    from convcli.demo import run_demo
    from convcli.run_tables import demo_table

    rows = run_demo(runs_dir, quick, console, tracking if tracking.mlflow else None)
    console.print(demo_table(rows, time.perf_counter() - began))
    console.print(f"Grad-CAM of the fine-tuned model: {rows[-1]['gradcam']}", highlight=False,
                  soft_wrap=True)
    print_demo_page(console, rows, runs_dir, time.perf_counter() - began, 1)


def print_demo_page(console, rows: list[dict], runs_dir: Path, seconds: float, seeds: int) -> None:
    """Write the demo's page beside its runs and say where."""
    from convcli.pages.demo import write_demo_page

    console.print(f"the demo's page: {write_demo_page(rows, runs_dir, seconds, seeds)}", highlight=False,
                  soft_wrap=True)
