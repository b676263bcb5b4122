"""A run's training recipe in Keras objects: the optimizer, the learning rate of every
step (a Keras schedule, with warmup), the loss with its label smoothing, the metrics, and
the weights' moving average (docs/recipes.md).

The schedule is not given to the optimizer: a callback sets the optimizer's rate before
each batch from it. A checkpoint then holds a plain learning rate, so best.keras loads in
any Keras without convcli (a schedule of convcli's own, needed for warmup before a step
or exponential decay, would not), and a resumed run recomputes the rate from its epoch.
"""

from __future__ import annotations

import keras

from convcli.config import Train

OPTIMIZERS = {"rmsprop": keras.optimizers.RMSprop, "adam": keras.optimizers.Adam,
              "adamw": keras.optimizers.AdamW, "sgd": keras.optimizers.SGD}
TOP_K = 5  # top-5 accuracy is reported where a dataset has more classes than this
MIXED_METRICS = ("accuracy", f"top{TOP_K}_accuracy")  # training metrics mixed labels void


def make_optimizer(train: Train, learning_rate: float) -> keras.optimizers.Optimizer:
    """The optimizer train.optimizer names, with the recipe's weight decay, clipping,
    momentum and moving average; Keras' own defaults for what the config leaves out."""
    options: dict = {"learning_rate": learning_rate}
    if train.weight_decay is not None:
        options["weight_decay"] = train.weight_decay
    if train.clipnorm is not None:
        options["clipnorm"] = train.clipnorm
    if train.momentum:
        options["momentum"] = train.momentum
    if train.ema is not None:
        options |= {"use_ema": True, "ema_momentum": train.ema}
    return OPTIMIZERS[train.optimizer](**options)


def make_loss(num_classes: int, label_smoothing: float, one_hot: bool) -> keras.losses.Loss:
    """Cross-entropy for the head: binary for one sigmoid unit, categorical for one-hot
    labels (label smoothing or mixed labels), sparse otherwise (Keras' sparse loss has no
    label smoothing)."""
    if num_classes == 2:
        return keras.losses.BinaryCrossentropy(label_smoothing=label_smoothing)
    if one_hot:
        return keras.losses.CategoricalCrossentropy(label_smoothing=label_smoothing)
    return keras.losses.SparseCategoricalCrossentropy()


def make_metrics(num_classes: int, one_hot: bool) -> list:
    """Accuracy, and top-5 accuracy where there are more than five classes."""
    if num_classes <= TOP_K:
        return ["accuracy"]
    top = keras.metrics.TopKCategoricalAccuracy if one_hot else keras.metrics.SparseTopKCategoricalAccuracy
    return ["accuracy", top(k=TOP_K, name=f"top{TOP_K}_accuracy")]


def learning_rates(train: Train, peak: float, steps_per_epoch: int, epochs: int):
    """A function of a phase's step (0 at its start) giving the rate of that step: linear
    warmup from 0 to `peak` over train.warmup_epochs, then train.schedule over the rest."""
    warmup = train.warmup_epochs * steps_per_epoch
    after = max(1, (epochs - train.warmup_epochs) * steps_per_epoch)
    schedules = keras.optimizers.schedules
    if train.schedule == "cosine":
        schedule = schedules.CosineDecay(peak, after, alpha=train.min_lr_fraction)
    elif train.schedule == "step":
        # Keras keeps values[i] up to and including boundaries[i]: the new rate starts at
        # the first step after the epoch
        boundaries = [(epoch - train.warmup_epochs) * steps_per_epoch - 1 for epoch in train.step_epochs]
        values = [peak * train.step_factor ** index for index in range(len(boundaries) + 1)]
        schedule = schedules.PiecewiseConstantDecay(boundaries, values)
    elif train.schedule == "exponential":
        schedule = schedules.ExponentialDecay(peak, steps_per_epoch, train.decay_rate)
    else:
        schedule = None

    def rate(step: int) -> float:
        if step < warmup:
            return peak * (step + 1) / warmup  # the first step already moves: never 0
        if schedule is None:
            return peak
        return float(keras.ops.convert_to_numpy(schedule(step - warmup)))

    return rate


def steps_in(dataset) -> int | None:
    """Batches per epoch of a training dataset; None when tf.data cannot tell."""
    count = int(dataset.cardinality()) if hasattr(dataset, "cardinality") else len(dataset)
    return count if count > 0 else None


class LearningRate(keras.callbacks.Callback):
    """Sets the optimizer's learning rate before every batch from `learning_rates`.

    The step is counted from the phase's first epoch, so a resumed run, which starts at a
    later epoch, gets the rate the uninterrupted run had.
    """

    def __init__(self, rate, phase_start: int, steps_per_epoch: int | None):
        super().__init__()
        self.rate, self.phase_start, self.steps_per_epoch = rate, phase_start, steps_per_epoch
        self.first_step = 0

    def on_epoch_begin(self, epoch, logs=None):
        self.first_step = (epoch - self.phase_start) * (self.steps_per_epoch or 1)
        self.model.optimizer.learning_rate = self.rate(self.first_step)

    def on_train_batch_begin(self, batch, logs=None):
        if self.steps_per_epoch:  # unknown length: one rate per epoch, set above
            self.model.optimizer.learning_rate = self.rate(self.first_step + batch)


def is_constant(train: Train) -> bool:
    return train.schedule == "constant" and not train.warmup_epochs


class AveragedWeights(keras.callbacks.SwapEMAWeights):
    """Validation and the epoch's checkpoints see the optimizer's moving average of the
    weights (train.ema); training goes on from the raw weights.

    Keras' SwapEMAWeights swaps them in at each epoch's end and back at the next epoch's
    start, so a checkpoint holds the averaged weights in the model and the raw ones in the
    optimizer's average slots. A run resumed from one starts in that state: `resumed`
    says so, and the first epoch swaps them back.
    """

    def __init__(self):
        super().__init__(swap_on_epoch=True)

    def resumed(self) -> None:
        self._ema_weights_in_model = True  # Keras' own flag for the state described above


def hide_mixed(logs: dict | None) -> None:
    """Drop training accuracy from an epoch's logs when labels are mixed: against labels
    such as 0.7 cat + 0.3 dog it is not the accuracy of any image's class."""
    for name in MIXED_METRICS:
        (logs or {}).pop(name, None)


class MixedLabels(keras.callbacks.Callback):
    """Under mixup or cutmix, removes the training accuracy from what later callbacks see
    (the metrics row, the checkpoints' record, the display); validation is unmixed."""

    def on_train_batch_end(self, batch, logs=None):
        hide_mixed(logs)

    def on_epoch_end(self, epoch, logs=None):
        hide_mixed(logs)

