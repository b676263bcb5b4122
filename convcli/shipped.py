"""The configs and sweep files convcli ships as package data: found by name, listed, copied out.

They live in convcli/configs/ (a clone's `configs/` is a link to it), so `convcli train
finetune` and `convcli demo` work from an installed wheel, outside any checkout. A
shipped config's name is its path under that folder without `.yaml`: `finetune`,
`book/finetune`, `sweeps/lr`; `convcli sweep` also takes a sweep's name without `sweeps/`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from convcli.errors import ConfigError
from convcli.files import atomic_write_text

SHIPPED = Path(__file__).resolve().parent / "configs"
SWEEPS = "sweeps/"
_BASE_LINE = re.compile(r"^base:[ \t]*(\S+)[ \t]*$", re.MULTILINE)


@dataclass(frozen=True)
class ShippedFile:
    """One shipped config or sweep file."""

    name: str  # as `convcli configs` lists it: finetune, book/finetune, sweeps/lr
    path: Path
    kind: str  # a config's stage, or "sweep of <its base config>"
    description: str  # the first sentence of the file's first comment line

    @property
    def is_sweep(self) -> bool:
        return self.name.startswith(SWEEPS)


def shipped_files() -> list[ShippedFile]:
    """Every shipped file: the workflow's configs, then book/, then sweeps/."""
    paths = sorted(SHIPPED.rglob("*.yaml"), key=lambda p: (len(p.relative_to(SHIPPED).parts),
                                                            p.parent.name, p.stem))
    return [_describe(path) for path in paths]


def _describe(path: Path) -> ShippedFile:
    name = path.relative_to(SHIPPED).with_suffix("").as_posix()
    text = path.read_text(encoding="utf-8")
    return ShippedFile(name, path, _kind(name, text), _first_sentence(text))


def _first_sentence(text: str) -> str:
    """The file's first comment line, up to the end of its first sentence."""
    line = next((line.lstrip("#").strip() for line in text.splitlines() if line.startswith("#")), "")
    end = re.search(r"[.?](\s|$)", line)
    return line[:end.start() + 1] if end else line


def _kind(name: str, text: str) -> str:
    if name.startswith(SWEEPS):
        base = _BASE_LINE.search(text)
        return f"sweep of {Path(base.group(1)).stem}" if base else "sweep"
    stage = re.search(r"^stage:[ \t]*([\w-]+)", text, re.MULTILINE)
    return stage.group(1) if stage else "-"


def config_path(config: str | Path) -> Path:
    """`convcli train`'s CONFIG: a path that exists as given, else a shipped config's name."""
    return _resolve(config, sweeps=False)


def sweep_path(sweep: str | Path) -> Path:
    """`convcli sweep`'s SWEEP: a path that exists as given, else a shipped sweep's name
    (with or without `sweeps/`)."""
    return _resolve(sweep, sweeps=True)


def _resolve(given: str | Path, sweeps: bool) -> Path:
    if Path(given).exists():
        return Path(given)  # a file (or whatever is there: the reader says what is wrong)
    found = _find(str(given), [f for f in shipped_files() if f.is_sweep == sweeps])
    if found is not None:
        return found.path
    what = "sweep" if sweeps else "config"
    raise ConfigError(f"{what} file {given} does not exist, nor is it the name of a shipped {what}: "
                      f"{_names(sweeps)} (convcli configs lists them)")


def _find(given: str, files: list[ShippedFile]) -> ShippedFile | None:
    name = re.sub(r"\.ya?ml$", "", given.replace("\\", "/"))
    for shipped in files:
        if name in (shipped.name, shipped.name.removeprefix(SWEEPS)):
            return shipped
    return None


def _names(sweeps: bool | None = None) -> str:
    return ", ".join(f.name for f in shipped_files() if sweeps is None or f.is_sweep == sweeps)


def copy_shipped(name: str, directory: Path) -> tuple[ShippedFile, list[Path]]:
    """Write a shipped file into directory to edit. A sweep comes with its base config, its
    `base:` rewritten to the copy beside it (a base file already there with the same text
    is used as it is). Never overwrites a file; returns the files written, the copy last."""
    shipped = _find(name, shipped_files())
    if shipped is None:
        raise ConfigError(f"{name} is not the name of a shipped config or sweep; choose one of "
                          f"{_names()}")
    if directory.exists() and not directory.is_dir():
        raise ConfigError(f"{directory} is a file; give a folder to copy {shipped.name} into")
    copy, text = directory / shipped.path.name, shipped.path.read_text(encoding="utf-8")
    planned = {}
    base = _BASE_LINE.search(text) if shipped.is_sweep else None
    if base is not None:
        base_file = (shipped.path.parent / base.group(1)).resolve()
        planned[directory / base_file.name] = base_file.read_text(encoding="utf-8")
        text = text[:base.start(1)] + base_file.name + text[base.end(1):]
    for path in (copy, *planned):
        if path.exists() and (path == copy or path.read_bytes() != planned[path].encode()):
            raise ConfigError(f"{path} already exists; convcli configs copy never overwrites a file "
                              "(move it away, or copy into another folder: convcli configs copy "
                              f"{shipped.name} DIR)")
    planned[copy] = text  # written last: a sweep appears only once its base is there
    try:
        directory.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise ConfigError(f"cannot create folder {directory}: {error.strerror}") from None
    written = [path for path in planned if not path.exists()]
    for path in written:
        atomic_write_text(path, planned[path])
    return shipped, written
