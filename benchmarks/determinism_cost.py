"""What `deterministic: true` costs: seconds per epoch of one config with and without it.

Runs `convcli train CONFIG --set train.epochs=N --set deterministic=...` twice in fresh
processes (runs go to a temporary folder), reads seconds_per_epoch from summary.json,
and prints the ratio (and writes JSON with --json).

    python benchmarks/determinism_cost.py [configs/augment.yaml] [--epochs 20] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path


def seconds_per_epoch(config: str, epochs: int, deterministic: bool, runs: Path) -> float:
    before = set(runs.iterdir()) if runs.exists() else set()
    done = subprocess.run([sys.executable, "-m", "convcli", "train", config, "--runs-dir", str(runs),
                           "--set", f"train.epochs={epochs}",
                           "--set", f"deterministic={str(deterministic).lower()}",
                           "--set", "explain.gradcam_images=0"],
                          capture_output=True, text=True, env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"})
    if done.returncode != 0:
        sys.exit(f"convcli train failed:\n{done.stderr}")
    [run] = set(runs.iterdir()) - before
    return json.loads((run / "summary.json").read_text())["timings"]["seconds_per_epoch"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("config", nargs="?", default="configs/augment.yaml")
    parser.add_argument("--epochs", type=int, default=20)
    parser.add_argument("--json")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        free = seconds_per_epoch(args.config, args.epochs, False, Path(folder))
        fixed = seconds_per_epoch(args.config, args.epochs, True, Path(folder))
    result = {"config": args.config, "epochs": args.epochs, "seconds_per_epoch":
              {"deterministic_false": free, "deterministic_true": fixed},
              "deterministic_vs_not": round(fixed / free, 2)}
    print(json.dumps(result, indent=2))
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
