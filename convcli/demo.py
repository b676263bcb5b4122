"""The demo: the book's whole workflow on the built-in data, one stage after another.

scratch -> augment -> extract (features) -> extract (frozen) -> fine-tune, each a normal
run of the repository's `configs/` (so each leaves its run directory, Grad-CAM
included), then one table of every stage beside the book's own figures. `quick` trains
each stage for a few epochs: the same workflow in about two minutes, numbers included
but not the ones to quote.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, replace
from pathlib import Path

from convcli.config import load_config
from convcli.errors import ConfigError

CONFIGS = Path(__file__).resolve().parent.parent / "configs"


@dataclass(frozen=True)
class Step:
    stage: str  # as the table names it
    config: str  # in configs/
    book: int  # Deep Learning with Python, 1st ed., ch. 5: validation accuracy, percent
    quick: tuple[str, ...]  # --set overrides for --quick


STEPS = (
    Step("scratch", "scratch.yaml", 71, ("train.epochs=10",)),
    Step("augment", "augment.yaml", 82, ("train.epochs=20",)),
    Step("extract (features)", "extract.yaml", 90, ("train.epochs=10",)),
    Step("extract (frozen)", "extract-frozen.yaml", 96, ("train.epochs=4",)),
    Step("fine-tune", "finetune.yaml", 97, ("fine_tune.head_epochs=3", "train.epochs=3")),
)


def run_demo(runs_dir: Path, quick: bool, console) -> list[dict]:
    """Train every step into runs_dir; one row per stage for `overview.demo_table`."""
    from convcli.experiment import run_experiment
    from convcli.overview import results_table

    extra = quick_base(console) if quick else ()
    configs = [load_step(step, quick, extra) for step in STEPS]  # all checked before any run
    rows = []
    for step, cfg in zip(STEPS, configs):
        console.rule(f"{step.stage}: configs/{step.config}" + (" (quick)" if quick else ""))
        began = time.perf_counter()
        run, summary = run_experiment(cfg, runs_dir)
        console.print(results_table(summary, run.path))
        rows.append({"stage": step.stage, "run": run.name, "book": step.book,
                     "val_accuracy": (summary.get("best") or {}).get("val_accuracy"),
                     "test_accuracy": (summary.get("test") or {}).get("accuracy"),
                     "seconds": time.perf_counter() - began,
                     "gradcam": str(run.gradcam / "contact_sheet.png")})
    return rows


def load_step(step: Step, quick: bool, extra: tuple[str, ...] = ()):
    path = CONFIGS / step.config
    if not path.is_file():
        raise ConfigError(f"the demo trains the configs of a convcli checkout, and {path} is "
                          "missing; run it from a clone (pip install -e .)")
    uses_base = step.config not in ("scratch.yaml", "augment.yaml")
    return load_config(path, (*step.quick, *(extra if uses_base else ())) if quick else ())


def quick_base(console) -> tuple[str, ...]:
    """--quick where the built-in base is not cached yet: pretraining it takes ~2.5 minutes,
    so pretrain one for 3 epochs instead (~40 s), cached under its own name."""
    from convcli.stages.builtin_base import PRETRAINING, pretrain, weights_path

    if weights_path().is_file():
        return ()
    recipe = replace(PRETRAINING, epochs=3)
    path = weights_path(recipe)
    if not path.is_file():
        pretrain(path, console, recipe)
    return (f"model.weights={path}",)
