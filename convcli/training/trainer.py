"""The Trainer: compile, fit phase after phase, with the callbacks one run shares.

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

import time
import keras
import numpy as np
from rich.console import Console

from convcli.config import Train
from convcli.data.folders import Files
from convcli.errors import ConfigError, TrainingError
from convcli.models.table import count_params
from convcli.records import CheckpointState
from convcli.runs import Run
from convcli.tfenv import import_tensorflow
from convcli.training.checkpoints import AtomicCheckpoints, read_checkpoint_state, restore_checkpoint
from convcli.training.interrupts import EpochRecord, NonFiniteLoss
from convcli.training.metrics_log import MetricsLog
from convcli.training.recipe import (
    AveragedWeights, LearningRate, MixedLabels, is_constant, learning_rates, make_loss, make_metrics,
    make_optimizer, steps_in,
)
from convcli.training.result import Result
from convcli.training.progress import ProgressDisplay


def seed_everything(seed: int, deterministic: bool) -> None:
    """Seed Python, NumPy and TensorFlow; optionally make TensorFlow ops deterministic."""
    keras.utils.set_random_seed(seed)
    if deterministic:
        import_tensorflow().config.experimental.enable_op_determinism()


def compile_model(model: keras.Model, train: Train, num_classes: int,
                  learning_rate: float | None = None, one_hot: bool = False) -> None:
    """Compile for classification; call again after changing `trainable`, which Keras
    ignores until then (docs/notes.md#recompile-after-trainable).

    learning_rate overrides train.learning_rate (fine-tuning's own rate); it is the peak
    of the phase's schedule. one_hot: the labels are one-hot (label smoothing or mixed
    labels with more than two classes). Under the mixed_float16 policy Keras wraps the
    optimizer in a LossScaleOptimizer itself.
    """
    model.compile(optimizer=make_optimizer(train, learning_rate or train.learning_rate),
                  loss=make_loss(num_classes, train.label_smoothing, one_hot),
                  metrics=make_metrics(num_classes, one_hot),
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


class Trainer:
    """Fits one run's model phase after phase, keeping one record of every epoch.

    For a run with a last checkpoint (a resumed run) it continues from that checkpoint.
    """

    def __init__(self, run: Run, console: Console | None = None,
                 class_weight: dict[int, float] | None = None, mixed_labels: bool = False):
        self.console = console or Console(stderr=True)
        self.class_weight = class_weight  # Keras' class_weight for every phase, or None
        self.mixed_labels = mixed_labels  # mixup or cutmix: no training accuracy
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
        seconds, resumed = 0.0, False
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
            self.resume, resumed = None, True
        self.phase = {"phase": phase, "start": start, "seconds": seconds}
        self.metrics.phase = phase
        self.checkpoints.saved_model = saved_model
        self.checkpoints.use_monitor(train_config.monitor)
        display, watch = ProgressDisplay(self.console, phase), NonFiniteLoss()
        callbacks = [watch, EpochRecord(self.metrics, self.checkpoints), self.tensorboard, display]
        callbacks = self.recipe_callbacks(model, train, train_config, start, epochs, resumed) + callbacks
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

    def recipe_callbacks(self, model: keras.Model, train, train_config: Train, start: int,
                         epochs: int, resumed: bool) -> list[keras.callbacks.Callback]:
        """The callbacks of the recipe, before the Trainer's own: mixed labels' accuracy
        removed, the learning rate of each step, the weights' moving average swapped in."""
        callbacks: list[keras.callbacks.Callback] = [MixedLabels()] if self.mixed_labels else []
        if not is_constant(train_config):
            peak = float(keras.ops.convert_to_numpy(model.optimizer.learning_rate))
            steps = steps_in(train)
            callbacks.append(LearningRate(learning_rates(train_config, peak, steps or 1, epochs),
                                          start, steps))
        if train_config.ema is not None:
            averaged = AveragedWeights()
            if resumed:
                averaged.resumed()
            callbacks.append(averaged)
        return callbacks
