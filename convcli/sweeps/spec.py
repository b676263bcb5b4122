"""The sweep file: its schema, its points, and each point's validated config.

`load_sweep(path, overrides)` reads a sweep file with the one YAML reader, resolves its
base config (a path relative to the sweep file, or inline), applies `--set` overrides to
that base, and builds and validates the config of every point before anything trains,
so a value the config refuses is one error naming its point.
"""

from __future__ import annotations

import copy
import difflib
import hashlib
import itertools
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, Optional, Union

from pydantic import Field, ValidationError, field_validator, model_validator

from convcli.config import Config, Section, apply_override, key_paths, read_yaml, validate
from convcli.errors import ConfigError

DISTRIBUTIONS = ("uniform", "loguniform", "int", "choice")
METRICS = {"val_accuracy": "max", "val_loss": "min", "test_accuracy": "max"}
GRID_LIMIT = 10_000  # points; more is a typo, not an experiment


class Pruning(Section):
    method: Literal["none", "successive_halving", "median"] = Field(
        "none", description="stop hopeless points early, judged on their first seed")
    grace_epochs: int = Field(5, ge=1, description="epochs every point trains before it can be stopped")
    reduction_factor: int = Field(3, ge=2, description="successive halving keeps 1 in this many "
                                  "points at each rung")


class SweepFile(Section):
    """One sweep file: a base config, the keys to vary, and how to search and judge."""

    name: Optional[str] = Field(None, description="default: the sweep file's stem")
    base: Union[str, dict] = Field(..., description="a config path (relative to the sweep file) "
                                   "or an inline config")
    set: dict[str, Any] = Field(default_factory=dict, description="dotted config keys -> one "
                                "value, applied to the base for every trial (as --set is)")
    params: dict[str, Any] = Field(default_factory=dict, description="dotted config keys -> a list "
                                   "of values, or {uniform|loguniform|int|choice: ...}")
    search: Literal["grid", "one-at-a-time", "random", "tpe"] = Field(
        "grid", description="grid: every combination | one-at-a-time: the base config, then each "
        "listed value alone on top of it (what each ingredient adds) | random: samples points "
        "drawn up front | tpe: each point drawn from the results so far")
    samples: Optional[int] = Field(None, ge=1, description="points to draw (random and tpe; "
                                   "default 20)")
    seeds: int = Field(1, ge=1, le=100, description="each point trains with seed, seed+1, ...")
    metric: Literal["val_accuracy", "val_loss", "test_accuracy"] = Field(
        "val_accuracy", description="what judges a trial: its best checkpoint's val_accuracy, "
        "val_loss or test_accuracy")
    mode: Optional[Literal["max", "min"]] = Field(None, description="default: implied by the metric")
    pruning: Pruning = Field(default_factory=Pruning, description="stopping hopeless points early")
    workers: Optional[int] = Field(None, ge=1, le=256, description="trials at once on this machine "
                                   "(default: the number of GPUs, else 1)")

    @field_validator("set")
    @classmethod
    def _known_set_keys(cls, values: dict) -> dict:
        check_keys(values)
        return values

    @field_validator("params")
    @classmethod
    def _known_param_keys(cls, params: dict) -> dict:
        check_keys(params)
        return {key: parse_param(key, value) for key, value in params.items()}

    @model_validator(mode="after")
    def _fill(self) -> "SweepFile":
        if self.search in ("grid", "one-at-a-time"):
            if self.samples is not None:
                raise ValueError(f"samples applies to search: random or tpe; {self.search} runs "
                                 "every point its values make (remove samples)")
            ranged = [k for k, v in self.params.items() if v[0] in ("uniform", "loguniform")]
            if ranged:
                raise ValueError(f"search: {self.search} takes lists of values; {', '.join(ranged)} "
                                 "is a continuous range: list values, or use search: random or tpe")
        elif self.samples is None:
            self.samples = 20
        if self.mode is None:
            self.mode = METRICS[self.metric]
        return self


def check_keys(keys) -> None:
    """Every key must be a config key, as --set spells it; seed and name are the sweep's."""
    known = key_paths()
    for key in keys:
        if key in ("seed", "name"):
            raise ValueError(f"{key} is set by the sweep for each trial (seeds: gives the number "
                             "of seeds); remove it")
        if key not in known:
            close = difflib.get_close_matches(key, known, n=1)
            hint = f"did you mean {close[0]}?" if close else "give dotted config keys, as --set " \
                "spells them (e.g. train.learning_rate)"
            raise ValueError(f"{key} is no config key; {hint}")


def parse_param(key: str, value: Any) -> tuple[str, Any]:
    """A param as ("choice", [values]) or (distribution, [low, high])."""
    if isinstance(value, list):
        kind, args = "choice", value
    elif isinstance(value, dict) and len(value) == 1 and next(iter(value)) in DISTRIBUTIONS:
        kind, args = next(iter(value.items()))
    else:
        raise ValueError(f"{key} takes a list of values or one of {{{' | '.join(DISTRIBUTIONS)}: "
                         f"...}}. Received: {value!r}")
    if kind == "choice":
        if not isinstance(args, list) or not args:
            raise ValueError(f"{key}: an empty list of values makes an empty grid; give at least one")
        return kind, args
    if not (isinstance(args, list) and len(args) == 2):
        raise ValueError(f"{key}: {kind} takes [low, high]. Received: {args!r}")
    try:
        low, high = (int(a) if kind == "int" else float(a) for a in args)
    except (TypeError, ValueError):
        raise ValueError(f"{key}: {kind} bounds must be numbers. Received: {args!r}") from None
    if kind == "int" and any(float(a) != int(a) for a in args):
        raise ValueError(f"{key}: int bounds must be whole numbers. Received: {args!r}")
    if low >= high:
        raise ValueError(f"{key}: {kind} needs low < high. Received: [{low}, {high}]")
    if kind == "loguniform" and low <= 0:
        raise ValueError(f"{key}: loguniform needs low > 0. Received: [{low}, {high}]")
    return kind, [low, high]


@dataclass
class Sweep:
    """A resolved sweep: the file's settings, the raw base config and the points to train."""

    spec: SweepFile
    base: dict  # the base config as a mapping, --set applied, before validation
    points: list[dict]  # grid and random: every point's params; tpe: [] (drawn as it goes)
    source: str

    @property
    def name(self) -> str:
        return self.spec.name

    @property
    def point_count(self) -> int:
        return len(self.points) if self.spec.search != "tpe" else self.spec.samples

    @property
    def trial_count(self) -> int:
        return self.point_count * self.spec.seeds

    def resolved(self) -> dict:
        """What sweep.yaml records: the file with its base inlined and its defaults filled."""
        record = self.spec.model_dump(mode="json", exclude={"workers", "set"})
        record["params"] = {key: (list(args) if kind == "choice" else {kind: list(args)})
                            for key, (kind, args) in self.spec.params.items()}
        return record | {"base": self.base}

    def fingerprint(self) -> str:
        """Equal for the same sweep: the same base, params, search, seeds and judging."""
        text = json.dumps(self.resolved(), sort_keys=True, default=str)
        return hashlib.sha256(text.encode()).hexdigest()[:16]

    def config_for(self, params: dict, seed_index: int = 0, where: str = "the base config") -> Config:
        """The validated config of one point and seed; ConfigError naming the point."""
        raw = copy.deepcopy(self.base)
        for key, value in params.items():
            apply_override(raw, f"{key}={json.dumps(value)}")
        raw["seed"] = self.seed + seed_index
        return validate(raw, source=f"{self.source}: {where}")

    @property
    def seed(self) -> int:
        return int(self.base.get("seed", Config.model_fields["seed"].default))

    @property
    def max_epochs(self) -> int:
        """Epochs one trial trains at most, every phase counted."""
        return self.epochs_of(self.points[0] if self.points else {})

    def epochs_of(self, params: dict) -> int:
        """Epochs a point's trial trains, every phase counted (fewer if it stops early)."""
        cfg = self.config_for(params)
        return cfg.train.epochs + (cfg.fine_tune.head_epochs if cfg.fine_tune else 0)


def load_sweep(path: str | Path, overrides: list[str] | tuple[str, ...] = ()) -> Sweep:
    """Read and check a sweep file; every point's config is validated here."""
    path = Path(path)
    return sweep_from(read_yaml(path), path, overrides)


def sweep_from(raw: dict, path: Path, overrides: list[str] | tuple[str, ...] = ()) -> Sweep:
    """A Sweep from a sweep file's mapping (path: where it came from, for base and errors)."""
    raw.setdefault("name", path.stem)
    try:
        spec = SweepFile.model_validate(raw)
    except ValidationError as error:
        raise ConfigError(f"{path}: {_describe(error)}") from None
    base = _read_base(spec.base, path)
    for key, value in spec.set.items():
        apply_override(base, f"{key}={json.dumps(value)}")
    for override in overrides:
        apply_override(base, override)
    base["name"] = spec.name
    sweep = Sweep(spec, base, [], str(path))
    sweep.config_for({})  # the base itself
    if spec.search == "grid":
        sweep.points = grid_points(spec.params)
    elif spec.search == "one-at-a-time":
        sweep.points = one_at_a_time_points(spec.params, sweep.config_for({}))
    elif spec.search == "random":
        sweep.points = random_points(spec.params, spec.samples, sweep.seed)
    check_points(sweep)
    return sweep


def _read_base(base: str | dict, sweep_path: Path) -> dict:
    if isinstance(base, dict):
        return copy.deepcopy(base)
    config_path = (sweep_path.parent / base)
    if not config_path.is_file():
        raise ConfigError(f"{sweep_path}: base {base} is not a file (looked for {config_path}; "
                          "a path is relative to the sweep file)")
    return read_yaml(config_path)


def grid_points(params: dict) -> list[dict]:
    """Every combination of the listed values (an int range lists its integers)."""
    axes = []
    for key, (kind, args) in params.items():
        axes.append([(key, value) for value in (args if kind == "choice" else range(args[0], args[1] + 1))])
    count = 1
    for axis in axes:
        count *= len(axis)
    if count > GRID_LIMIT:
        raise ConfigError(f"the grid has {count} points, more than {GRID_LIMIT}; list fewer values "
                          "or use search: random with samples")
    return [dict(combination) for combination in itertools.product(*axes)]


def one_at_a_time_points(params: dict, base: Config) -> list[dict]:
    """The base config's values of every key first, then each listed value that differs
    from the base's, alone, the other keys at the base's values. Each key's list gains
    the base's value in place (first), so every point is one of its choices."""
    settings = base.model_dump(mode="json")
    baseline = {}
    for key in params:
        value = settings
        for part in key.split("."):
            value = value.get(part) if isinstance(value, dict) else None
        baseline[key] = value
        kind, values = params[key]
        params[key] = (kind, [value] + [v for v in values if v != value])
    points = [dict(baseline)]
    for key, (_, values) in params.items():
        points += [baseline | {key: value} for value in values[1:]]
    return points


def random_points(params: dict, samples: int, seed: int) -> list[dict]:
    """`samples` points drawn up front by Optuna's RandomSampler, seeded by the config seed,
    so every machine and every rerun trains the same points."""
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=seed))
    points = []
    for _ in range(samples):
        trial = study.ask()
        points.append({key: suggest(trial, key, param) for key, param in params.items()})
        study.tell(trial, 0.0)
    return points


def suggest(trial, key: str, param: tuple[str, Any]):
    """One param's value for an Optuna trial (fixed when the trial was enqueued with it)."""
    kind, args = param
    if kind == "choice":
        # Optuna's choices are scalars: other values travel as their JSON text.
        encoded = [json.dumps(value) if isinstance(value, (list, dict)) else value for value in args]
        value = trial.suggest_categorical(key, encoded)
        return json.loads(value) if isinstance(value, str) and value not in args else value
    if kind == "int":
        return trial.suggest_int(key, args[0], args[1])
    return trial.suggest_float(key, args[0], args[1], log=kind == "loguniform")


def check_points(sweep: Sweep) -> None:
    """Build every point's config (tpe: every corner of the ranges) before anything trains."""
    points = sweep.points or corner_points(sweep.spec.params)
    for number, params in enumerate(points, start=1):
        shown = ", ".join(f"{key}={json.dumps(value)}" for key, value in params.items())
        where = f"point {number} ({shown})" if sweep.points else f"params {shown}"
        sweep.config_for(params, where=where)


def corner_points(params: dict) -> list[dict]:
    """The extreme values of each param, for a search that draws its points as it goes."""
    axes = [[(key, args[0]), (key, args[-1])] for key, (kind, args) in params.items()]
    return [dict(combination) for combination in itertools.product(*axes)] or [{}]


def _describe(error: ValidationError) -> str:
    first = sorted(error.errors(), key=lambda e: e["type"] != "extra_forbidden")[0]
    where = ".".join(str(part) for part in first["loc"])
    if first["type"] == "extra_forbidden":
        known = list(SweepFile.model_fields) if len(first["loc"]) == 1 else list(Pruning.model_fields)
        close = difflib.get_close_matches(str(first["loc"][-1]), known, n=1)
        hint = f"; did you mean {close[0]}?" if close else f"; known keys: {', '.join(known)}"
        return f"unknown key {where}{hint}"
    if first["type"] == "missing":
        return f"{where} is required"
    message = first["msg"].removeprefix("Value error, ")
    if first["type"] == "value_error":
        return f"{where}: {message}" if where else message
    return f"{where}: {message}. Received: {first.get('input')!r}"
