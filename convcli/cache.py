"""The cache folder's entries: what each one is, who is using it, and pruning them.

An entry is one folder or file under `cache_dir()` that convcli rebuilds when it is
missing: a dataset's features (`features/`), its decoded images (`images/`), a data
check's record (`checks/`), the built-in data (`data/`) and base (`bases/`). A folder
entry may carry `entry.json` (what it was made from), written when it is made; its
modification time is the entry's last use, touched at every hit.

A process holds a lock on `.<name>.lock` beside an entry while it writes or reads it
(exclusive to write, shared to read, `fcntl.flock`), so `convcli cache prune` skips
what a running process uses: the lock goes when the process does, even when it is
killed. Staging folders (`.<name>.<random>`, files.staged_folder) are a writer's and
are pruned only when nobody holds their entry's lock (a killed writer's leftovers).
The built-in data and base are read all through a run: a process that opens them holds
their lock, shared, until it ends (`hold`).
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

from convcli.safeyaml import read_json

RECORD = "entry.json"
KINDS = {"features": "features", "images": "decoded images", "checks": "data check",
         "data": "built-in data", "bases": "built-in base"}


@dataclass
class Entry:
    kind: str  # a key of KINDS
    path: Path
    size: int  # bytes
    last_use: float  # seconds since the epoch
    about: str  # what it was made from, for a person
    busy: bool  # a running process holds its lock
    staging: bool = False  # a writer's unfinished folder


def lock_path(entry: Path) -> Path:
    return entry.parent / f".{entry.name}.lock"


@contextlib.contextmanager
def locked(entry: Path, exclusive: bool = False) -> Iterator[None]:
    """Hold the entry's lock (shared to read, exclusive to write) for the block."""
    entry.parent.mkdir(parents=True, exist_ok=True)
    with open(lock_path(entry), "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX if exclusive else fcntl.LOCK_SH)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


_HELD: dict[Path, object] = {}  # lock files this process holds until it ends, by entry


def hold(entry: Path) -> None:
    """Hold the entry's lock, shared, until this process ends, so `cache prune` keeps it.

    For what a run reads from start to end (the built-in data, read every epoch) or
    may read again (the built-in base). Waits while a prune removes the entry.
    """
    if entry in _HELD:
        return
    entry.parent.mkdir(parents=True, exist_ok=True)
    path = lock_path(entry)
    while True:
        handle = open(path, "a")
        fcntl.flock(handle, fcntl.LOCK_SH)
        # A prune unlinks the lock file once the entry is gone: a lock on the file it
        # removed would hold nothing, so lock the file that is there now.
        with contextlib.suppress(FileNotFoundError):
            if os.stat(path).st_ino == os.fstat(handle.fileno()).st_ino:
                _HELD[entry] = handle
                return
        handle.close()


@contextlib.contextmanager
def _unused(entry: Path) -> Iterator[bool]:
    """True, holding the entry's lock exclusively for the block, when nobody else holds it."""
    path = lock_path(entry)
    if not path.exists():
        yield True
        return
    with open(path, "a") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            yield False
            return
        yield True


def write_record(folder: Path, about: dict) -> None:
    """entry.json: what the entry was made from (compared by `replace_stale`); written
    into a staging folder, so it needs no atomic write of its own."""
    (folder / RECORD).write_text(json.dumps(about, sort_keys=True, indent=1), encoding="utf-8")


def record_use(folder: Path) -> None:
    """Mark the entry used now (its record's modification time)."""
    with contextlib.suppress(OSError):
        os.utime(folder / RECORD)


def replace_stale(folder: Path, same: tuple[str, ...]) -> list[Path]:
    """Remove the other entries beside `folder` whose records agree with its record on
    every key in `same` (the same dataset folder, base and size, say): a new copy
    replaces the stale one instead of piling up. Entries in use are kept."""
    mine = read_json(folder / RECORD)
    if not mine or any(key not in mine for key in same):
        return []
    removed = []
    for other in sorted(folder.parent.iterdir()):
        if other == folder or other.name.startswith(".") or not other.is_dir():
            continue
        theirs = read_json(other / RECORD)
        if theirs and all(theirs.get(key) == mine[key] for key in same) and _remove(other):
            removed.append(other)
    return removed


def _remove(entry: Path) -> bool:
    """Delete an entry unless a process uses it; True when it is gone."""
    with _unused(entry) as free:
        if not free:
            return False
        if entry.is_dir():
            shutil.rmtree(entry, ignore_errors=True)
        else:
            entry.unlink(missing_ok=True)
    lock_path(entry).unlink(missing_ok=True)
    return not entry.exists()


def entries(root: Path) -> list[Entry]:
    """Every entry of the cache folder, oldest use first."""
    found = []
    for kind in KINDS:
        folder = root / kind
        if folder.is_dir():
            found += [_entry(kind, path) for path in sorted(folder.iterdir())
                      if not path.name.endswith(".lock")]
    return sorted(found, key=lambda entry: entry.last_use)


def _entry(kind: str, path: Path) -> Entry:
    staging = path.name.startswith(".")
    owner = path.parent / path.name[1:].split(".")[0] if staging else path
    record = read_json(path / RECORD) if path.is_dir() else {}
    with _unused(owner) as free:
        busy = not free
    return Entry(kind, path, _size(path), _last_use(path), _about(record, path), busy, staging)


def _size(path: Path) -> int:
    if not path.is_dir():
        return path.stat().st_size if path.exists() else 0
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file() and not f.is_symlink())


def _last_use(path: Path) -> float:
    """The latest modification time of the entry, its record or its files."""
    if not path.is_dir():
        return path.stat().st_mtime
    return max([path.stat().st_mtime] + [f.stat().st_mtime for f in path.iterdir()])


def _about(record: dict, path: Path) -> str:
    if not record:
        return path.name
    size = "x".join(str(side) for side in record.get("image_size", []))
    parts = [record.get("base", ""), size, record.get("color_mode", ""), record.get("dataset", "")]
    return " ".join(str(part) for part in parts if part)


def prune(root: Path, older_than_days: float | None = None, everything: bool = False) -> list[Entry]:
    """Remove entries last used more than `older_than_days` ago (every entry with
    `everything`); never one a running process holds. Returns what was removed."""
    cutoff = time.time() - (older_than_days or 0) * 86400
    removed = []
    for entry in entries(root):
        if entry.busy or not (everything or entry.last_use < cutoff):
            continue
        owner = entry.path if not entry.staging else None
        if owner is None:
            shutil.rmtree(entry.path, ignore_errors=True)
            removed.append(entry)
        elif _remove(owner):
            removed.append(entry)
    return removed
