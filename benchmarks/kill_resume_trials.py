"""kill -9 at random moments, then --resume: how many runs survive?

Each trial starts `convcli train` on a small built-in-data config, kills it (SIGKILL)
after a random delay that lands anywhere from start-up to the end of training
(TensorFlow import, data scan, run creation, epochs, checkpoint writes, the final
evaluation), then checks the run directory and resumes it. A trial survives when the
directory is consistent after the kill (meta.json readable, last.keras loadable and
its epoch's rows in metrics.csv) and the resume completes with every epoch in
metrics.csv exactly once.

    python benchmarks/kill_resume_trials.py --trials 20
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import random
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
CONFIG = """\
stage: scratch
seed: 3
data: {train_dir: builtin, image_size: [32, 32]}
model: {conv_filters: [16, 32], dense_units: 32}
train: {epochs: %d}
explain: {gradcam_images: 2}
"""


def convcli(*args, **popen):
    env = os.environ | {"TF_CPP_MIN_LOG_LEVEL": "2"}
    return subprocess.Popen([sys.executable, "-m", "convcli", *map(str, args)], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, **popen)


def epochs(run: Path) -> list[int]:
    if not (run / "metrics.csv").exists():  # killed before the first epoch began
        return []
    with open(run / "metrics.csv", newline="") as handle:
        return [int(row["epoch"]) for row in csv.DictReader(handle)]


def checkpoint_epoch(run: Path) -> int:
    """The epoch last.keras holds (0 without one), after loading it: it must be loadable."""
    import keras

    from convcli.runs import Run
    from convcli.training import checkpoint_epoch as epoch_of

    if (run / "checkpoints" / "last.keras").exists():
        keras.models.load_model(run / "checkpoints" / "last.keras")
    return epoch_of(Run(run))


def trial(workdir: Path, config: Path, delay: float, total: int) -> str:
    runs = workdir / "runs"
    process = convcli("train", config, "--runs-dir", runs)
    time.sleep(delay)
    process.send_signal(signal.SIGKILL)
    process.wait()
    found = sorted(runs.iterdir()) if runs.exists() else []
    if not found:
        return "killed before the run directory existed: nothing to resume"
    run = found[-1]
    if not (run / "meta.json").exists():  # killed between mkdir and meta.json: no record
        refused = convcli("train", config, "--runs-dir", runs, "--resume", run.name)
        _, err = refused.communicate()
        assert refused.returncode == 1 and "cannot resume" in err, err
        return "killed before meta.json was written: --resume refuses the bare directory"
    status = json.loads((run / "meta.json").read_text())["status"]
    if status == "completed":
        return "finished before the kill"
    epoch = checkpoint_epoch(run)
    assert epochs(run)[:epoch] == list(range(1, epoch + 1)), "metrics.csv misses checkpointed epochs"
    resumed = convcli("train", config, "--runs-dir", runs, "--resume", run.name)
    _, err = resumed.communicate()
    assert resumed.returncode == 0, err
    assert epochs(run) == list(range(1, total + 1)), epochs(run)
    assert json.loads((run / "meta.json").read_text())["status"] == "completed"
    return f"killed at {status} with {epoch} epoch(s) checkpointed; resumed to {total}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=20)
    parser.add_argument("--epochs", type=int, default=6)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    rng = random.Random(args.seed)
    with tempfile.TemporaryDirectory() as tmp:
        config = Path(tmp) / "kill.yaml"
        config.write_text(CONFIG % args.epochs)
        # Two uninterrupted runs first: the first builds the built-in data, the second
        # times a whole run, so the kills spread over all of it.
        for attempt in ("first", "second"):
            began = time.perf_counter()
            run = convcli("train", config, "--runs-dir", Path(tmp) / attempt)
            assert run.wait() == 0, run.stderr.read()
        whole = time.perf_counter() - began
        print(f"an uninterrupted run takes {whole:.1f} s; killing at random in [0.5, {whole:.1f}] s")
        survived = 0
        for number in range(1, args.trials + 1):
            workdir = Path(tmp) / f"trial{number}"
            delay = rng.uniform(0.5, whole)
            try:
                outcome = trial(workdir, config, delay, args.epochs)
                survived += 1
            except AssertionError as error:
                outcome = f"LOST: {error}"
            print(f"trial {number:2d}: kill after {delay:4.1f} s: {outcome}", flush=True)
        print(f"survived {survived} of {args.trials}")
        print(json.dumps({"trials": args.trials, "survived": survived, "whole_run_seconds": round(whole, 1)}))


if __name__ == "__main__":
    main()
