"""The Result of a stage's training: what summary.json and the final table report."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


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
