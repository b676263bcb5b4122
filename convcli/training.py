"""Training: compile, fit phase after phase, and the callbacks one run shares.

A `Trainer` belongs to one run and outlives its phases: one best-checkpoint tracker
(a fresh ModelCheckpoint per fit would forget the earlier best), one metrics.csv whose
epochs continue across phases, checkpoints written atomically.

Resuming: `checkpoints/last.keras` carries the Trainer's position (epoch, phase, the
best so far) and the optimizer's variables inside its zip, so the file that holds the
weights of epoch N also says it is epoch N: no window where the two disagree. A Trainer
made for a run that already has a last checkpoint continues from it: phases finished
before are skipped, the interrupted one is restored and fit for its remaining epochs,
and metrics.csv keeps exactly the rows up to that epoch.
"""

from __future__ import annotations

import contextlib
import csv
import io
import json
import math
import shutil
import signal
import threading
import time
import warnings
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import keras
import numpy as np
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from convcli.config import Train
from convcli.data.folders import Files
from convcli.errors import ConfigError, Terminated, TrainingError
from convcli.models.heads import loss_for
from convcli.models.table import count_params
from convcli.files import atomic_path, atomic_write_text
from convcli.records import CheckpointState
from convcli.runs import Run
from convcli.tfenv import import_tensorflow

METRIC_COLUMNS = ["epoch", "phase", "loss", "accuracy", "val_loss", "val_accuracy",
                  "learning_rate", "seconds"]
STATE_ENTRY, OPTIMIZER_ENTRY = "convcli/state.json", "convcli/optimizer.npz"  # in last.keras


def seed_everything(seed: int, deterministic: bool) -> None:
    """Seed Python, NumPy and TensorFlow; optionally make TensorFlow ops deterministic."""
    keras.utils.set_random_seed(seed)
    if deterministic:
        import_tensorflow().config.experimental.enable_op_determinism()


def compile_model(model: keras.Model, train: Train, num_classes: int,
                  learning_rate: float | None = None) -> None:
    """Compile for classification; call again after changing `trainable`, which Keras
    ignores until then (docs/notes.md#recompile-after-trainable).

    learning_rate overrides train.learning_rate (fine-tuning's own rate). Under the
    mixed_float16 policy Keras wraps the optimizer in a LossScaleOptimizer itself.
    """
    optimizers = {"rmsprop": keras.optimizers.RMSprop, "adam": keras.optimizers.Adam,
                  "adamw": keras.optimizers.AdamW, "sgd": keras.optimizers.SGD}
    optimizer = optimizers[train.optimizer](learning_rate=learning_rate or train.learning_rate)
    model.compile(optimizer=optimizer, loss=loss_for(num_classes), metrics=["accuracy"],
                  jit_compile=train.jit_compile, steps_per_execution=train.steps_per_execution)


def class_weights(train: Train, files: Files) -> dict[int, float] | None:
    """Keras' class_weight ({class index: weight}) for train.class_weight; None for none.

    balanced: n_images / (n_classes * n_class_images) over the training split, so every
    class contributes the same total weight to the loss (scikit-learn's "balanced").
    """
    if train.class_weight == "none":
        return None
    if train.class_weight == "balanced":
        counts = np.bincount(files.train.labels, minlength=files.num_classes)
        return {label: round(float(len(files.train) / (files.num_classes * count)), 6)
                for label, count in enumerate(counts)}
    unknown = sorted(set(train.class_weight) - set(files.class_names))
    if unknown:
        raise ConfigError(f"train.class_weight names class(es) the data does not have: "
                          f"{', '.join(unknown)}; its classes are {', '.join(files.class_names)}")
    return {label: float(train.class_weight.get(name, 1.0)) for label, name in enumerate(files.class_names)}


@dataclass
class Result:
    """What a stage's training produced, for summary.json and the final table."""

    best_epoch: int | None = None
    best: dict = field(default_factory=dict)
    final: dict = field(default_factory=dict)
    epochs: int = 0
    phases: list[dict] = field(default_factory=list)
    evaluation: Any = None  # evaluation.Evaluation of the test split, when the stage made it
    details: dict = field(default_factory=dict)  # stage-specific entries for summary.json


class Trainer:
    """Fits one run's model phase after phase, keeping one record of every epoch.

    For a run with a last checkpoint (a resumed run) it continues from that checkpoint.
    """

    def __init__(self, run: Run, console: Console | None = None,
                 class_weight: dict[int, float] | None = None):
        self.console = console or Console(stderr=True)
        self.class_weight = class_weight  # Keras' class_weight for every phase, or None
        self.resume = read_checkpoint_state(run.last) if run.last.exists() else None
        self.result = Result()
        self.phase = {"phase": None, "start": 0, "seconds": 0.0}  # the phase being fit
        if self.resume:
            self.result.best_epoch = self.resume.best_epoch
            self.result.best = self.resume.best.as_dict()
        self.metrics = MetricsLog(run, self.result, keep=self.resume.epoch if self.resume else 0)
        self.checkpoints = AtomicCheckpoints(run, self.result, self.position)
        if self.resume:
            self.checkpoints.best_value = self.resume.best_value
            self.checkpoints.monitor = self.resume.monitor
        self.tensorboard = keras.callbacks.TensorBoard(str(run.tensorboard), write_graph=False)

    def position(self) -> CheckpointState:
        """Where training is, for the state saved with each last checkpoint."""
        return CheckpointState.model_validate({
            "epoch": self.result.epochs, "phase": self.phase["phase"], "phase_start": self.phase["start"],
            "phase_seconds": round(self.phase["seconds"] + time.perf_counter() - self.began, 2),
            "phases": self.result.phases, "best_value": self.checkpoints.best_value,
            "monitor": self.checkpoints.monitor, "best_epoch": self.result.best_epoch,
            "best": self.result.best})

    def fit(self, model: keras.Model, train, validation, *, phase: str, epochs: int,
            train_config: Train, saved_model: keras.Model | None = None) -> None:
        """Train `epochs` more epochs; epoch numbers continue from earlier phases.

        Checkpoints hold `saved_model` when given: a complete model that shares the
        weights of the `model` being fit (a head trained on cached features).
        """
        first = start = self.result.epochs
        seconds = 0.0
        if self.resume:
            finished = {record.phase: record for record in self.resume.phases}
            if phase in finished:  # done before the interruption: nothing to fit
                self.result.phases.append(finished[phase].as_dict())
                self.result.epochs += finished[phase].epochs
                return
            if phase != self.resume.phase:
                raise TrainingError(f"the last checkpoint is from phase {self.resume.phase}, but "
                                    f"this run's next phase is {phase}; start a new run")
            restore_checkpoint(model, saved_model, self.checkpoints.run.last)
            start, first = self.resume.phase_start, self.resume.epoch
            seconds = self.resume.phase_seconds
            self.result.epochs = first
            self.resume = None
        self.phase = {"phase": phase, "start": start, "seconds": seconds}
        self.metrics.phase = phase
        self.checkpoints.saved_model = saved_model
        self.checkpoints.use_monitor(train_config.monitor)
        display, watch = ProgressDisplay(self.console, phase), NonFiniteLoss()
        callbacks = [watch, EpochRecord(self.metrics, self.checkpoints), self.tensorboard, display]
        if train_config.early_stopping:
            stop = train_config.early_stopping
            callbacks.append(keras.callbacks.EarlyStopping(monitor=stop.monitor, patience=stop.patience))
        self.began = time.perf_counter()
        if first < start + epochs:
            try:
                model.fit(train, validation_data=validation, initial_epoch=first,
                          epochs=start + epochs, callbacks=callbacks, shuffle=False, verbose=0,
                          class_weight=self.class_weight)
            finally:
                display.close()  # also on Ctrl-C: give the terminal back its cursor
        if watch.found:
            epoch, batch, value = watch.found
            raise TrainingError(
                f"the loss became {value} at epoch {epoch + 1}, batch {batch + 1} (phase {phase}); "
                f"training stopped and the checkpoints keep the last epoch with a finite loss. "
                f"Lower the learning rate (it was "
                f"{float(keras.ops.convert_to_numpy(model.optimizer.learning_rate)):g}) or check the data")
        self.result.phases.append({"phase": phase, "epochs": self.result.epochs - start,
                                   "trainable_params": count_params(model.trainable_weights),
                                   "seconds": round(seconds + time.perf_counter() - self.began, 2)})


# --- checkpoints that carry their own position ------------------------------------------


def write_checkpoint_state(path: Path, state: CheckpointState, optimizer) -> None:
    """Add the Trainer's position and the optimizer's variables to a saved .keras zip.

    Keras reads only its own entries of the zip, so the file stays a plain model file.
    """
    arrays = io.BytesIO()
    np.savez(arrays, *[keras.ops.convert_to_numpy(v) for v in optimizer.variables])
    with zipfile.ZipFile(path, "a") as archive:
        archive.writestr(STATE_ENTRY, json.dumps(state.as_written()))
        archive.writestr(OPTIMIZER_ENTRY, arrays.getvalue())


def read_checkpoint_state(path: Path) -> CheckpointState:
    """The position saved with a last checkpoint; TrainingError if it has none or it does
    not read, RecordError if a newer convcli wrote it."""
    try:
        with zipfile.ZipFile(path) as archive:
            text = archive.read(STATE_ENTRY)
    except (OSError, KeyError, ValueError, zipfile.BadZipFile) as error:
        raise TrainingError(f"checkpoint {path} cannot be resumed from ({type(error).__name__}: "
                            f"{error}); start a new run") from None
    return CheckpointState.loads(text, f"{path} ({STATE_ENTRY})")


def checkpoint_epoch(run: Run) -> int:
    """The epoch the run's last checkpoint holds, 0 when it has none."""
    return read_checkpoint_state(run.last).epoch if run.last.exists() else 0


def restore_checkpoint(model: keras.Model, saved_model: keras.Model | None, path: Path) -> None:
    """Load a last checkpoint's weights and optimizer state into the model being fit.

    The learning rate is left as compiled: with the same config it is the one the run
    had, and with --force it is the one the user asked for.
    """
    with warnings.catch_warnings():  # Keras skips its own copy of the optimizer: ours is next
        warnings.simplefilter("ignore")
        (saved_model or model).load_weights(path)
    with zipfile.ZipFile(path) as archive:
        saved = np.load(io.BytesIO(archive.read(OPTIMIZER_ENTRY)))
        values = [saved[f"arr_{i}"] for i in range(len(saved.files))]
    optimizer = model.optimizer
    optimizer.build(model.trainable_variables)
    variables = optimizer.variables
    if [tuple(v.shape) for v in variables] != [value.shape for value in values]:
        raise TrainingError(f"the optimizer state in {path} does not fit this model (were layers "
                            "unfrozen differently?); start a new run")
    for variable, value in zip(variables, values):
        if not variable.path.endswith("learning_rate"):
            variable.assign(value)


class NonFiniteLoss(keras.callbacks.Callback):
    """Stops training at the first batch whose loss is NaN or infinite, and remembers it.

    Keras' TerminateOnNaN only stops; the Trainer turns what this found into an error,
    and AtomicCheckpoints saves nothing for that epoch.
    """

    def __init__(self):
        super().__init__()
        self.found, self.epoch = None, 0

    def on_epoch_begin(self, epoch, logs=None):
        self.epoch = epoch

    def on_train_batch_end(self, batch, logs=None):
        loss = (logs or {}).get("loss")
        if loss is not None and not math.isfinite(float(loss)) and self.found is None:
            self.found = (self.epoch, batch, float(loss))
            self.model.stop_training = True


class EpochRecord(keras.callbacks.Callback):
    """An epoch's metrics.csv row and checkpoints, written as one unit Ctrl-C cannot split.

    Ctrl-C arriving while they are written is held until all are on disk, so an
    interrupted run's metrics.csv ends at the epoch of its last checkpoint. (kill -9
    cannot be held: a resume drops rows past the checkpoint's epoch.)
    """

    def __init__(self, *parts: keras.callbacks.Callback):
        super().__init__()
        self.parts = parts

    def set_model(self, model):
        super().set_model(model)
        for part in self.parts:
            part.set_model(model)

    def on_epoch_begin(self, epoch, logs=None):
        for part in self.parts:
            part.on_epoch_begin(epoch, logs)

    def on_epoch_end(self, epoch, logs=None):
        with held_interrupts():
            for part in self.parts:
                part.on_epoch_end(epoch, logs)


@contextlib.contextmanager
def held_interrupts():
    """Run the block to its end even if Ctrl-C or SIGTERM comes; then raise
    KeyboardInterrupt (Terminated for SIGTERM)."""
    if threading.current_thread() is not threading.main_thread():
        yield  # signal handlers can only be set from the main thread
        return
    received = []
    previous = {number: signal.signal(number, lambda number, _: received.append(number))
                for number in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for number, handler in previous.items():
            signal.signal(number, handler)
    if signal.SIGTERM in received:
        raise Terminated
    if received:
        raise KeyboardInterrupt


@contextlib.contextmanager
def sigterm_as_interrupt():
    """Inside the block SIGTERM raises Terminated, a KeyboardInterrupt, as Ctrl-C does.

    Python's default for SIGTERM ends the process at once, with no `finally` and no
    word in meta.json; schedulers (Slurm preemption, Kubernetes, `docker stop`) send it
    first, and SIGKILL only after a grace period.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def terminate(number, frame):
        raise Terminated

    previous = signal.signal(signal.SIGTERM, terminate)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


class MetricsLog(keras.callbacks.Callback):
    """metrics.csv: one row per epoch with fixed columns, continuous across phases.

    Not CSVLogger: with append=True it keeps the first header even when a later phase
    logs other metrics (docs/notes.md#csvlogger).
    """

    def __init__(self, run: Run, result: Result, keep: int = 0):
        """Start metrics.csv, or keep its rows up to epoch `keep` (resuming a run)."""
        super().__init__()
        self.path, self.result, self.phase = run.metrics, result, "train"
        rows = []
        if keep and self.path.exists():
            with open(self.path, newline="") as handle:
                rows = [row for row in csv.DictReader(handle) if int(row["epoch"]) <= keep]
        if len(rows) != keep:
            raise TrainingError(f"{self.path} has {len(rows)} rows up to epoch {keep}, the epoch of "
                                "the last checkpoint; the run cannot be resumed consistently")
        text = io.StringIO(newline="")
        writer = csv.DictWriter(text, METRIC_COLUMNS, lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)
        atomic_write_text(self.path, text.getvalue())
        if rows:
            result.epochs, result.final = keep, {k: _number(v) for k, v in rows[-1].items()}

    def on_epoch_begin(self, epoch, logs=None):
        self.began = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        logs = logs or {}
        row = {"epoch": epoch + 1, "phase": self.phase,
               "learning_rate": float(keras.ops.convert_to_numpy(self.model.optimizer.learning_rate)),
               "seconds": round(time.perf_counter() - self.began, 3)}
        row |= {key: float(logs[key]) for key in METRIC_COLUMNS if key in logs}
        with open(self.path, "a", newline="") as handle:
            csv.DictWriter(handle, METRIC_COLUMNS).writerow(row)
        self.result.epochs = epoch + 1
        self.result.final = row


class AtomicCheckpoints(keras.callbacks.Callback):
    """checkpoints/last.keras every epoch, best.keras when the monitored metric improves
    (train.monitor: val_loss falls or val_accuracy rises).

    Each file is written beside its target, then renamed onto it, so a process killed
    mid-save leaves the previous checkpoint loadable. One instance per run, so the best
    so far is remembered across phases.
    """

    def __init__(self, run: Run, result: Result, position):
        super().__init__()
        self.run, self.result, self.position = run, result, position
        self.monitor, self.best_value = "val_loss", None  # None: no epoch had a finite value
        self.saved_model = None  # None: the model being fit

    def use_monitor(self, monitor: str) -> None:
        """Judge epochs by `monitor` from now on; a changed monitor forgets the best so far
        (a run resumed with --force and another train.monitor)."""
        if monitor != self.monitor:
            self.monitor, self.best_value = monitor, None

    def improves(self, value: float) -> bool:
        """Whether an epoch's monitored value beats the best so far; NaN and inf never do."""
        if not math.isfinite(value):
            return False
        if self.best_value is None or not math.isfinite(self.best_value):  # older runs saved inf
            return True
        return value > self.best_value if self.monitor == "val_accuracy" else value < self.best_value

    def on_epoch_end(self, epoch, logs=None):
        if not math.isfinite(float((logs or {}).get("loss", 0.0))):
            return  # weights that produced a NaN or infinite loss are never saved
        value = float((logs or {}).get(self.monitor, math.nan))
        improved = self.improves(value)
        if improved:
            self.best_value = value
            self.result.best_epoch = epoch + 1
            self.result.best = {k: float(v) for k, v in (logs or {}).items()}
            with atomic_path(self.run.best) as temp:
                (self.saved_model or self.model).save(temp)
        with atomic_path(self.run.last) as temp:
            if improved:  # the same weights: copy the file rather than save the model twice
                shutil.copyfile(self.run.best, temp)
            else:
                (self.saved_model or self.model).save(temp)
            write_checkpoint_state(temp, self.position(), self.model.optimizer)


class ProgressDisplay(keras.callbacks.Callback):
    """A rich progress bar over epochs and batches; one line per epoch when not a terminal."""

    def __init__(self, console: Console, phase: str):
        super().__init__()
        self.console, self.phase, self.progress = console, phase, None

    def on_train_begin(self, logs=None):
        if not self.console.is_terminal:
            return
        self.progress = Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                                 TimeElapsedColumn(), TextColumn("{task.fields[metrics]}"),
                                 console=self.console, transient=True)
        self.progress.start()
        self.epochs = self.progress.add_task(f"{self.phase} epochs", total=self.params["epochs"],
                                             completed=0, metrics="")
        self.batches = self.progress.add_task("batches", total=self.params.get("steps"), metrics="")

    def on_epoch_begin(self, epoch, logs=None):
        if self.progress:
            self.progress.update(self.epochs, completed=epoch)
            self.progress.reset(self.batches, total=self.params.get("steps"), metrics="")

    def on_train_batch_end(self, batch, logs=None):
        if self.progress:
            self.progress.update(self.batches, completed=batch + 1, metrics=_format(logs))

    def on_epoch_end(self, epoch, logs=None):
        line = f"epoch {epoch + 1}/{self.params['epochs']} {self.phase}  {_format(logs)}"
        if self.progress:
            self.progress.update(self.epochs, completed=epoch + 1, metrics=_format(logs))
            self.progress.console.print(line, highlight=False)
        else:
            self.console.print(line, highlight=False, soft_wrap=True)

    def on_train_end(self, logs=None):
        self.close()

    def close(self):
        if self.progress:
            self.progress.stop()
            self.progress = None


def _number(text: str):
    """A metrics.csv cell read back: a number where it is one."""
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            pass
    return text


def _format(logs) -> str:
    names = ("loss", "accuracy", "val_loss", "val_accuracy")
    return "  ".join(f"{k} {float(logs[k]):.4f}" for k in names if k in (logs or {}))
