"""kill -9 of a sweep at random moments, then the same command again: is anything lost
or trained twice?

Each trial starts `convcli sweep` on a 4-point x 2-seed grid, kills the sweep process
(SIGKILL) after a random delay that lands anywhere from start-up (study creation,
enqueueing) through trials starting, training and being recorded, to the final
records, then reruns the same command until it exits 0. A trial survives when, after the
rerun, every (point, seed) has exactly one completed trial in trials.csv, points.csv
lists every point completed with n = 2, and no trial process outlived its sweep.

By default the trials run the stand-in trainer (benchmarks/standin_trainer.py, no
TensorFlow: many trials in minutes); --real trains tiny convnets with `convcli train`.

    python benchmarks/sweep_kill_trials.py --trials 20
"""

from __future__ import annotations

import argparse
import collections
import csv
import json
import os
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
SWEEP = {"params": {"train.learning_rate": [3e-4, 1e-3, 3e-3, 1e-2]}, "seeds": 2}
STANDIN_BASE = {"stage": "scratch", "train": {"epochs": 8}}
REAL_BASE = {"stage": "scratch", "data": {"train_dir": "builtin", "image_size": [32, 32]},
             "model": {"conv_filters": [16, 32], "dense_units": 32}, "train": {"epochs": 3},
             "explain": {"gradcam_images": 1}}


def sweep(folder: Path, env: dict) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "convcli", "sweep", "grid.yaml"], cwd=folder, env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)


def survived(folder: Path) -> tuple[bool, str]:
    (sweep_dir,) = (folder / "runs" / "sweeps").iterdir()
    with open(sweep_dir / "trials.csv", newline="") as handle:
        trials = list(csv.DictReader(handle))
    with open(sweep_dir / "points.csv", newline="") as handle:
        points = list(csv.DictReader(handle))
    done = collections.Counter((t["point"], t["seed"]) for t in trials if t["status"] == "completed")
    if len(done) != 8 or set(done.values()) != {1}:
        return False, f"completed (point, seed) counts: {dict(done)}"
    if len(points) != 4 or any(p["status"] != "completed" or p["n"] != "2" for p in points):
        return False, f"points: {[(p['point'], p['status'], p['n']) for p in points]}"
    running = [meta for meta in sweep_dir.glob("trials/*/meta.json")
               if json.loads(meta.read_text())["status"] == "running"]
    if running:
        return False, f"runs still marked running: {[m.parent.name for m in running]}"
    return True, f"{len(trials)} trial records for 8 trials"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=20)
    parser.add_argument("--real", action="store_true", help="train real convnets (slow)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    rng = random.Random(args.seed)
    env = os.environ | {"TF_CPP_MIN_LOG_LEVEL": "2"}
    if not args.real:
        env |= {"CONVCLI_TRIAL_COMMAND": f"{sys.executable} {HERE / 'standin_trainer.py'}",
                "STANDIN_EPOCH_SECONDS": "0.1"}
    base = REAL_BASE if args.real else STANDIN_BASE
    longest = 120.0 if args.real else 8.0  # about the whole sweep's wall time here
    kept = 0
    with tempfile.TemporaryDirectory() as temp:
        env.setdefault("CONVCLI_CACHE", str(Path(temp) / "cache"))
        for number in range(1, args.trials + 1):
            folder = Path(temp) / f"trial{number}"
            folder.mkdir()
            (folder / "grid.yaml").write_text(json.dumps(SWEEP | {"base": base}))
            delay = rng.uniform(0.2, longest)
            first = sweep(folder, env)
            try:
                first.wait(delay)
                killed = False
            except subprocess.TimeoutExpired:
                first.kill()
                first.wait()
                killed = True
            reruns = 0
            while True:
                reruns += 1
                again = sweep(folder, env)
                _, err = again.communicate(timeout=600)
                if again.returncode == 0 or reruns > 3:
                    break
            ok, detail = survived(folder) if again.returncode == 0 else (False, err.strip()[-300:])
            kept += ok
            print(f"trial {number:2d}: {'killed' if killed else 'finished'} at {delay:5.1f} s, "
                  f"{reruns} rerun(s): {'survived' if ok else 'LOST'} ({detail})", flush=True)
            time.sleep(0.2)
    print(f"{kept} of {args.trials} trials survived (every point trained its 2 seeds exactly once)")


if __name__ == "__main__":
    main()
