"""metrics.csv: one row per epoch with fixed columns, continuous across phases and
kept consistent with the last checkpoint when a run resumes."""

from __future__ import annotations

import csv
import io
import time
import keras

from convcli.errors import TrainingError
from convcli.files import atomic_write_text
from convcli.runs import Run
from convcli.training.result import Result

# top-5 columns stay empty with five classes or fewer; `accuracy` and `top5_accuracy`
# stay empty under mixup or cutmix (training/recipe.py says why)
METRIC_COLUMNS = ["epoch", "phase", "loss", "accuracy", "val_loss", "val_accuracy",
                  "learning_rate", "seconds", "top5_accuracy", "val_top5_accuracy"]


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


def _number(text: str):
    """A metrics.csv cell read back: a number where it is one, None where it is empty
    (top-5 with few classes, training accuracy under mixup)."""
    if text == "":
        return None
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            pass
    return text
