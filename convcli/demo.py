"""The demo: the book's whole workflow on the built-in data, one stage after another.

scratch -> augment -> extract (features) -> extract (frozen) -> fine-tune, each a normal
run of a shipped config (convcli/configs/, so each leaves its run directory, Grad-CAM
included), then one table of every stage beside the book's own figures. `quick` trains
each stage for a few epochs: the same workflow in about a minute, numbers included
but not the ones to quote.

With `seeds` K > 1 each stage is a sweep of K seeds (the sweep machinery: every seed an
ordinary `convcli train` run under runs/sweeps/), and the table gives each stage's mean
± std and each step's gain over the stage before it with a 95 % interval.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, replace
from pathlib import Path

from convcli.config import load_config
from convcli.errors import ConfigError
from convcli.shipped import SHIPPED as CONFIGS


@dataclass(frozen=True)
class Step:
    stage: str  # as the table names it
    config: str  # in convcli/configs/
    book: int  # Deep Learning with Python, 1st ed., ch. 5: validation accuracy, percent
    quick: tuple[str, ...]  # --set overrides for --quick


STEPS = (
    Step("scratch", "scratch.yaml", 71, ("train.epochs=10",)),
    Step("augment", "augment.yaml", 82, ("train.epochs=20",)),
    Step("extract (features)", "extract.yaml", 90, ("train.epochs=10",)),
    Step("extract (frozen)", "extract-frozen.yaml", 96, ("train.epochs=4",)),
    Step("fine-tune", "finetune.yaml", 97, ("fine_tune.head_epochs=3", "train.epochs=3")),
)


def run_demo(runs_dir: Path, quick: bool, console, tracking=None) -> list[dict]:
    """Train every step into runs_dir; one row per stage for `run_tables.demo_table`.
    `tracking` (a config's tracking section, from --mlflow) replaces each config's."""
    from convcli.experiment import run_experiment
    from convcli.run_tables import results_table

    extra = quick_base(console) if quick else ()
    configs = [load_step(step, quick, extra) for step in STEPS]  # all checked before any run
    rows = []
    for step, cfg in zip(STEPS, configs):
        console.rule(f"{step.stage}: configs/{step.config}" + (" (quick)" if quick else ""))
        began = time.perf_counter()
        run, summary = run_experiment(cfg.model_copy(update={"tracking": tracking}) if tracking else cfg,
                                      runs_dir)
        console.print(results_table(summary, run.path))
        rows.append({"stage": step.stage, "run": run.name, "book": step.book,
                     "val_accuracy": summary.best.val_accuracy,
                     "test_accuracy": summary.metric("test_accuracy"),
                     "seconds": time.perf_counter() - began,
                     "gradcam": str(run.gradcam / "contact_sheet.png")})
    return rows


def run_seeded_demo(runs_dir: Path, quick: bool, seeds: int, workers: int | None,
                    console, target=None) -> list[dict]:
    """Each step as a sweep of `seeds` seeds; one row per stage with every seed's numbers.
    `target` (tracking.Target, from --mlflow) tracks each sweep on MLflow."""
    from convcli.sweeps.display import Display
    from convcli.sweeps.session import execute

    extra = quick_base(console) if quick else ()
    sweeps = [step_sweep(step, quick, extra, seeds) for step in STEPS]  # all checked first
    rows = []
    for step, sweep in zip(STEPS, sweeps):
        console.rule(f"{step.stage}: configs/{step.config}, {seeds} seeds" + (" (quick)" if quick else ""))
        began = time.perf_counter()
        result = execute(sweep, runs_dir, workers, None, None, True, Display(console), target)
        runs = [Path(t.run) for t in result.points[0].trials if t.status == "completed" and t.run]
        rows.append({"stage": step.stage, "book": step.book, "seconds": time.perf_counter() - began,
                     "sweep": str(result.folder.path), **seed_results(runs)})
    return rows


def step_sweep(step: Step, quick: bool, extra: tuple[str, ...], seeds: int):
    """A step as a sweep of seeds over its config (--quick's overrides in its `set`)."""
    import yaml

    from convcli.sweeps.spec import sweep_from

    load_step(step, quick, extra)  # the config's own errors, as the one-seed demo gives them
    overrides = (*step.quick, *(extra if _uses_base(step) else ())) if quick else ()
    changes = {key: yaml.safe_load(value) for key, _, value in (o.partition("=") for o in overrides)}
    name = "demo-" + step.stage.replace(" (", "-").rstrip(")")
    raw = {"name": name, "base": str(CONFIGS / step.config), "seeds": seeds, "set": changes}
    return sweep_from(raw, CONFIGS / f"{name}.yaml")


def seed_results(runs: list[Path]) -> dict:
    """Every seed's best validation and test accuracy, its last epoch's training and
    validation accuracy, its Grad-CAM pointing game, and its validation curve."""
    from convcli.runs import Run
    from convcli.sweeps.trial import read_rows

    found = {key: [] for key in ("val_accuracy", "test_accuracy", "final_accuracy",
                                 "final_val_accuracy", "pointing_game", "curves")}
    for run in runs:
        summary = Run(run).summary_or_none()
        game = summary and summary.gradcam and summary.gradcam.pointing_game
        found["val_accuracy"].append(summary.best.val_accuracy if summary else None)
        found["test_accuracy"].append(summary.metric("test_accuracy") if summary else None)
        found["final_accuracy"].append(summary.final.accuracy if summary else None)
        found["final_val_accuracy"].append(summary.final.val_accuracy if summary else None)
        found["pointing_game"].append(game.score if game else None)
        found["curves"].append([row.get("val_accuracy") for row in read_rows(Run(run).metrics)])
    return found


def write_demo_curves(rows: list[dict], runs_dir: Path) -> Path:
    """One figure of every stage's validation curve, mean ± std over its seeds."""
    import datetime as dt

    from convcli.pages.plots import write_band_curves

    out = Path(runs_dir) / f"demo-curves_{dt.datetime.now():%Y-%m-%d_%H-%M-%S}.png"
    write_band_curves({row["stage"]: row["curves"] for row in rows}, out,
                      "validation accuracy per stage: mean ± std over seeds")
    return out


def _uses_base(step: Step) -> bool:
    return step.config not in ("scratch.yaml", "augment.yaml")


def load_step(step: Step, quick: bool, extra: tuple[str, ...] = ()):
    path = CONFIGS / step.config
    if not path.is_file():
        raise ConfigError(f"the demo trains the configs convcli ships, and {path} is missing; "
                          "reinstall convcli (pip install --force-reinstall convcli)")
    return load_config(path, (*step.quick, *(extra if _uses_base(step) else ())) if quick else ())


def quick_base(console) -> tuple[str, ...]:
    """--quick where the built-in base is not cached yet: pretraining it takes ~2.5 minutes,
    so pretrain one for 3 epochs instead (~40 s), cached under its own name."""
    from convcli.pretraining import PRETRAINING, pretrain, shipped_weights, weights_path

    if weights_path().is_file() or shipped_weights() is not None:
        return ()
    recipe = replace(PRETRAINING, epochs=3)
    path = weights_path(recipe)
    if not path.is_file():
        pretrain(path, console, recipe)
    return (f"model.weights={path}",)
