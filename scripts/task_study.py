"""How the built-in task was chosen: the shipped stages on variants of the built-in data.

Each variant changes the target task (what the stages train on) or the source task (what
the built-in base is pretrained on) from the shipped recipes in convcli/data/synthetic.py,
then trains the shipped configs on it, one run per stage and seed, and prints one table
of test accuracies. A variant with its own source task pretrains its own base first
(about six minutes on 2 cores, cached under --cache like any built-in base).

    python scripts/task_study.py shipped two-distractors --stages augment,extract,finetune
    python scripts/task_study.py ellipse-rectangle --seeds 2 --set train.epochs=40

docs/workflow.md ("How the built-in task was chosen") gives what it measured.
"""

from __future__ import annotations

import argparse
import os
from dataclasses import replace
from pathlib import Path

# The variants that decided the shipped recipes: (target changes, source changes).
VARIANTS = {
    "shipped": ({}, {}),
    "no-distractors": ({"distractor_count": 0}, {}),
    "two-distractors": ({"distractor_count": 2}, {}),
    "plain-target": ({"styles": ("solid",), "inverted": 0.0, "distractor_count": 0}, {}),
    "ellipse-rectangle": ({"classes": ("ellipse", "rectangle"), "distractor_count": 0}, {}),
    "base-never-inverted": ({}, {"inverted": 0.0}),
}
STAGES = {"scratch": "scratch.yaml", "augment": "augment.yaml", "extract": "extract.yaml",
          "extract-frozen": "extract-frozen.yaml", "finetune": "finetune.yaml"}


def study(variant: str, stages: list[str], seeds: int, overrides: list[str], runs: Path) -> dict:
    """{stage: [test accuracy per seed]} for one variant, patched into the generator."""
    from convcli.config import load_config
    from convcli.data import synthetic
    from convcli.experiment import run_experiment
    from convcli.shipped import SHIPPED

    target, source = VARIANTS[variant]
    shipped = dict(synthetic.TASKS)
    synthetic.TASKS["target"] = replace(shipped["target"], **target)
    synthetic.TASKS["source"] = replace(shipped["source"], **source)
    try:
        found = {}
        for stage in stages:
            for seed in range(seeds):
                cfg = load_config(SHIPPED / STAGES[stage], [f"seed={1337 + seed}", *overrides])
                _, summary = run_experiment(cfg, runs / variant)
                found.setdefault(stage, []).append(summary.metric("test_accuracy"))
        return found
    finally:
        synthetic.TASKS.update(shipped)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("variants", nargs="+", choices=sorted(VARIANTS))
    parser.add_argument("--stages", default=",".join(STAGES), help="comma-separated, of: " + ", ".join(STAGES))
    parser.add_argument("--seeds", type=int, default=1)
    parser.add_argument("--set", action="append", default=[], dest="overrides", metavar="KEY=VALUE")
    parser.add_argument("--runs-dir", type=Path, default=Path("runs/task-study"))
    parser.add_argument("--cache", type=Path, default=None,
                        help="a cache folder of its own (default: convcli's; the variants' data "
                             "and bases are cached under their own fingerprints either way)")
    args = parser.parse_args()
    if args.cache:
        os.environ["CONVCLI_CACHE"] = str(args.cache)
    stages = args.stages.split(",")
    from convcli.stats import summarize

    rows = {variant: study(variant, stages, args.seeds, args.overrides, args.runs_dir)
            for variant in args.variants}
    print(f"{'variant':<22}" + "".join(f"{stage:>16}" for stage in stages))
    for variant, found in rows.items():
        cells = (summarize(found[stage]).as_text(100, count=False) for stage in stages)
        print(f"{variant:<22}" + "".join(f"{cell:>16}" for cell in cells))
    print("test accuracy, %: mean ± std over seeds")


if __name__ == "__main__":
    main()
