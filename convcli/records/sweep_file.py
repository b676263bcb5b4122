"""sweep.yaml's record: the resolved sweep file, kept as written, and what the sweep adds
(where its study is, how many trials it has)."""

from __future__ import annotations

from pathlib import Path
from typing import ClassVar, Optional

import yaml

from convcli import safeyaml
from convcli.records.record import Record, load_file


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
        return cls.parse(load_file(path, safeyaml.load, "YAML", cls.REMEDY), str(path))

    @property
    def spec(self) -> dict:
        """The resolved sweep file, without the keys the record adds."""
        return dict(self.model_extra or {})

    def to_yaml(self) -> str:
        fields = {"storage": self.storage, "study": self.study, "trials": self.trials}
        return yaml.safe_dump({**self.spec, **fields, "schema_version": self.SCHEMA_VERSION},
                              sort_keys=False)
