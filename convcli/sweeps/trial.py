"""A trial: one `convcli train` process for one point and seed, watched from outside.

The sweep starts it as a fresh process (never a fork of a process that imported
TensorFlow), in a session of its own so a Ctrl-C at the terminal reaches only the
sweep, which then stops each trial with exactly one SIGINT: the trial finishes its
epoch's record and marks its run interrupted, as a Ctrl-C does in `convcli train`.
Pruning stops a trial the same way, and the sweep then marks the run `pruned`. On Linux
a trial also dies with its sweep (kill -9 of the sweep leaves no orphan training).
"""

from __future__ import annotations

import csv
import os
import re
import shlex
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from convcli.errors import RecordError
from convcli.runs import Run, process_alive

# Tests and benchmarks put a stand-in trainer here (same arguments, no TensorFlow).
TRAINER_ENV = "CONVCLI_TRIAL_COMMAND"
EXIT_INTERRUPTED = 130


def trainer_command() -> list[str]:
    """What runs a trial: `python -m convcli train`, or $CONVCLI_TRIAL_COMMAND."""
    custom = os.environ.get(TRAINER_ENV)
    return shlex.split(custom) if custom else [sys.executable, "-m", "convcli", "train"]


@dataclass
class Outcome:
    """How a trial ended, as trials.csv and the study record it."""

    status: str  # completed | pruned | failed | interrupted
    value: float | None = None
    best_epoch: int | None = None
    epochs: int = 0
    seconds: float = 0.0
    reason: str | None = None


@dataclass
class TrialProcess:
    """One running trial and what the sweep has read of its metrics.csv so far."""

    name: str
    command: list[str]
    log: Path
    trials_dir: Path
    env: dict
    run: Run | None = None
    process: subprocess.Popen | None = None
    rows: list[dict] = field(default_factory=list)
    stop_reason: str | None = None  # "pruned ..." or "interrupted"
    began: float = 0.0
    _seen: tuple = ()

    def start(self) -> None:
        self.log.parent.mkdir(parents=True, exist_ok=True)
        # Python code between fork and exec is unsafe in a process that imported TensorFlow
        # (convcli demo does): there the trial does without dying with its parent.
        child_setup = None if "tensorflow" in sys.modules else _die_with_parent
        with open(self.log, "ab") as log:
            self.process = subprocess.Popen(self.command, stdout=log, stderr=subprocess.STDOUT,
                                            stdin=subprocess.DEVNULL, env=self.env,
                                            start_new_session=True, preexec_fn=child_setup)
        self.began = time.monotonic()

    def new_rows(self) -> list[dict]:
        """metrics.csv rows written since the last call (read only when the file changed)."""
        if self.run is None:
            self.run = self._find_run()
            if self.run is None:
                return []
        try:
            stat = os.stat(self.run.metrics)
        except OSError:
            return []
        if (stat.st_ino, stat.st_size, stat.st_mtime_ns) == self._seen:
            return []
        self._seen = (stat.st_ino, stat.st_size, stat.st_mtime_ns)
        rows = read_rows(self.run.metrics)
        known = self.rows[-1]["epoch"] if self.rows else 0
        # A resumed run rewrites the file up to its checkpoint: later rows are new again.
        fresh = [row for row in rows if row["epoch"] > known]
        self.rows = rows
        return fresh

    def _find_run(self) -> Run | None:
        """The run directory this process made: named after the trial, its pid in meta.json."""
        for path in sorted(self.trials_dir.glob(f"*_{self.name}*"), reverse=True):
            meta = Run(path).meta_or_none() if path.is_dir() else None
            if meta is not None and meta.pid == self.process.pid:
                return Run(path)
        return None

    def stop(self, reason: str) -> None:
        """Ask the trial to stop after its current record: one SIGINT, as Ctrl-C sends."""
        if self.stop_reason is None and self.process.poll() is None:
            self.stop_reason = reason
            self.process.send_signal(signal.SIGINT)

    def finished(self) -> bool:
        return self.process.poll() is not None

    def outcome(self, metric: str) -> Outcome:
        """Read how the finished process ended from its exit code and its run directory."""
        self.new_rows()
        seconds = round(time.monotonic() - self.began, 2)
        code = self.process.returncode
        if self.run is None:
            self.run = self._find_run()
        epochs = self.rows[-1]["epoch"] if self.rows else 0
        if code == 0 and self.run is not None:
            return completed_outcome(self.run, metric, seconds)
        if self.stop_reason and code == EXIT_INTERRUPTED:
            status = "pruned" if self.stop_reason.startswith("pruned") else "interrupted"
            if status == "pruned" and self.run is not None:
                self.run.update_meta(status="pruned", reason=self.stop_reason,
                                     pruned={"epoch": epochs, "rule": self.stop_reason})
            return Outcome(status, last_value(self.rows, metric), None, epochs, seconds, self.stop_reason)
        return Outcome("failed", None, None, epochs, seconds, self.failure_reason(code))

    def failure_reason(self, code: int) -> str:
        meta = self.run.meta_or_none() if self.run else None
        if meta is not None and meta.reason:
            return meta.reason
        lines = [line for line in _tail(self.log).splitlines() if line.strip()]
        return (lines[-1] if lines else f"exit code {code}")[:300]


def completed_outcome(run: Run, metric: str, seconds: float) -> Outcome:
    """A completed run's result: the metric of its best checkpoint (or its test accuracy)."""
    try:
        summary = run.read_summary()
    except RecordError as error:
        return Outcome("failed", None, None, 0, seconds, f"the run completed but {error}")
    value = summary.metric(metric)
    if value is None:
        why = "no test split" if metric == "test_accuracy" else f"no {metric} in summary.json"
        return Outcome("failed", None, summary.best_epoch, summary.epochs, seconds,
                       f"the run completed but has {why}")
    # The process's wall time (start-up included); a run finished before a retry: its own.
    seconds = seconds or summary.timings.total_seconds
    return Outcome("completed", float(value), summary.best_epoch, summary.epochs, seconds)


def read_rows(path: Path) -> list[dict]:
    """metrics.csv as dicts of numbers (the epoch an int); a torn last line is skipped."""
    rows = []
    try:
        with open(path, newline="") as handle:
            for row in csv.DictReader(handle):
                try:
                    rows.append({k: (int(v) if k == "epoch" else _float(v)) for k, v in row.items()})
                except (TypeError, ValueError):
                    break
    except OSError:
        return []
    return rows


def _float(text):
    try:
        return float(text)
    except (TypeError, ValueError):
        return text


def last_value(rows: list[dict], metric: str) -> float | None:
    """The latest epoch's value of what the pruner judges (val_accuracy for test_accuracy)."""
    key = epoch_metric(metric)
    values = [row.get(key) for row in rows if isinstance(row.get(key), float)]
    return values[-1] if values else None


def epoch_metric(metric: str) -> str:
    """The per-epoch column a sweep's metric is followed by while a trial trains."""
    return "val_accuracy" if metric == "test_accuracy" else metric


def earlier_run(trials_dir: Path, name: str, recorded: str | None) -> Run | None:
    """A run this trial left behind to continue (its sweep was killed or stopped): the one
    the study recorded, else the newest run of the trial's name here. Completed: its
    result stands; with a last checkpoint: resumed; None: start afresh. A run its sweep's
    death left marked running before any checkpoint is marked interrupted, not left so."""
    named = re.compile(rf"^\d{{4}}-\d{{2}}-\d{{2}}_\d{{2}}-\d{{2}}-\d{{2}}_{re.escape(name)}(-\d+)?$")
    candidates = [Run(Path(recorded))] if recorded else []
    candidates += [Run(p) for p in sorted(trials_dir.glob(f"*_{name}*"), reverse=True) if named.match(p.name)]
    for run in candidates:
        meta = run.meta_or_none()
        status = meta and meta.status
        if status == "completed":
            return run
        alive = meta is not None and meta.host == os.uname().nodename and process_alive(meta.pid)
        if status not in ("running", "interrupted") or alive:
            continue  # failed or pruned runs stay as they are; a live one is never joined
        if run.last.exists():
            return run
        if status == "running":
            run.update_meta(status="interrupted", reason="stopped with its sweep before its first "
                            "checkpoint; the trial was started again")
    return None


def _tail(path: Path, size: int = 4096) -> str:
    try:
        with open(path, "rb") as handle:
            handle.seek(max(0, os.path.getsize(path) - size))
            return handle.read().decode(errors="replace")
    except OSError:
        return ""


def _die_with_parent() -> None:
    """In the child, before exec: get SIGTERM when the sweep process dies (Linux only).

    Safe here because the sweep process runs no threads (its live table refreshes by
    hand), which is what makes preexec_fn unsafe elsewhere.
    """
    if sys.platform.startswith("linux"):
        import ctypes

        PR_SET_PDEATHSIG = 1
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGTERM)
