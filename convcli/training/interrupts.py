"""What stops training part-way: a loss that is no longer finite, and Ctrl-C or SIGTERM
(held while an epoch's metrics row and checkpoints are written)."""

from __future__ import annotations

import contextlib
import math
import signal
import threading

import keras

from convcli.errors import Terminated


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
