"""A stand-in for `convcli train` in sweeps: the same arguments, no TensorFlow.

It makes a real run directory (config.yaml, meta.json, metrics.csv, summary.json,
checkpoints/last.keras as a placeholder) and writes one metrics.csv row per epoch after
sleeping $STANDIN_EPOCH_SECONDS (default 0.05). Its validation accuracy climbs towards a
peak set by train.learning_rate and model.dropout, plus a little noise from the seed, so
sweeps have a best point to find. train.learning_rate >= 1 fails as a NaN loss would.
Ctrl-C (SIGINT) marks the run interrupted and exits 130, as convcli train does. After
its last epoch it "wraps up" for $STANDIN_WRAP_UP_SECONDS (default 0) before it writes
summary.json, as a real run evaluates and draws; with $STANDIN_EVENTS set it appends
"start|end NAME TIME" lines to that file.

Used by the sweep tests and benchmarks/sweep_scale.py:
    CONVCLI_TRIAL_COMMAND="python benchmarks/standin_trainer.py" convcli sweep ...
"""

from __future__ import annotations

import argparse
import math
import os
import random
import sys
import time
from pathlib import Path

from convcli.config import apply_override, read_yaml, to_yaml, validate
from convcli.files import atomic_write_text
from convcli.records import Summary
from convcli.runs import Run, create_run, find_run, finish_meta, start_meta


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("config")
    parser.add_argument("--set", action="append", default=[])
    parser.add_argument("--runs-dir", default="runs")
    parser.add_argument("--resume")
    args = parser.parse_args()
    raw = read_yaml(Path(args.config))
    for override in args.set:
        apply_override(raw, override)
    cfg = validate(raw)
    run = find_run(args.resume, args.runs_dir) if args.resume else create_run(args.runs_dir, cfg.name)
    done = _rows(run)
    atomic_write_text(run.config, to_yaml(cfg))
    if not args.resume:
        start_meta(run, cfg.seed)
    run.update_meta(status="running", pid=os.getpid(), host=os.uname().nodename, stage=cfg.stage)
    if not run.metrics.exists():
        atomic_write_text(run.metrics, "epoch,phase,loss,accuracy,val_loss,val_accuracy,learning_rate,seconds\n")
    _event("start", cfg.name)
    pause = float(os.environ.get("STANDIN_EPOCH_SECONDS", "0.05"))
    peak = _peak(cfg.train.learning_rate, cfg.model.dropout or 0.0)
    noise = random.Random(cfg.seed).uniform(-0.02, 0.02)
    try:
        for epoch in range(len(done) + 1, cfg.train.epochs + 1):
            time.sleep(pause)
            if cfg.train.learning_rate >= 1:
                finish_meta(run, "failed", reason=f"TrainingError: the loss became nan at epoch {epoch}")
                print(f"error: the loss became nan at epoch {epoch}", file=sys.stderr)
                return 1
            accuracy = 0.5 + (peak - 0.5) * (1 - math.exp(-epoch / 3)) + noise
            with open(run.metrics, "a") as handle:
                handle.write(f"{epoch},train,{1 - accuracy:.4f},{accuracy:.4f},{1 - accuracy:.4f},"
                             f"{accuracy:.4f},{cfg.train.learning_rate},{pause}\n")
            run.checkpoints.mkdir(exist_ok=True)
            run.last.write_bytes(b"placeholder")
    except KeyboardInterrupt:
        finish_meta(run, "interrupted", reason="interrupted by the user (Ctrl-C)")
        return 130
    time.sleep(float(os.environ.get("STANDIN_WRAP_UP_SECONDS", "0")))
    rows = _rows(run)
    best = max(rows, key=lambda row: row["val_accuracy"])
    summary = Summary.model_validate({
        "stage": cfg.stage, "epochs": len(rows), "best_epoch": best["epoch"], "best": best,
        "test": {"accuracy": best["val_accuracy"] - 0.01, "loss": best["val_loss"]},
        "timings": {"total_seconds": round(pause * len(rows), 2), "seconds_per_epoch": pause}})
    atomic_write_text(run.summary, summary.to_json())
    finish_meta(run, "completed")
    _event("end", cfg.name)
    return 0


def _event(what: str, name: str) -> None:
    if os.environ.get("STANDIN_EVENTS"):
        with open(os.environ["STANDIN_EVENTS"], "a") as handle:
            handle.write(f"{what} {name} {time.time():.3f}\n")


def _peak(learning_rate: float, dropout: float) -> float:
    return 0.95 - 0.15 * abs(math.log10(learning_rate) + 3) - 0.2 * abs(dropout - 0.4)


def _rows(run: Run) -> list[dict]:
    import csv

    if not run.metrics.exists():
        return []
    with open(run.metrics) as handle:
        return [{k: (int(v) if k == "epoch" else (float(v) if k != "phase" else v)) for k, v in row.items()}
                for row in csv.DictReader(handle)]


if __name__ == "__main__":
    sys.exit(main())
