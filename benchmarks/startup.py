"""Start-up: `convcli --help` against `python -c "import tensorflow"`, whole processes.

Both run REPEATS times, interleaved, in fresh processes; the median wall time of each is
compared. Target: convcli's help costs at most 0.15x of importing TensorFlow, because
the CLI imports TensorFlow only inside the commands that need it.

    python benchmarks/startup.py [--repeats 7] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import time

TARGET = 0.15


def wall_seconds(command: list[str]) -> float:
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"}
    began = time.perf_counter()
    subprocess.run(command, check=True, capture_output=True, env=env)
    return time.perf_counter() - began


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--json")
    args = parser.parse_args()
    commands = {"convcli --help": [shutil.which("convcli") or "convcli", "--help"],
                "import tensorflow": [sys.executable, "-c", "import tensorflow"]}
    times = {name: [] for name in commands}
    for _ in range(args.repeats):
        for name, command in commands.items():
            times[name].append(wall_seconds(command))
    median = {name: statistics.median(values) for name, values in times.items()}
    ratio = median["convcli --help"] / median["import tensorflow"]
    result = {"median_seconds": {k: round(v, 3) for k, v in median.items()},
              "ratio": round(ratio, 3), "target": TARGET, "holds": ratio <= TARGET}
    for name, seconds in median.items():
        print(f"{name:20s} {seconds:6.2f} s (median of {args.repeats})")
    print(f"ratio {ratio:.3f}x (target <= {TARGET}x): {'PASS' if ratio <= TARGET else 'MISS'}")
    if args.json:
        with open(args.json, "w") as handle:
            json.dump(result, handle, indent=2)


if __name__ == "__main__":
    main()
