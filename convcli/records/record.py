"""Record: the base of every typed, versioned file convcli writes and later reads back.

meta.json, summary.json, the checkpoint state inside last.keras (run_files.py) and
sweep.yaml's own keys (sweep_file.py). Each is a pydantic model with a `schema_version`; the writer builds the model and
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
from typing import Any, Callable, ClassVar

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from convcli.errors import RecordError
from convcli.safeyaml import load_json


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
            raise RecordError(f"{where} is not a valid {cls.KIND} record: {first_problem(error)}; "
                              f"{cls.REMEDY}") from None

    @classmethod
    def read(cls, path: Path):
        """The record in a JSON file; RecordError if missing, damaged or too new."""
        return cls.parse(load_file(path, load_json, "JSON", cls.REMEDY), str(path))

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


def load_file(path: Path, loads: Callable[[str], Any], language: str, remedy: str):
    """The value in a record's file, parsed by `loads`; RecordError if missing or damaged."""
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


def first_problem(error: ValidationError) -> str:
    """The first problem pydantic found, as `key.path: what. Received: value`."""
    first = error.errors()[0]
    where = ".".join(str(part) for part in first["loc"])
    if first["type"] == "missing":
        return f"{where} is missing"
    return f"{where}: {first['msg']}. Received: {str(repr(first.get('input')))[:60]}"
