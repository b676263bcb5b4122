"""Training: compile, fit phase after phase, and the callbacks one run shares.

A `Trainer` belongs to one run and outlives its phases: one best-checkpoint tracker
(a fresh ModelCheckpoint per fit would forget the earlier best), one metrics.csv whose
epochs continue across phases, checkpoints written atomically.
"""

from __future__ import annotations

import csv
import math
import time
from dataclasses import dataclass, field

import keras
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from convcli.config import Train
from convcli.errors import TrainingError
from convcli.models.heads import loss_for
from convcli.models.table import count_params
from convcli.runs import Run, atomic_path
from convcli.tfenv import import_tensorflow

METRIC_COLUMNS = ["epoch", "phase", "loss", "accuracy", "val_loss", "val_accuracy",
                  "learning_rate", "seconds"]
MONITOR = "val_loss"  # the best checkpoint is the one with the lowest validation loss


def seed_everything(seed: int, deterministic: bool) -> None:
    """Seed Python, NumPy and TensorFlow; optionally make TensorFlow ops deterministic."""
    keras.utils.set_random_seed(seed)
    if deterministic:
        import_tensorflow().config.experimental.enable_op_determinism()


def compile_model(model: keras.Model, optimizer: str, learning_rate: float, num_classes: int) -> None:
    """Compile for classification; call again after changing `trainable` (keras-notes.md)."""
    optimizers = {"rmsprop": keras.optimizers.RMSprop, "adam": keras.optimizers.Adam,
                  "adamw": keras.optimizers.AdamW, "sgd": keras.optimizers.SGD}
    model.compile(optimizer=optimizers[optimizer](learning_rate=learning_rate),
                  loss=loss_for(num_classes), metrics=["accuracy"])


@dataclass
class Result:
    """What a stage's training produced, for summary.json and the final table."""

    best_epoch: int | None = None
    best: dict = field(default_factory=dict)
    final: dict = field(default_factory=dict)
    epochs: int = 0
    phases: list[dict] = field(default_factory=list)
    test: dict | None = None  # test metrics, when the stage measured them itself
    details: dict = field(default_factory=dict)  # stage-specific entries for summary.json


class Trainer:
    """Fits one run's model phase after phase, keeping one record of every epoch."""

    def __init__(self, run: Run, console: Console | None = None):
        self.console = console or Console(stderr=True)
        self.result = Result()
        self.checkpoints = AtomicCheckpoints(run, self.result)
        self.metrics = MetricsLog(run, self.result)
        self.tensorboard = keras.callbacks.TensorBoard(str(run.tensorboard), write_graph=False)

    def fit(self, model: keras.Model, train, validation, *, phase: str, epochs: int,
            train_config: Train, saved_model: keras.Model | None = None) -> keras.callbacks.History:
        """Train `epochs` more epochs; epoch numbers continue from earlier phases.

        Checkpoints hold `saved_model` when given: a complete model that shares the
        weights of the `model` being fit (a head trained on cached features).
        """
        self.metrics.phase = phase
        self.checkpoints.saved_model = saved_model
        display, watch = ProgressDisplay(self.console, phase), NonFiniteLoss()
        callbacks = [watch, self.metrics, self.checkpoints, self.tensorboard, display]
        if train_config.early_stopping:
            stop = train_config.early_stopping
            callbacks.append(keras.callbacks.EarlyStopping(monitor=stop.monitor, patience=stop.patience))
        start, began = self.result.epochs, time.perf_counter()
        try:
            history = model.fit(train, validation_data=validation, initial_epoch=start,
                                epochs=start + epochs, callbacks=callbacks, shuffle=False, verbose=0)
        finally:
            display.close()  # also on Ctrl-C: give the terminal back its cursor
        if watch.found:
            epoch, batch, value = watch.found
            raise TrainingError(
                f"the loss became {value} at epoch {epoch + 1}, batch {batch + 1} (phase {phase}); "
                f"training stopped and the checkpoints keep the last epoch with a finite loss. "
                f"Lower the learning rate (it was "
                f"{float(keras.ops.convert_to_numpy(model.optimizer.learning_rate)):g}) or check the data")
        self.result.phases.append({"phase": phase, "epochs": len(history.epoch),
                                   "trainable_params": count_params(model.trainable_weights),
                                   "seconds": round(time.perf_counter() - began, 2)})
        return history


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


class MetricsLog(keras.callbacks.Callback):
    """metrics.csv: one row per epoch with fixed columns, continuous across phases.

    Not CSVLogger: with append=True it keeps the first header even when a later phase
    logs other metrics (keras-notes.md).
    """

    def __init__(self, run: Run, result: Result):
        super().__init__()
        self.path, self.result, self.phase = run.metrics, result, "train"
        if not self.path.exists():
            with open(self.path, "w", newline="") as handle:
                csv.writer(handle).writerow(METRIC_COLUMNS)

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
    """checkpoints/last.keras every epoch, best.keras when val_loss improves.

    Each file is written beside its target, then renamed onto it, so a process killed
    mid-save leaves the previous checkpoint loadable. One instance per run, so the best
    so far is remembered across phases.
    """

    def __init__(self, run: Run, result: Result):
        super().__init__()
        self.run, self.result = run, result
        self.best_value = math.inf
        self.saved_model = None  # None: the model being fit

    def on_epoch_end(self, epoch, logs=None):
        if not math.isfinite(float((logs or {}).get("loss", 0.0))):
            return  # weights that produced a NaN or infinite loss are never saved
        value = (logs or {}).get(MONITOR, math.nan)
        if value < self.best_value:  # NaN never counts as better
            self.best_value = value
            self.result.best_epoch = epoch + 1
            self.result.best = {k: float(v) for k, v in (logs or {}).items()}
            self._save(self.run.best)
        self._save(self.run.last)

    def _save(self, path):
        with atomic_path(path) as temp:
            (self.saved_model or self.model).save(temp)


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


def _format(logs) -> str:
    names = ("loss", "accuracy", "val_loss", "val_accuracy")
    return "  ".join(f"{k} {float(logs[k]):.4f}" for k in names if k in (logs or {}))
