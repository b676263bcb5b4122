"""Pruning: does the pruned sweep find the full grid's best point with fewer epochs?

Runs configs/sweeps/lr.yaml twice in one invocation, as written (successive halving)
and with `pruning: none` (the full grid), each trial a real `convcli train`. Reports
both sweeps' epochs trained and best point (mean ± std over seeds), whether the pruned
sweep's best is the full grid's best or within one std of its mean, and the ratio of
epochs (target: at most 0.5x).

    python benchmarks/sweep_pruning.py --workers 2              # the whole file: ~1 hour
    python benchmarks/sweep_pruning.py --set train.epochs=30     # shorter
"""

from __future__ import annotations

import argparse
import csv
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
SWEEP = ROOT / "configs" / "sweeps" / "lr.yaml"


def run(sweep: Path, folder: Path, workers: int, sets: list[str]) -> dict:
    began = time.perf_counter()
    args = [sys.executable, "-m", "convcli", "sweep", str(sweep), "--workers", str(workers),
            "--runs-dir", str(folder / "runs"), *(arg for s in sets for arg in ("--set", s))]
    done = subprocess.run(args, cwd=folder, capture_output=True, text=True,
                          env=os.environ | {"TF_CPP_MIN_LOG_LEVEL": "2"})
    if done.returncode != 0:
        sys.exit(f"{sweep.name} failed:\n{done.stderr[-2000:]}")
    (sweep_dir,) = (folder / "runs" / "sweeps").iterdir()
    with open(sweep_dir / "trials.csv", newline="") as handle:
        trials = list(csv.DictReader(handle))
    with open(sweep_dir / "points.csv", newline="") as handle:
        points = [p for p in csv.DictReader(handle) if p["status"] == "completed"]
    best = max(points, key=lambda p: float(p["mean"]))
    return {"epochs": sum(int(t["epochs"] or 0) for t in trials), "best": best,
            "points": {p["point"]: p for p in points},
            "seconds": time.perf_counter() - began, "pruned": sum(t["status"] == "pruned" for t in trials)}


def params(point: dict) -> dict:
    """A points.csv row's params (its dotted columns), to match points across sweeps."""
    return {key: value for key, value in point.items() if "." in key}


def label(point: dict) -> str:
    """A points.csv row as `point N (key=value, ...)`."""
    return f"point {point['point']} ({', '.join(f'{k}={v}' for k, v in params(point).items())})"


def describe(name: str, result: dict) -> str:
    best = result["best"]
    std = f" ± {100 * float(best['std']):.1f}" if best["std"] else ""
    return (f"{name}: {result['epochs']} epochs, {result['pruned']} trial(s) pruned, "
            f"{result['seconds'] / 60:.1f} min; best {label(best)}: "
            f"{100 * float(best['mean']):.1f}{std} %")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--set", dest="sets", action="append", default=[],
                        help="an override of the base config, as convcli sweep --set")
    parser.add_argument("--keep", type=Path, help="an empty or new folder to keep both sweeps in "
                        "(default: a temporary one, deleted at the end)")
    args = parser.parse_args()
    if args.keep and args.keep.exists() and any(args.keep.iterdir()):
        sys.exit(f"--keep {args.keep}: not empty")
    with tempfile.TemporaryDirectory() as scratch:
        temp = Path(args.keep or scratch)
        temp.mkdir(parents=True, exist_ok=True)
        full_sweep = temp / "lr-full.yaml"
        spec = yaml.safe_load(SWEEP.read_text())
        spec.update(base=str(SWEEP.parent / spec["base"]), pruning={"method": "none"}, name="lr-full")
        full_sweep.write_text(yaml.safe_dump(spec, sort_keys=False))  # the same point numbers
        results = {}
        for name, sweep in (("full grid", full_sweep), ("pruned", SWEEP)):
            (temp / name).mkdir()
            results[name] = run(sweep, temp / name, args.workers, args.sets)
            print(describe(name, results[name]), flush=True)
    for point in results["full grid"]["points"].values():  # what the pruned sweep could pick
        print(f"  full grid {label(point)}: "
              f"{100 * float(point['mean']):.1f} ± {100 * float(point['std'] or 0):.1f} %")
    full, pruned = results["full grid"], results["pruned"]
    same = params(pruned["best"]) == params(full["best"])
    # Judged on the full grid's own numbers for the point the pruned sweep picked.
    picked = next(p for p in full["points"].values() if params(p) == params(pruned["best"]))
    within = abs(float(picked["mean"]) - float(full["best"]["mean"])) <= float(full["best"]["std"] or 0)
    print(f"pruned / full epochs: {pruned['epochs'] / full['epochs']:.2f}x (target <= 0.5x); the pruned "
          f"sweep's best is {'the full grid best' if same else 'another point'}"
          f"{'' if same else (', within one std of it' if within else ', NOT within one std of it')}")


if __name__ == "__main__":
    main()
