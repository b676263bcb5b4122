"""Sweep scale: does the sweep process's own cost per trial stay flat as trials grow?

Runs `convcli sweep` with the stand-in trainer (benchmarks/standin_trainer.py: real run
directories and metrics.csv rows, no TensorFlow) on grids of 20 and 200 trials at 8
workers, in one invocation, and reports for the sweep process alone (not its trials):
CPU seconds per trial and peak resident memory, with the 200/20 ratio of each. Flat
means the sweep does not re-read every trial on every poll.

    python benchmarks/sweep_scale.py            # about a minute on 2 cores
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
# Runs convcli in this process and prints what it cost the process itself.
MEASURED = """
import json, resource, runpy, sys
sys.argv = ["convcli", *sys.argv[1:]]
try:
    runpy.run_module("convcli", run_name="__main__")
except SystemExit as stop:
    code = stop.code
usage = resource.getrusage(resource.RUSAGE_SELF)
print(json.dumps({"cpu": usage.ru_utime + usage.ru_stime, "peak_mb": usage.ru_maxrss / 1024,
                  "code": code}), file=sys.stderr)
"""


def measure(trials: int, workers: int, epochs: int, folder: Path) -> dict:
    sweep = folder / f"scale{trials}.yaml"
    rates = [round(1e-4 * (1 + i), 6) for i in range(trials)]
    sweep.write_text(json.dumps({"base": {"stage": "scratch", "train": {"epochs": epochs}},
                                 "params": {"train.learning_rate": rates}, "seeds": 1}))
    env = os.environ | {"CONVCLI_TRIAL_COMMAND": f"{sys.executable} {HERE / 'standin_trainer.py'}",
                        "STANDIN_EPOCH_SECONDS": "0.05"}
    done = subprocess.run([sys.executable, "-c", MEASURED, "sweep", str(sweep), "--workers", str(workers),
                           "--runs-dir", str(folder / "runs")], env=env, cwd=folder,
                          capture_output=True, text=True)
    result = json.loads(done.stderr.strip().splitlines()[-1])
    if result["code"] not in (0, None):
        sys.exit(f"the sweep of {trials} trials failed:\n{done.stderr[-2000:]}")
    return result | {"trials": trials, "cpu_per_trial": result["cpu"] / trials}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs=2, default=[20, 200])
    parser.add_argument("--workers", type=int, default=8)
    parser.add_argument("--epochs", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as temp:
        small, large = (measure(n, args.workers, args.epochs, Path(temp)) for n in args.sizes)
    for row in (small, large):
        print(f"{row['trials']:4d} trials, {args.workers} workers: sweep process {row['cpu']:.2f} CPU s "
              f"({row['cpu_per_trial'] * 1000:.0f} ms a trial), peak {row['peak_mb']:.0f} MB")
    print(f"ratio {large['trials']}/{small['trials']}: CPU per trial "
          f"{large['cpu_per_trial'] / small['cpu_per_trial']:.2f}x, peak memory "
          f"{large['peak_mb'] / small['peak_mb']:.2f}x (flat: about 1x)")


if __name__ == "__main__":
    main()
