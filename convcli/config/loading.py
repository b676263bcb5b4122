"""Reading a config: the only YAML reader, `--set` overrides, validation with one-line
errors, the upgrade of older config versions, and the resolved config written back as YAML.

`load_config(path, overrides)` reads a YAML file (safeyaml.py: safe and bounded), applies `--set`
overrides, validates, and returns a `Config`. Any problem becomes a `ConfigError`
whose one-line message names the file, the key path and the value received.
"""

from __future__ import annotations

import difflib
import os
from pathlib import Path
from typing import Callable

import yaml
from pydantic import BaseModel, ValidationError

from convcli import safeyaml
from convcli.config.rules import STAGE_SECTIONS
from convcli.config.schema import CONFIG_VERSION, Config
from convcli.errors import ConfigError

MAX_SHOWN = 80  # characters of a received value quoted in an error

# The steps that read older config versions: UPGRADES[n] turns the mapping of a version-n
# config into version n + 1 (a renamed key, a moved section). Version 1 is the format since
# the first release, so there is no step yet; the first change to a key name adds
# UPGRADES[1] (docs/architecture.md#record-and-config-versions).
UPGRADES: dict[int, Callable[[dict], dict]] = {}


def load_config(path: str | os.PathLike, overrides: list[str] | tuple[str, ...] = ()) -> Config:
    """Read, override and validate a config file; raise ConfigError on any problem."""
    path = Path(path)
    raw = read_yaml(path)
    for override in overrides:
        apply_override(raw, override)
    raw.setdefault("name", path.stem)
    return validate(raw, source=str(path))


def read_yaml(path: Path) -> dict:
    """The mapping in a YAML file, read safely (no Python tags run) and within
    safeyaml's limits (size, aliases, depth, numbers; no key written twice)."""
    try:
        with open(path, "rb") as handle:
            raw = handle.read(safeyaml.MAX_BYTES + 1)  # a file of any size: read no more
        if len(raw) > safeyaml.MAX_BYTES:
            raise ConfigError(f"{path} is larger than {safeyaml.MAX_BYTES // 1024} KiB; a config "
                              "or sweep file is a few kB (is it the right file?)")
        text = raw.decode("utf-8")
    except FileNotFoundError:
        raise ConfigError(f"config file {path} does not exist") from None
    except (IsADirectoryError, PermissionError, UnicodeDecodeError) as error:
        raise ConfigError(f"cannot read config file {path}: {error.__class__.__name__}") from None
    try:
        data = safeyaml.load(text)
    except yaml.MarkedYAMLError as error:
        mark = error.problem_mark or error.context_mark
        where = f"{path}:{mark.line + 1}:{mark.column + 1}" if mark else str(path)
        problem = (error.problem or error.context or "invalid YAML").strip()
        raise ConfigError(f"{where}: YAML error: {problem}") from None
    except yaml.YAMLError as error:
        raise ConfigError(f"{path}: YAML error: {error}") from None
    if data is None:
        raise ConfigError(f"{path} is empty; a config needs at least `stage:` "
                          f"({' | '.join(STAGE_SECTIONS)})")
    if not isinstance(data, dict):
        raise ConfigError(f"{path} must hold a mapping of config keys, not a "
                          f"{type(data).__name__}")
    return data


def flatten(node, prefix: str = "") -> dict:
    """A nested config mapping as {"train.epochs": 30, ...}."""
    if isinstance(node, dict):
        return {k: v for key, value in node.items() for k, v in flatten(value, f"{prefix}{key}.").items()}
    return {prefix.rstrip("."): node}


def apply_override(raw: dict, override: str) -> None:
    """Apply one `key.path=value` override in place; the value is read as YAML."""
    key, sep, text = override.partition("=")
    if not sep or not key.strip():
        raise ConfigError(f"--set expects key.path=value, e.g. train.epochs=3. Received: {override!r}")
    try:
        value = safeyaml.load(text)
    except yaml.YAMLError:
        raise ConfigError(f"--set {key}: the value is not valid YAML. Received: {text!r}") from None
    parts = key.strip().split(".")
    node = raw
    for depth, part in enumerate(parts[:-1]):
        child = node.setdefault(part, {})
        if child is None:
            child = node[part] = {}
        if not isinstance(child, dict):
            raise ConfigError(f"--set {key}: {'.'.join(parts[:depth + 1])} is a value, not a "
                              f"section. Received: {override!r}")
        node = child
    node[parts[-1]] = value


def validate(raw: dict, source: str = "config") -> Config:
    """A Config from a plain mapping (of any version this convcli reads), or a ConfigError
    naming the first problem."""
    try:
        return Config.model_validate(upgrade(raw, source))
    except ValidationError as error:
        # An unknown key first: a misspelt `stage` also makes `stage` missing.
        errors = sorted(error.errors(), key=lambda e: e["type"] != "extra_forbidden")
        problems = [_describe(e) for e in errors]
        more = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
        raise ConfigError(f"{source}: {problems[0]}{more}") from None


def upgrade(raw: dict, source: str) -> dict:
    """The mapping of a config brought to CONFIG_VERSION (no `version`: this one)."""
    version = raw.get("version", CONFIG_VERSION)
    if not isinstance(version, int) or isinstance(version, bool) or version < 1:
        raise ConfigError(f"{source}: version must be a whole number from 1 (the config format's "
                          f"version; leave it out for this convcli's, {CONFIG_VERSION}). Received: {version!r}")
    if version > CONFIG_VERSION:
        raise ConfigError(f"{source} was written by a newer convcli (version {version}; this convcli "
                          f"reads configs up to version {CONFIG_VERSION}); upgrade convcli "
                          "(pip install -U convcli), or write the config for this one")
    for step in range(version, CONFIG_VERSION):
        raw = UPGRADES[step](raw)
    return {**raw, "version": CONFIG_VERSION}


def _describe(error: dict) -> str:
    """One pydantic error as `key.path: what is wrong. Received: value`."""
    loc = [str(part) for part in error["loc"]]
    where = ".".join(loc) or "config"
    if error["type"] == "extra_forbidden":
        known = _field_names(loc[:-1])
        close = difflib.get_close_matches(loc[-1], known, n=1)
        hint = f"; did you mean {close[0]}?" if close else f"; known keys: {', '.join(known)}"
        return f"unknown key {where}{hint}"
    if error["type"] == "missing":
        return f"{where} is required"
    message = error["msg"].removeprefix("Value error, ")
    if error["type"] == "value_error" and (not loc or isinstance(error.get("input"), dict)):
        return f"{where}: {message}" if loc else message  # a rule across keys
    received = repr(error.get("input"))
    if len(received) > MAX_SHOWN:
        received = received[:MAX_SHOWN - 3] + "..."
    return f"{where}: {message}. Received: {received}"


def _field_names(loc: list[str]) -> list[str]:
    """The keys allowed at a key path, for did-you-mean hints."""
    model: type[BaseModel] = Config
    for part in loc:
        field = model.model_fields.get(part)
        annotation = getattr(field, "annotation", None)
        inner = [a for a in getattr(annotation, "__args__", (annotation,)) if isinstance(a, type)
                 and issubclass(a, BaseModel)]
        if not inner:
            return []
        model = inner[0]
    return list(model.model_fields)


def to_yaml(cfg: Config) -> str:
    """The resolved config as YAML, in schema order, loadable by load_config."""
    return yaml.safe_dump(cfg.model_dump(mode="json"), sort_keys=False)
