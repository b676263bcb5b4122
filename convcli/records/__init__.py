"""Records: the typed, versioned files convcli writes and later reads back. record.py holds
the base (versions, upgrades, parsing, one-line errors); run_files.py meta.json,
summary.json and the checkpoint state; sweep_file.py sweep.yaml. The names below are the
package's interface."""

from convcli.records.record import Part, Record, Upgrade, newer_message, upgrade
from convcli.records.run_files import (
    CheckpointState, ClassMetrics, Dataset, EpochMetrics, Gradcam, Meta, Phase, PointingGame,
    Pruned, Resumption, Summary, TestMetrics, Timings, Tracked,
)
from convcli.records.sweep_file import SweepRecord

__all__ = [
    "CheckpointState", "ClassMetrics", "Dataset", "EpochMetrics", "Gradcam", "Meta", "Part",
    "Phase", "PointingGame", "Pruned", "Record", "Resumption", "Summary", "SweepRecord",
    "TestMetrics", "Timings", "Tracked", "Upgrade", "newer_message", "upgrade",
]
