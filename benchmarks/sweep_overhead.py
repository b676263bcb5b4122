"""Sweep overhead: a 6-trial grid through `convcli sweep` against the same six
`convcli train` processes run one after another.

Both train configs/scratch.yaml's convnet on the built-in data (64x64, 6 epochs, about
an 8-second job) at six learning rates; the sweep runs one worker, so the difference is
what the sweep adds: Optuna's study, starting and watching each trial, the records,
plots and report.html at the end. The two alternate for --repeats rounds; the figure is
the median of the rounds' sweep/sequential wall-time ratios (target: at most 1.05x).

    python benchmarks/sweep_overhead.py --repeats 2     # about 6 minutes on 2 cores
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RATES = [3e-4, 5e-4, 1e-3, 2e-3, 3e-3, 5e-3]


def convcli(*args, cwd: Path) -> float:
    began = time.perf_counter()
    env = os.environ | {"TF_CPP_MIN_LOG_LEVEL": "2"}
    done = subprocess.run([sys.executable, "-m", "convcli", *map(str, args)], cwd=cwd, env=env,
                          capture_output=True, text=True)
    if done.returncode != 0:
        sys.exit(f"convcli {' '.join(map(str, args))} failed:\n{done.stderr[-2000:]}")
    return time.perf_counter() - began


def sequential(folder: Path, epochs: int) -> float:
    return sum(convcli("train", ROOT / "configs" / "scratch.yaml", "--set", f"train.epochs={epochs}",
                       "--set", f"train.learning_rate={rate}", "--runs-dir", folder / "runs",
                       cwd=folder) for rate in RATES)


def swept(folder: Path, epochs: int) -> float:
    sweep = folder / "six.yaml"
    sweep.write_text(json.dumps({"base": str(ROOT / "configs" / "scratch.yaml"),
                                 "params": {"train.learning_rate": RATES}}))
    return convcli("sweep", sweep, "--set", f"train.epochs={epochs}", "--runs-dir", folder / "runs",
                   "--new", cwd=folder)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=1)
    parser.add_argument("--epochs", type=int, default=6)
    args = parser.parse_args()
    ratios = []
    with tempfile.TemporaryDirectory() as temp:
        os.environ["CONVCLI_CACHE"] = os.environ.get("CONVCLI_CACHE", str(Path(temp) / "cache"))
        for folder in ("warm", *(f"{kind}{n}" for kind in ("seq", "sweep") for n in range(1, args.repeats + 1))):
            (Path(temp) / folder).mkdir()
        # Not timed: the first run makes the built-in data in the cache.
        convcli("train", ROOT / "configs" / "scratch.yaml", "--set", "train.epochs=1", "--runs-dir",
                Path(temp) / "warm" / "runs", cwd=Path(temp) / "warm")
        for round_ in range(1, args.repeats + 1):
            plain = sequential(Path(temp) / f"seq{round_}", args.epochs)
            sweep = swept(Path(temp) / f"sweep{round_}", args.epochs)
            ratios.append(sweep / plain)
            print(f"round {round_}: 6 x convcli train {plain:.1f} s, convcli sweep {sweep:.1f} s: "
                  f"{sweep / plain:.3f}x ({sweep - plain:+.1f} s, {(sweep - plain) / 6:+.2f} s a trial)",
                  flush=True)
    print(f"sweep / sequential trains: {statistics.median(ratios):.3f}x (median of {len(ratios)}; "
          "target <= 1.05x)")


if __name__ == "__main__":
    main()
