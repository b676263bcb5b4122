"""Files: writing them atomically, staging whole folders, reading JSON, the cache folder.

Every file convcli keeps is written to a temporary name beside its place and renamed
onto it with `os.replace`, so a process killed mid-write leaves the previous file (or
none), never half of one; folders are built the same way (`staged_folder`). Every
module that writes (runs, data, training, the exporters, ...) uses these; this one
imports only convcli.errors and convcli.safeyaml (JSON read within bounds).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
import time
from pathlib import Path
from typing import Iterator

from convcli.errors import RunError, raise_if_interrupted
from convcli.safeyaml import read_json  # noqa: F401  (where callers have long found it)


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """A temporary path beside `path`; renamed onto `path` only if the block succeeds.

    A process killed mid-write leaves the previous file intact (docs/notes.md#atomic-checkpoints:
    a killed `.keras` save was unloadable 6 times in 6).
    """
    path = Path(path)
    make_folder(path.parent)
    # Keep every suffix: Keras wants weights files to end in ".weights.h5".
    handle, temp = tempfile.mkstemp(prefix=f".{path.stem}.", suffix="".join(path.suffixes),
                                    dir=path.parent)
    os.close(handle)
    os.chmod(temp, 0o666 & ~_umask())  # mkstemp makes 0600; files get the usual mode
    try:
        yield Path(temp)
        _pause_for_tests(path)
        os.replace(temp, path)
    finally:
        if os.path.exists(temp):
            os.remove(temp)


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> None:
    with atomic_path(path) as temp:
        temp.write_bytes(data)


def atomic_write_text(path: str | os.PathLike, text: str) -> None:
    atomic_write_bytes(path, text.encode())


@contextlib.contextmanager
def staged_folder(folder: str | os.PathLike) -> Iterator[Path]:
    """A new empty folder beside `folder`; renamed onto it (missing or empty) only if the
    block succeeds, removed otherwise: a folder is there complete or not at all."""
    folder = Path(folder)
    make_folder(folder.parent)
    staging = Path(tempfile.mkdtemp(prefix=f".{folder.name}.", dir=folder.parent))
    try:
        yield staging
        raise_if_interrupted()  # a stop some library swallowed still keeps the folder out
        staging.chmod(0o777 & ~_umask())  # mkdtemp makes 0700; folders get the usual mode
        os.replace(staging, folder)
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def make_folder(folder: Path) -> None:
    """mkdir -p, or a RunError saying why the folder cannot be there (a file has its name)."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise RunError(f"cannot create folder {folder}: {error.strerror or error} (is {error.filename} "
                       "a file?)" if isinstance(error, (FileExistsError, NotADirectoryError))
                       else f"cannot create folder {folder}: {error.strerror or error}") from None




def cache_dir() -> Path:
    """Where convcli keeps what it builds once: the built-in data and base, feature caches,
    data-check records.

    $CONVCLI_CACHE, else $XDG_CACHE_HOME/convcli, else ~/.cache/convcli.
    """
    if os.environ.get("CONVCLI_CACHE"):
        return Path(os.environ["CONVCLI_CACHE"])
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "convcli"


_writes: dict[str, int] = {}


def _pause_for_tests(path: Path) -> None:
    """A fault-injection hook: CONVCLI_TEST_PAUSE=<file name>#<n> makes the n-th write of
    that file stop after its temp file is complete and before the rename, and touch
    `.<file>.paused` beside it, so a test can kill the process at exactly that moment."""
    wanted = os.environ.get("CONVCLI_TEST_PAUSE")
    if not wanted:
        return
    name, _, count = wanted.partition("#")
    if path.name == name:
        _writes[name] = _writes.get(name, 0) + 1
        if _writes[name] == int(count or 1):
            path.with_name(f".{path.name}.paused").touch()
            while True:
                time.sleep(1)


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask
