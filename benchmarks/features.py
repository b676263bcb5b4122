"""Feature extraction: epoch time of extract `features` against `frozen`, and a cache hit against a miss.

Three `convcli train` processes on the built-in data, in a private cache (the built-in
base and dataset are copied in from your cache when there, so nothing is pretrained
twice, while the feature cache starts empty):
  features, miss   configs/extract.yaml: the base runs once per image, the head trains on its outputs
  features, hit    the same again: the base's outputs are read from the feature cache
  frozen           configs/extract-frozen.yaml: the frozen base inside the model, augmented
Each runs the same number of epochs. Reports the median seconds per epoch (metrics.csv),
the feature lookup (summary.json), the whole process's wall time, and the ratios.

    python benchmarks/features.py [--epochs 10] [--json out.json]
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from convcli.files import cache_dir

RUNS = {"features, miss": "configs/extract.yaml", "features, hit": "configs/extract.yaml",
        "frozen": "configs/extract-frozen.yaml"}


def private_cache(folder: Path) -> Path:
    """A cache holding your built-in base and dataset, but no features."""
    cache = folder / "cache"
    cache.mkdir()
    for name in ("bases", "data"):
        if (cache_dir() / name).is_dir():
            shutil.copytree(cache_dir() / name, cache / name)
    return cache


def timed_run(config: str, epochs: int, cache: Path, runs: Path) -> dict:
    """One `convcli train`: wall seconds, median epoch seconds, and the feature lookup."""
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2", "CONVCLI_CACHE": str(cache)}
    began = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "convcli", "train", config, "--runs-dir", str(runs),
                           "--set", f"train.epochs={epochs}", "--set", "explain.gradcam_images=0"],
                          capture_output=True, text=True, env=env)
    wall = time.perf_counter() - began
    if done.returncode != 0:
        sys.exit(f"convcli train {config} failed:\n{done.stderr[-3000:]}")
    run = max(runs.iterdir(), key=lambda p: p.stat().st_mtime)
    rows = list(csv.DictReader(open(run / "metrics.csv")))
    lookup = json.loads((run / "summary.json").read_text()).get("feature_cache") or {}
    return {"wall_seconds": round(wall, 2),
            "epoch_seconds": round(statistics.median(float(r["seconds"]) for r in rows[1:]), 3),
            "first_epoch_seconds": float(rows[0]["seconds"]),
            "lookup": lookup.get("status"), "lookup_seconds": lookup.get("seconds"),
            "images_through_base": lookup.get("images_through_base")}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--json")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        cache = private_cache(Path(folder))
        result = {name: timed_run(config, args.epochs, cache, Path(folder) / "runs")
                  for name, config in RUNS.items()}
    for name, r in result.items():
        lookup = f"lookup {r['lookup']} {r['lookup_seconds']} s" if r["lookup"] else ""
        print(f"{name:15s} wall {r['wall_seconds']:6.1f} s  epoch {r['epoch_seconds']:6.3f} s  {lookup}")
    ratios = {"frozen_epoch_vs_features_epoch":
              result["frozen"]["epoch_seconds"] / result["features, hit"]["epoch_seconds"],
              "miss_lookup_vs_hit_lookup":
              result["features, miss"]["lookup_seconds"] / result["features, hit"]["lookup_seconds"],
              "miss_wall_vs_hit_wall":
              result["features, miss"]["wall_seconds"] / result["features, hit"]["wall_seconds"]}
    for name, value in ratios.items():
        print(f"{name:32s} {value:7.1f}x")
    if args.json:
        with open(args.json, "w") as handle:
            json.dump({"runs": result, "ratios": {k: round(v, 2) for k, v in ratios.items()},
                       "epochs": args.epochs}, handle, indent=2)


if __name__ == "__main__":
    main()
