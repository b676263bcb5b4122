"""Records: the typed, versioned files convcli writes and later reads back.

meta.json, summary.json, the checkpoint state inside last.keras and sweep.yaml's own
keys. Each is a pydantic model with a `schema_version`; the writer builds the model and
writes `to_json()` (or `to_yaml()`) atomically, every reader parses the file once with
`Model.read(path)` and uses attributes. Key names are those docs/run-directory.md names.

Versions (docs/architecture.md#record-and-config-versions): a file without
`schema_version` was written before records had one and is version 1. An older file is
upgraded in memory, one version at a time, by the functions in the model's `UPGRADES`
(never written back unasked); a newer one is refused with one line. Keys a model does
not declare are kept (read back and written again unchanged) but never read, so a hand
annotation survives a rewrite of meta.json.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Callable, ClassVar, Optional

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from convcli import safeyaml
from convcli.errors import RecordError

Upgrade = Callable[[dict], dict]  # a record of version n as read -> the same at version n + 1


class Part(BaseModel):
    """A nested part of a record: its undeclared keys are kept, as the record's are."""

    model_config = ConfigDict(extra="allow")

    def as_dict(self) -> dict:
        """The keys as written (those never set stay absent), for showing every one."""
        return self.model_dump(exclude_unset=True)


class Record(Part):
    """A file convcli writes and reads back, with the version of its format."""

    KIND: ClassVar[str] = "record"
    REMEDY: ClassVar[str] = "restore it, or train a new run"  # what a user can do about a bad one
    SCHEMA_VERSION: ClassVar[int] = 1
    UPGRADES: ClassVar[dict[int, Upgrade]] = {}  # version n -> the step to n + 1
    schema_version: int = Field(1, description="the version of this file's format")

    @classmethod
    def parse(cls, data: Any, where: str):
        """The record in a parsed file's value, upgraded to this version; RecordError if it
        is not one, or was written by a newer convcli."""
        if not isinstance(data, dict):
            raise RecordError(f"{where} holds a {type(data).__name__}, not a {cls.KIND} record "
                              f"(a mapping); {cls.REMEDY}")
        data = upgrade(data, cls.SCHEMA_VERSION, cls.UPGRADES, where)
        try:
            return cls.model_validate({**data, "schema_version": cls.SCHEMA_VERSION})
        except ValidationError as error:
            raise RecordError(f"{where} is not a valid {cls.KIND} record: {_first(error)}; "
                              f"{cls.REMEDY}") from None

    @classmethod
    def read(cls, path: Path):
        """The record in a JSON file; RecordError if missing, damaged or too new."""
        return cls.parse(_load(path, json.loads, "JSON", cls.REMEDY), str(path))

    def as_written(self) -> dict:
        """The mapping the file holds (or will): schema_version first, then every key set."""
        return {"schema_version": self.SCHEMA_VERSION, **self.as_dict()}

    def to_json(self) -> str:
        return json.dumps(self.as_written(), indent=2, default=str) + "\n"


def upgrade(data: dict, current: int, upgrades: dict[int, Upgrade], what: str) -> dict:
    """`data` brought to version `current` (a missing schema_version is 1); RecordError for
    a version this convcli does not know."""
    found = data.get("schema_version", 1)  # records from before versions: 1
    if not isinstance(found, int) or isinstance(found, bool) or found < 1:
        raise RecordError(f"{what}: schema_version must be a whole number from 1. Received: {found!r}")
    if found > current:
        raise RecordError(newer_message(what, "schema_version", found, current))
    for version in range(found, current):
        data = upgrades[version](data)
    return data


def newer_message(what: str, key: str, found: int, known: int) -> str:
    """The one line for a file whose format is newer than this convcli reads."""
    return (f"{what} was written by a newer convcli ({key} {found}; this convcli reads up to "
            f"{known}); upgrade convcli (pip install -U convcli) to read it")


def _load(path: Path, loads: Callable[[str], Any], language: str, remedy: str):
    try:
        text = Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        raise RecordError(f"{path} does not exist") from None
    except (OSError, UnicodeDecodeError) as error:
        raise RecordError(f"cannot read {path}: {getattr(error, 'strerror', None) or error}") from None
    try:
        return loads(text)
    except (ValueError, yaml.YAMLError) as error:
        where = f" at line {error.lineno}" if isinstance(error, json.JSONDecodeError) else ""
        raise RecordError(f"{path} is not valid {language}{where}: the file is damaged (cut short, "
                          f"or edited by hand); {remedy}") from None


def _first(error: ValidationError) -> str:
    first = error.errors()[0]
    where = ".".join(str(part) for part in first["loc"])
    if first["type"] == "missing":
        return f"{where} is missing"
    return f"{where}: {first['msg']}. Received: {str(repr(first.get('input')))[:60]}"


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

    def updated(self, **fields) -> "Meta":
        """This record with `fields` set (checked as a read is)."""
        try:
            return Meta.model_validate({**self.as_dict(), **fields, "schema_version": self.SCHEMA_VERSION})
        except ValidationError as error:  # a programming error: convcli wrote a wrong type
            raise RecordError(f"meta.json: {_first(error)}") from None


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
    images: list[Any] = []  # file names (or mappings naming one)
    pointing_game: Optional[PointingGame] = None


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
            data = json.loads(text)
        except ValueError:
            raise RecordError(f"{where} is not valid JSON: {cls.REMEDY}") from None
        return cls.parse(data, where)


# --- sweep.yaml -----------------------------------------------------------------------


class SweepRecord(Record):
    """sweep.yaml: the resolved sweep file (kept as written) and what the sweep adds: where
    its study is and how many trials it has."""

    KIND: ClassVar[str] = "sweep.yaml"
    REMEDY: ClassVar[str] = "restore it, or start another sweep with --new"
    storage: Optional[str] = None  # an Optuna storage URL, password redacted; None: study.db
    study: Optional[str] = None
    trials: Optional[int] = None

    @classmethod
    def read(cls, path: Path) -> "SweepRecord":
        return cls.parse(_load(path, safeyaml.load, "YAML", cls.REMEDY), str(path))

    @property
    def spec(self) -> dict:
        """The resolved sweep file, without the keys the record adds."""
        return dict(self.model_extra or {})

    def to_yaml(self) -> str:
        fields = {"storage": self.storage, "study": self.study, "trials": self.trials}
        return yaml.safe_dump({**self.spec, **fields, "schema_version": self.SCHEMA_VERSION},
                              sort_keys=False)
