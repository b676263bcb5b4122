"""Training one run: the Trainer (trainer.py) and the callbacks it shares across phases:
checkpoints.py (last.keras and best.keras, with their position), metrics_log.py
(metrics.csv), progress.py (the display), interrupts.py (NaN losses, Ctrl-C, SIGTERM),
recipe.py (optimizer, learning-rate schedule, loss, moving average) and result.py (Result).
The names below are the package's interface."""

from convcli.training.checkpoints import (
    OPTIMIZER_ENTRY, STATE_ENTRY, AtomicCheckpoints, checkpoint_epoch, read_checkpoint_state,
    restore_checkpoint, write_checkpoint_state,
)
from convcli.training.interrupts import EpochRecord, NonFiniteLoss, held_interrupts
from convcli.training.metrics_log import METRIC_COLUMNS, MetricsLog
from convcli.training.progress import ProgressDisplay
from convcli.training.result import Result
from convcli.training.trainer import Trainer, class_weights, compile_model, seed_everything

__all__ = [
    "METRIC_COLUMNS", "OPTIMIZER_ENTRY", "STATE_ENTRY", "AtomicCheckpoints", "EpochRecord",
    "MetricsLog", "NonFiniteLoss", "ProgressDisplay", "Result", "Trainer", "checkpoint_epoch",
    "class_weights", "compile_model", "held_interrupts", "read_checkpoint_state",
    "restore_checkpoint", "seed_everything", "write_checkpoint_state",
]
