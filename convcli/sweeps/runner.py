"""The sweep's scheduling loop: claim trials, start them, watch them, record them.

One thread, no fork: every `poll_seconds` it fills free worker slots with claimed
trials, reads the metrics.csv rows each running trial added (only when the file
changed), reports them to the pruner, and records trials that ended. Ctrl-C stops every
trial gracefully and requeues it, so the same command continues the sweep.

A trial that has trained its last epoch only wraps up (test split, Grad-CAM, report):
mostly one core's work. On CPU workers its slot is then free, so the next trial's
start-up (Python, TensorFlow's import: also one core) overlaps that wrap-up instead of
following it. GPU slots wait: two processes on one GPU could both claim its memory.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import time
from dataclasses import dataclass, field

from convcli.errors import SweepInterrupted
from convcli.sweeps import study as ledger
from convcli.sweeps.directory import SweepDir
from convcli.sweeps.records import PointRow, best_point, point_rows, trial_rows, write_records
from convcli.sweeps.spec import Sweep
from convcli.sweeps.trial import (Outcome, TrialProcess, completed_outcome, earlier_run,
                                  epoch_metric, trainer_command)

POLL_SECONDS = 0.2
IDLE_SECONDS = 2.0  # nothing to claim here, but trials run elsewhere (they may add seeds)
RECORD_EVERY = 5.0  # seconds between rewrites of trials.csv and points.csv while running
STALE_CHECK_EVERY = 30.0


@dataclass
class Running:
    """A trial this sweep started: its process, and the worker slot it was given."""

    slot: int
    trial: object  # optuna.Trial
    attrs: dict  # the trial's attributes, read once when claimed
    epochs: int  # what it trains, every phase counted
    process: TrialProcess | None = None
    params: dict = field(default_factory=dict)  # the point's swept keys
    seed: int | None = None
    name: str = ""  # <sweep>-p<point>-s<seed>

    def wrapping_up(self) -> bool:
        """It has trained its last epoch (or been told to stop) and only writes its results."""
        process = self.process
        return process is not None and (process.stop_reason is not None or
                                        bool(process.rows) and process.rows[-1]["epoch"] >= self.epochs)


@dataclass
class Progress:
    """What the live table shows."""

    started: float = field(default_factory=time.monotonic)
    counts: dict = field(default_factory=lambda: {"completed": 0, "pruned": 0, "failed": 0})
    best: PointRow | None = None
    trial_seconds: list = field(default_factory=list)


class Sweeper:
    """Runs a sweep's trials on this machine's workers until the study has no more."""

    def __init__(self, sweep: Sweep, folder: SweepDir, study, slots_env: list[dict], display,
                 tracking=None):
        self.sweep, self.folder, self.study, self.display = sweep, folder, study, display
        self.tracking = tracking  # tracked.SweepTracking: the MLflow parent run, or None
        self.slots = slots_env  # each worker's environment
        self.running: list[Running] = []
        self.host, self.progress = ledger.this_host(), Progress()
        self.rule = sweep.spec.pruning.method
        self._recorded = self._beat = self._stale = 0.0
        self._changed = False  # a trial ended since the records were last written

    def run(self) -> PointRow | None:
        requeued = ledger.fail_dead_trials(self.study, self.host)
        if requeued:
            self.display.note(f"{requeued} trial(s) left running by a killed sweep: continuing them")
        with self._stop_signals() as received:
            while not received:
                self._fill()
                self._watch()
                idle = not self._busy()
                if idle and ledger.is_finished(self.study):
                    break
                self._tick()
                time.sleep(IDLE_SECONDS if idle else POLL_SECONDS)  # idle: others' trials run
            if received:  # Ctrl-C or SIGTERM: stop cleanly, even if another comes
                stopped = self._interrupt()
                self.record()
                name = signal.Signals(received[0]).name
                raise SweepInterrupted(f"sweep {self.folder.name} stopped by {name}: {stopped} "
                                       "running trial(s) marked interrupted", 128 + received[0])
        return self.record()

    @staticmethod
    @contextlib.contextmanager
    def _stop_signals():
        """SIGINT and SIGTERM only set a flag, which the loop reads between steps, so no
        claim, start or record is ever cut in half."""
        received: list[int] = []
        previous = {sig: signal.signal(sig, lambda number, _: received.append(number))
                    for sig in (signal.SIGINT, signal.SIGTERM)}
        try:
            yield received
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)

    # --- starting -------------------------------------------------------------------

    def _free_slots(self) -> list[int]:
        """Worker slots without a trial in training (a CPU trial that wraps up has left)."""
        held = {entry.slot for entry in self.running
                if not (entry.wrapping_up() and "CUDA_VISIBLE_DEVICES" not in self.slots[entry.slot])}
        return [index for index in range(len(self.slots)) if index not in held]

    def _fill(self) -> None:
        for slot in self._free_slots():
            trial = ledger.claim(self.study)
            if trial is None:
                return
            self._start(slot, trial)

    def _start(self, slot: int, trial) -> None:
        attrs = trial.user_attrs
        point, seed_index = attrs["point"], attrs.get("seed_index", 0)
        seed = self.sweep.seed + seed_index
        # Who runs it, at once, so a death from here on is noticed (one write: the storage
        # commits every attribute on its own); then the point (tpe draws it now).
        trial.set_user_attr("worker", {"host": self.host, "pid": os.getpid(), "seed": seed})
        ledger.heartbeat(self.study, trial)
        params = ledger.params_of(trial, self.sweep)
        if seed_index == 0 and self.rule == "none":
            ledger.enqueue_other_seeds(self.study, trial, self.sweep)
        entry = Running(slot, trial, attrs, self.sweep.epochs_of(params), params=params, seed=seed)
        self.running.append(entry)
        name = f"{self.sweep.name}-p{point:0{len(str(self.sweep.point_count))}d}-s{seed}"
        entry.name = name
        recorded = attrs.get("resume") if attrs.get("resume_host") == self.host else None
        run = earlier_run(self.folder.trials, name, recorded)
        if run is not None and run.status() == "completed":
            self._record_run(entry, run.path)
            self._finish(entry, completed_outcome(run, self.sweep.spec.metric, 0.0))
            return
        command = [*trainer_command(), str(self.folder.base_yaml),
                   *(arg for key, value in params.items() for arg in ("--set", f"{key}={json.dumps(value)}")),
                   "--set", f"seed={seed}", "--set", f"name={name}", "--runs-dir", str(self.folder.trials)]
        if run is not None:
            command += ["--resume", str(run.path)]
        sets, env = self.tracking.trial_options() if self.tracking else ([], {})
        entry.process = TrialProcess(name, [*command, *sets], self.folder.logs / f"{name}.log",
                                     self.folder.trials, {**os.environ, **self.slots[slot], **env}, run=run)
        entry.process.start()

    # --- watching -------------------------------------------------------------------

    def _watch(self) -> None:
        for entry in list(self.running):
            rows = entry.process.new_rows()
            if entry.process.run is not None and "run" not in entry.attrs:
                self._record_run(entry, entry.process.run.path)
            if rows and self.rule != "none" and entry.attrs.get("seed_index", 0) == 0:
                self._report(entry, rows)
            if entry.process.finished():
                self._finish(entry, entry.process.outcome(self.sweep.spec.metric))

    def _record_run(self, entry: Running, path) -> None:
        """Where the trial's run directory is: for trials.csv, and to resume it if need be."""
        entry.attrs["run"] = str(path.resolve())
        entry.trial.set_user_attr("run", entry.attrs["run"])

    def _report(self, entry: Running, rows: list[dict]) -> None:
        """Give the pruner each new epoch of a point's first seed; stop it if told to."""
        key = epoch_metric(self.sweep.spec.metric)
        for row in rows:
            if not isinstance(row.get(key), float):
                continue
            entry.trial.report(row[key], row["epoch"])
            # past its last epoch a trial has paid for itself: it completes, seeds follow
            if row["epoch"] < entry.epochs and entry.trial.should_prune():
                rule = self.rule.replace("_", " ")
                entry.process.stop(f"pruned after epoch {row['epoch']} by {rule} "
                                   f"({key} {row[key]:.4f})")
                return

    def _finish(self, entry: Running, outcome: Outcome) -> None:
        """Record how a trial ended in the study; its slot is free."""
        trial, TrialState = entry.trial, ledger.optuna().trial.TrialState
        trial.set_user_attr("result", {"status": outcome.status, "epochs": outcome.epochs,
                                       "best_epoch": outcome.best_epoch, "seconds": outcome.seconds,
                                       "reason": outcome.reason, "value": outcome.value})
        if outcome.status == "completed":
            if entry.attrs.get("seed_index", 0) == 0 and self.rule != "none":
                ledger.enqueue_other_seeds(self.study, trial, self.sweep)
            self.study.tell(trial, outcome.value)
        elif outcome.status == "pruned":
            self.study.tell(trial, state=TrialState.PRUNED)
            if self.tracking and entry.process and entry.process.run:
                self.tracking.pruned(entry.process.run, outcome.reason or "pruned")
        else:
            self.study.tell(trial, state=TrialState.FAIL)
            if outcome.status == "interrupted":
                ledger.requeue(self.study, trial)
        if outcome.status != "interrupted":
            self._write_session(entry, outcome)
        if outcome.status in self.progress.counts:
            self.progress.counts[outcome.status] += 1
            self.progress.trial_seconds.append(outcome.seconds)
        self.display.finished(entry.process.name if entry.process else str(trial.number), outcome,
                              self.sweep.spec.metric)
        self.running.remove(entry)
        self._changed = True

    def _write_session(self, entry: Running, outcome: Outcome) -> None:
        """The trial in TensorBoard's HParams dashboard (tensorboard --logdir on the sweep)."""
        from convcli.tracking.hparams import write_session

        name = entry.name or f"trial-{entry.trial.number}"
        hparams = {**entry.params, "point": entry.attrs["point"], "seed": entry.seed,
                   "status": outcome.status}
        write_session(self.folder.path, name, hparams, self.sweep.spec.metric, outcome.value,
                      outcome.best_epoch, entry.process.rows if entry.process else [])

    def _busy(self) -> bool:
        return bool(self.running)

    def _tick(self) -> None:
        now = time.monotonic()
        if now - self._beat > ledger.HEARTBEAT_SECONDS / 2:
            self._beat = now
            for entry in self.running:
                ledger.heartbeat(self.study, entry.trial)
        if now - self._stale > STALE_CHECK_EVERY:
            self._stale = now
            if ledger.fail_dead_trials(self.study, self.host):
                self._changed = True
        # Records (and the best point shown) within a second of a trial's end, and every few
        # seconds anyway for other machines' trials; never on every poll.
        if now - self._recorded > (1.0 if self._changed else RECORD_EVERY):
            self._recorded, self._changed = now, False
            self.record()
        self.display.refresh(self)

    # --- stopping -------------------------------------------------------------------

    def _interrupt(self, timeout: float = 120.0) -> int:
        """Stop every running trial with one SIGINT, wait for them, requeue them."""
        running = [entry for entry in self.running if entry.process is not None]
        for slot in running:
            slot.process.stop("interrupted")
        deadline = time.monotonic() + timeout
        for slot in running:
            try:
                slot.process.process.wait(max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:  # a trial that will not stop is killed
                slot.process.process.kill()
                slot.process.process.wait()
            outcome = slot.process.outcome(self.sweep.spec.metric)
            if outcome.status != "completed":
                outcome.status = "interrupted"
            self._finish(slot, outcome)
        return len(running)

    def record(self) -> PointRow | None:
        trials = trial_rows(self.study, self.sweep)
        points = point_rows(trials, self.sweep)
        self.progress.best = best_point(points, self.sweep)
        write_records(self.folder, self.sweep, trials, points)
        if self.tracking is not None:
            self.tracking.points(points, self.progress.best)
        return self.progress.best


def slot_environments(workers: int, gpus: list[str], cpus: int) -> list[dict]:
    """Each worker's environment: its own GPU (round robin when workers outnumber GPUs), or
    on CPUs an equal share of TensorFlow's threads."""
    if gpus:
        return [{"CUDA_VISIBLE_DEVICES": gpus[i % len(gpus)]} for i in range(workers)]
    threads = str(max(1, cpus // workers))
    share = {"TF_NUM_INTRAOP_THREADS": threads, "OMP_NUM_THREADS": threads,
             "TF_NUM_INTEROP_THREADS": "2" if workers > 1 else "0"}
    return [dict(share) if workers > 1 else {} for _ in range(workers)]


def visible_gpus(environ: dict | None = None, probe=None) -> list[str]:
    """The GPUs trials may use, without importing TensorFlow: CUDA_VISIBLE_DEVICES when set,
    else the indices `nvidia-smi -L` lists, else none."""
    environ = os.environ if environ is None else environ
    if "CUDA_VISIBLE_DEVICES" in environ:
        return [d.strip() for d in environ["CUDA_VISIBLE_DEVICES"].split(",") if d.strip() not in ("", "-1")]
    listing = (probe or _nvidia_smi)()
    return [str(i) for i, line in enumerate(listing.splitlines()) if line.startswith("GPU ")]


def _nvidia_smi() -> str:
    import shutil
    import subprocess

    if shutil.which("nvidia-smi") is None:
        return ""
    try:
        return subprocess.run(["nvidia-smi", "-L"], capture_output=True, text=True, timeout=10).stdout
    except (OSError, subprocess.SubprocessError):
        return ""
