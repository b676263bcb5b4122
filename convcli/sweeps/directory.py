"""SweepDir: the paths of one sweep directory, and creating, finding and listing sweeps.

`<runs_dir>/sweeps/<YYYY-MM-DD_HH-MM-SS>_<name>/`, made like a run directory (a `-2`
suffix when taken, never reused). Reading a sweep's listing row needs only its CSV
files, so `convcli runs` answers without Optuna.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path

from convcli.errors import RecordError
from convcli.records import SweepRecord
from convcli.runs import SWEEPS_FOLDER as SWEEPS
from convcli.runs import create_run, list_runs


@dataclass(frozen=True)
class SweepDir:
    """One sweep directory and the names of the files in it (docs/sweeps.md)."""

    path: Path

    @property
    def name(self) -> str:
        return self.path.name

    sweep_yaml = property(lambda self: self.path / "sweep.yaml")
    base_yaml = property(lambda self: self.path / "base.yaml")  # what every trial trains from
    study_db = property(lambda self: self.path / "study.db")
    trials = property(lambda self: self.path / "trials")
    logs = property(lambda self: self.path / "logs")  # each trial's console output
    trials_csv = property(lambda self: self.path / "trials.csv")
    points_csv = property(lambda self: self.path / "points.csv")
    best_yaml = property(lambda self: self.path / "best.yaml")
    plots = property(lambda self: self.path / "plots")
    report = property(lambda self: self.path / "report.html")

    @property
    def label(self) -> str:
        from convcli.runs import Run

        return Run(self.path).label

    def storage_url(self) -> str:
        return f"sqlite:///{self.study_db.resolve()}"


def create_sweep_dir(runs_dir: Path, name: str) -> SweepDir:
    return SweepDir(create_run(Path(runs_dir) / SWEEPS, name).path)


def list_sweeps(runs_dir: Path) -> list[SweepDir]:
    """Every sweep directory under runs_dir, oldest first."""
    return [SweepDir(run.path) for run in list_runs(Path(runs_dir) / SWEEPS)]


def latest_sweep(runs_dir: Path, name: str) -> SweepDir | None:
    """The newest sweep of this name (its label without a -2 suffix), if any."""
    found = [s for s in list_sweeps(runs_dir) if s.label == name and s.sweep_yaml.is_file()]
    return found[-1] if found else None


def find_sweep(ref: str, runs_dir: Path) -> SweepDir | None:
    """A sweep a user names: its directory, or a unique prefix of its name."""
    if Path(ref, "sweep.yaml").is_file():
        return SweepDir(Path(ref))
    matches = [s for s in list_sweeps(runs_dir) if s.name.startswith(ref) or s.label.startswith(ref)]
    return matches[-1] if matches else None


def read_sweep(folder: SweepDir):
    """The Sweep a sweep directory was made from, read back from its sweep.yaml."""
    from convcli.sweeps.spec import sweep_from

    return sweep_from(SweepRecord.read(folder.sweep_yaml).spec, folder.sweep_yaml)


def read_csv(path: Path) -> list[dict]:
    try:
        with open(path, newline="") as handle:
            return list(csv.DictReader(handle))
    except OSError:
        return []


def listing_row(sweep: SweepDir) -> dict:
    """`convcli runs`' row for a sweep: trials done of total, and its best point."""
    trials, points = read_csv(sweep.trials_csv), read_csv(sweep.points_csv)
    try:
        record = SweepRecord.read(sweep.sweep_yaml)
    except RecordError:  # a listing never fails on one broken folder
        record = SweepRecord()
    spec = record.spec  # the sweep file as written; SweepFile checks it when the sweep runs
    done = sum(row.get("status") in ("completed", "pruned", "failed") for row in trials)
    completed = [p for p in points if p.get("status") == "completed" and p.get("mean")]
    best = None
    if completed:
        reverse = spec.get("mode", "max") == "max"
        best = sorted(completed, key=lambda p: float(p["mean"]), reverse=reverse)[0]
    return {"name": sweep.name, "metric": spec.get("metric"), "trials_done": done,
            "trials": record.trials, "best": best, "runs": len(list_runs(sweep.trials))}
