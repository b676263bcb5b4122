"""Checkpoints that carry their own position: last.keras every epoch and best.keras when
the monitored metric improves, each written atomically, with the Trainer's state and the
optimizer's variables inside the .keras zip (trainer.py says why)."""

from __future__ import annotations

import io
import json
import math
import shutil
import warnings
import zipfile
from pathlib import Path
import keras
import numpy as np

from convcli.errors import TrainingError
from convcli.files import atomic_path
from convcli.records import CheckpointState
from convcli.runs import Run
from convcli.training.result import Result

STATE_ENTRY, OPTIMIZER_ENTRY = "convcli/state.json", "convcli/optimizer.npz"  # in last.keras


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
