"""The progress of training shown to a person: a rich bar over epochs and batches on a
terminal, one line per epoch otherwise."""

from __future__ import annotations

import keras
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn


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
