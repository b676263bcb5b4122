"""Run: the paths of one run directory, and creating, listing and finding runs.

A run directory is `<runs_dir>/<YYYY-MM-DD_HH-MM-SS>_<name>`, with a suffix `-2`, `-3`
when that name is taken; it is created with `mkdir`, which fails rather than reuse a
directory, so a run never overwrites another. Every file in it is written atomically
(a temporary file in the same directory, then `os.replace`). Never imports TensorFlow.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import platform
import re
import subprocess
import sys
import threading
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

from convcli.config import flatten, read_yaml
from convcli.errors import RecordError, RunError
from convcli.files import atomic_write_text
from convcli.records import Meta, Summary

STATUSES = ("running", "completed", "failed", "interrupted", "pruned")  # pruned: by a sweep
SWEEPS_FOLDER = "sweeps"  # <runs_dir>/sweeps/ holds sweep directories, not runs
# meta.json is read, changed and written whole: the training thread and the tracking
# thread (convcli/tracking/live.py) must not interleave those steps and lose a change.
_META_LOCK = threading.Lock()
_RUN_NAME = re.compile(r"^\d{4}-\d{2}-\d{2}_\d{2}-\d{2}-\d{2}_(.+)")


@dataclass(frozen=True)
class Run:
    """One run directory and the names of the files in it (docs/run-directory.md)."""

    path: Path

    @property
    def name(self) -> str:
        return self.path.name

    config = property(lambda self: self.path / "config.yaml")
    meta = property(lambda self: self.path / "meta.json")
    metrics = property(lambda self: self.path / "metrics.csv")
    summary = property(lambda self: self.path / "summary.json")
    model_txt = property(lambda self: self.path / "model.txt")
    checkpoints = property(lambda self: self.path / "checkpoints")
    best = property(lambda self: self.path / "checkpoints" / "best.keras")
    last = property(lambda self: self.path / "checkpoints" / "last.keras")
    curves = property(lambda self: self.path / "curves.png")
    gradcam = property(lambda self: self.path / "gradcam")
    tensorboard = property(lambda self: self.path / "tensorboard")
    scratch = property(lambda self: self.path / ".scratch")  # temporary files, removed at the end

    @property
    def label(self) -> str:
        """The name without its start time: the config's name (and a -2 suffix)."""
        return _RUN_NAME.sub(r"\1", self.name) if _RUN_NAME.match(self.name) else self.name

    def read_meta(self) -> Meta:
        """meta.json; RecordError when it is missing, damaged or from a newer convcli."""
        return Meta.read(self.meta)

    def meta_or_none(self) -> Meta | None:
        """meta.json, or None when it is missing or cannot be read (for scans of folders
        that never fail on one broken run)."""
        try:
            return self.read_meta()
        except RecordError:
            return None

    def status(self) -> str:
        """meta.json's status, for messages: "unknown" when it is missing or does not read."""
        meta = self.meta_or_none()
        return (meta and meta.status) or "unknown"

    def read_summary(self) -> Summary:
        """summary.json; RecordError when it is missing, damaged or from a newer convcli."""
        return Summary.read(self.summary)

    def summary_or_none(self) -> Summary | None:
        try:
            return self.read_summary()
        except RecordError:
            return None

    def update_meta(self, **fields) -> Meta:
        """Set fields in meta.json (made if missing), atomically."""
        with _META_LOCK:
            meta = (self.read_meta() if self.meta.exists() else Meta()).updated(**fields)
            atomic_write_text(self.meta, meta.to_json())
        return meta


def create_run(runs_dir: str | os.PathLike, name: str, now: dt.datetime | None = None) -> Run:
    """Make a new, empty run directory; never reuse an existing one."""
    runs_dir = Path(runs_dir)
    stamp = (now or dt.datetime.now()).strftime("%Y-%m-%d_%H-%M-%S")
    base = f"{stamp}_{_safe_name(name)}"
    try:
        runs_dir.mkdir(parents=True, exist_ok=True)
        for suffix in ["", *(f"-{n}" for n in range(2, 1000))]:
            try:
                (runs_dir / (base + suffix)).mkdir()
                return Run(runs_dir / (base + suffix))
            except FileExistsError:
                continue
    except OSError as error:
        raise RunError(f"cannot create a run in {runs_dir}: {error.strerror or error}; "
                       "choose another --runs-dir") from None
    raise RunError(f"too many runs named {base} in {runs_dir}")


def _safe_name(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "-", name).strip("-.") or "run"


def list_runs(runs_dir: str | os.PathLike) -> list[Run]:
    """Every run directory in runs_dir, oldest first (their names start with the time)."""
    runs_dir = Path(runs_dir)
    if not runs_dir.is_dir():
        return []
    return [Run(p) for p in sorted(runs_dir.iterdir()) if p.is_dir() and _RUN_NAME.match(p.name)]


def find_run(ref: str | os.PathLike | None, runs_dir: str | os.PathLike = "runs") -> Run:
    """The run a user means: a run directory, a unique prefix of a run's name (with or
    without its start time: `2026-11-25_10` or `augment`), or (None) the latest."""
    if ref is not None and Path(ref).is_dir():
        if (Path(ref) / "saved_model.pb").is_file():
            raise RunError(f"{ref} is an exported SavedModel, not a run: `convcli predict --model {ref}` "
                           "runs it; give this command the run it came from")
        return Run(Path(ref))
    runs = list_runs(runs_dir)
    if ref is None:
        if not runs:
            raise RunError(f"no runs in {runs_dir}; train one with `convcli train CONFIG`")
        return runs[-1]
    ref = str(ref)
    matches = [run for run in runs if run.name.startswith(ref) or run.label.startswith(ref)]
    if len(matches) == 1:
        return matches[0]
    if not matches:
        raise RunError(f"no run matches {ref!r} in {runs_dir} ({len(runs)} runs there; "
                       "`convcli runs` lists them)")
    names = ", ".join(run.name for run in matches[:5]) + (", ..." if len(matches) > 5 else "")
    raise RunError(f"{ref!r} matches {len(matches)} runs in {runs_dir}: {names}; give more of the name")


def describe_all(runs_dir: str | os.PathLike) -> list[dict]:
    """`describe` for every folder in runs_dir, oldest run first; [] if there is none."""
    runs_dir = Path(runs_dir)
    if not runs_dir.is_dir():
        return []
    return [describe(path) for path in sorted(runs_dir.iterdir())
            if path.is_dir() and path.name != SWEEPS_FOLDER]


def describe(path: Path) -> dict:
    """One line about any folder in a runs directory, for `convcli runs`; never raises.

    Killed runs (still `running` in meta.json, their process gone) and folders that are
    not runs, or not yet, are described as such rather than hidden.
    """
    run, row = Run(path), {"name": path.name}
    if not _RUN_NAME.match(path.name):
        return row | {"status": "not a run"}
    meta = run.meta_or_none()
    if meta is None:
        return row | {"status": "no meta.json" if not run.meta.exists() else "bad meta.json"}
    status = meta.status or "unknown"
    if status == "running" and meta.host == os.uname().nodename and not process_alive(meta.pid):
        status = "killed"
    summary = run.summary_or_none()
    return row | {"stage": meta.stage, "status": status, "reason": meta.reason,
                  "started": meta.started, "seconds": _elapsed_seconds(meta),
                  "epochs": summary.epochs if summary else _count_rows(run.metrics),
                  "val_accuracy": summary.best.val_accuracy if summary else None,
                  "test_accuracy": summary.metric("test_accuracy") if summary else None}


def compare(refs: list[str], runs_dir: str | os.PathLike
            ) -> tuple[list[dict], list[Summary | None], dict]:
    """For `convcli runs compare`: each run's description and summary (None: it has none
    that reads), and the config keys whose values differ."""
    runs = [find_run(ref, runs_dir) for ref in refs]
    return ([describe(run.path) for run in runs], [run.summary_or_none() for run in runs],
            config_differences(runs))


def config_differences(runs: list[Run]) -> dict[str, list]:
    """The config keys whose values differ between runs: {key: [value in each run]}."""
    configs = [flatten(read_yaml(run.config)) if run.config.is_file() else {} for run in runs]
    keys = sorted(set().union(*configs))
    return {key: [config.get(key, "-") for config in configs] for key in keys
            if len({json.dumps(config.get(key, "-"), default=str) for config in configs}) > 1}


def process_alive(pid) -> bool:
    """Whether a process with this pid exists on this machine (not this process)."""
    if not isinstance(pid, int) or pid == os.getpid():
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # it exists, owned by someone else
        return True
    return True


def _count_rows(path: Path) -> int | None:
    try:
        return max(0, len(path.read_text().splitlines()) - 1)
    except OSError:
        return None


def _elapsed_seconds(meta: Meta) -> float | None:
    try:
        started = dt.datetime.fromisoformat(meta.started)
        ended = dt.datetime.fromisoformat(meta.ended) if meta.ended else None
    except (TypeError, ValueError):
        return None
    return (ended - started).total_seconds() if ended else None


# --- provenance -----------------------------------------------------------------------


def versions() -> dict:
    """Versions of what a run depends on, read without importing any of it."""
    found = {"python": platform.python_version()}
    for package in ("convcli", "tensorflow", "keras", "numpy"):
        try:
            found[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            found[package] = None
    return found


def git_commit(directory: str | os.PathLike = ".") -> str | None:
    """The commit checked out where the user runs convcli, if that is a git checkout."""
    try:
        out = subprocess.run(["git", "rev-parse", "HEAD"], cwd=directory, capture_output=True,
                             text=True, timeout=5)
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() or None if out.returncode == 0 else None


def start_meta(run: Run, seed: int) -> Meta:
    """Write meta.json for a run that has just started."""
    return run.update_meta(status="running", command=sys.argv, started=now(), ended=None,
                           seed=seed, versions=versions(), git_commit=git_commit())


def finish_meta(run: Run, status: str, **fields) -> Meta:
    """Mark a run completed, failed or interrupted, with the end time."""
    assert status in STATUSES  # a programming error, never user input
    return run.update_meta(status=status, ended=now(), **fields)


def now() -> str:
    """The local time with its offset, as meta.json records times."""
    return dt.datetime.now().astimezone().isoformat(timespec="seconds")
