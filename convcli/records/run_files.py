"""The records of a run directory: meta.json (what a run is doing or did, and with what),
summary.json (a completed run's results) and the checkpoint state inside
checkpoints/last.keras (where training was); docs/run-directory.md names their keys."""

from __future__ import annotations

from typing import Any, ClassVar, Optional

from pydantic import ValidationError

from convcli.errors import RecordError
from convcli.records.record import Part, Record, first_problem
from convcli.safeyaml import load_json


# --- meta.json ------------------------------------------------------------------------


class Dataset(Part):
    fingerprint: Optional[str] = None
    counts: dict[str, int] = {}  # images per split
    left_out: list[str] = []  # files that could not be decoded (data.on_bad_file: skip)
    cache: Optional[str] = None  # memory | disk | none, as data.cache: auto decided


class Resumption(Part):
    from_epoch: int
    at: str
    previous_status: Optional[str] = None
    changed: list[str] = []  # config keys changed with --force


class Pruned(Part):
    epoch: int
    rule: str


class Tracked(Part):
    """Where a run is sent on an MLflow tracking server, and what has not reached it yet
    (`convcli runs push` sends that; docs/tracking.md)."""

    uri: Optional[str] = None  # the tracking URI, any password left out
    experiment: Optional[str] = None
    run_id: Optional[str] = None  # the MLflow run's id, once the server made it
    parent_run_id: Optional[str] = None  # a sweep's parent run
    unsent: list[str] = []  # what did not reach the server: params, metrics, artifacts, ...
    problem: Optional[str] = None  # why (the first failure)
    too_long: list[str] = []  # config keys whose values exceed MLflow's param length


class Meta(Record):
    """meta.json: what a run is doing or did, and with what. Written piece by piece (a run
    that failed early has only a few keys), so every key may be absent."""

    KIND: ClassVar[str] = "meta.json"
    status: Optional[str] = None  # running | completed | failed | interrupted | pruned
    command: Optional[list[str]] = None
    started: Optional[str] = None  # ISO 8601 local time with offset
    ended: Optional[str] = None
    seed: Optional[int] = None
    versions: dict[str, Optional[str]] = {}
    git_commit: Optional[str] = None
    stage: Optional[str] = None
    class_names: Optional[list[str]] = None
    pid: Optional[int] = None
    host: Optional[str] = None
    devices: list[str] = []
    dataset: Optional[Dataset] = None
    reason: Optional[str] = None  # why a run did not complete
    signal: Optional[str] = None  # SIGINT | SIGTERM for an interrupted run
    resumed: list[Resumption] = []
    pruned: Optional[Pruned] = None  # by its sweep
    mlflow: Optional[Tracked] = None  # tracking.mlflow: the MLflow run and what it lacks

    def updated(self, **fields) -> "Meta":
        """This record with `fields` set (checked as a read is)."""
        try:
            return Meta.model_validate({**self.as_dict(), **fields, "schema_version": self.SCHEMA_VERSION})
        except ValidationError as error:  # a programming error: convcli wrote a wrong type
            raise RecordError(f"meta.json: {first_problem(error)}") from None


# --- summary.json ---------------------------------------------------------------------


class EpochMetrics(Part):
    """One epoch's numbers (metrics.csv's columns); a stage's extra metrics are kept."""

    epoch: Optional[int] = None
    phase: Optional[str] = None
    loss: Optional[float] = None
    accuracy: Optional[float] = None
    val_loss: Optional[float] = None
    val_accuracy: Optional[float] = None
    learning_rate: Optional[float] = None
    seconds: Optional[float] = None
    top5_accuracy: Optional[float] = None  # more than five classes only
    val_top5_accuracy: Optional[float] = None


class TestMetrics(Part):
    loss: float
    accuracy: float


class ClassMetrics(Part):
    precision: Optional[float] = None  # None: the class was never predicted
    recall: Optional[float] = None  # None: the class has no images
    support: int


class Timings(Part):
    total_seconds: float
    seconds_per_epoch: float


class Phase(Part):
    phase: str
    epochs: int
    trainable_params: int
    seconds: float


class PointingGame(Part):
    score: Optional[float] = None
    chance: Optional[float] = None
    images: Optional[int] = None
    layer: Optional[str] = None


class Gradcam(Part):
    layer: Optional[str] = None
    images: list[Any] = []  # file names, or {image, true, predicted, probability}
    pointing_game: Optional[PointingGame] = None
    # The highest-loss validation images of the hardest_pool scored ({image, true, predicted,
    # probability, loss}), hardest first; their overlays are in gradcam/hardest/.
    hardest: list[Any] = []
    hardest_pool: Optional[int] = None


class Summary(Record):
    """summary.json: a completed run's results, written once at its end. Stage-specific
    entries (feature_cache, unfreezing) are kept as written and shown as they are."""

    KIND: ClassVar[str] = "summary.json"
    stage: str
    epochs: int
    best_epoch: Optional[int] = None
    monitor: str = "val_loss"  # runs from before train.monitor: val_loss
    best: EpochMetrics = EpochMetrics()
    final: EpochMetrics = EpochMetrics()
    test: Optional[TestMetrics] = None
    per_class: Optional[dict[str, ClassMetrics]] = None
    confusion: Optional[list[list[int]]] = None
    timings: Timings
    trainable_params: dict[str, int] = {}
    phases: list[Phase] = []
    class_names: list[str] = []
    counts: dict[str, int] = {}
    class_weight: Optional[dict[str, float]] = None
    gradcam: Optional[Gradcam] = None
    # the transforms that mixed training labels (mixup, cutmix): no training accuracy then
    mixed_labels: list[str] = []

    @property
    def details(self) -> dict:
        """The stage's own entries (feature_cache, unfreezing, ...), as written."""
        return dict(self.model_extra or {})

    def metric(self, name: str) -> Optional[float]:
        """A metric a sweep judges by: the best epoch's val_accuracy or val_loss, or the
        test split's accuracy (test_accuracy)."""
        if name == "test_accuracy":
            return self.test.accuracy if self.test else None
        return getattr(self.best, name, None)


# --- the checkpoint state (convcli/state.json inside checkpoints/last.keras) --------------


class CheckpointState(Record):
    """Where training was when a last checkpoint was saved, so --resume continues there."""

    KIND: ClassVar[str] = "checkpoint state"
    REMEDY: ClassVar[str] = "the checkpoint is damaged; start a new run"
    epoch: int  # epochs completed, every phase counted
    phase: Optional[str] = None  # the phase being fit
    phase_start: int = 0  # the epoch that phase started after
    phase_seconds: float = 0.0
    phases: list[Phase] = []  # phases finished before it
    best_value: Optional[float] = None  # the monitored value of the best epoch
    monitor: str = "val_loss"  # runs from before train.monitor: val_loss
    best_epoch: Optional[int] = None
    best: EpochMetrics = EpochMetrics()

    @classmethod
    def loads(cls, text: bytes | str, where: str) -> "CheckpointState":
        try:
            data = load_json(text)
        except ValueError:
            raise RecordError(f"{where} is not valid JSON: {cls.REMEDY}") from None
        return cls.parse(data, where)
