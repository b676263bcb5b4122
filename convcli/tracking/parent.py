"""A sweep's parent run on MLflow: found by its tag convcli.sweep_id (so sweep processes
on several machines sharing one study write under one parent) or made, with the sweep's
settings as params and its points as metrics and tags."""

from __future__ import annotations

import json
import os

from convcli.config import flatten
from convcli.tracking import mlflow_client as api
from convcli.tracking.params import MAX_VALUE_LENGTH
from convcli.tracking.target import Target

ROLE_TAG = "convcli.role"  # "sweep" on a parent; its trials carry convcli.sweep_id too


def open_parent(client, target: Target, sweep_id: str, name: str, tags: dict) -> str:
    """The parent run's id: the oldest run tagged with this sweep id, else a new one. Two
    machines that both made one at once keep the oldest, and the other is deleted."""
    experiment = api.experiment_id(client, target.experiment)
    found = _parents(client, experiment, sweep_id)
    if found:
        return found[0].info.run_id
    made = client.create_run(experiment, run_name=name,
                             tags={**tags, api.SWEEP_ID_TAG: sweep_id, ROLE_TAG: "sweep",
                                   "convcli.host": os.uname().nodename})
    oldest = _parents(client, experiment, sweep_id)[0].info.run_id
    if oldest != made.info.run_id:
        client.delete_run(made.info.run_id)
    return oldest


def _parents(client, experiment: str, sweep_id: str) -> list:
    return [run for run in api.runs_tagged(client, experiment, api.SWEEP_ID_TAG, sweep_id)
            if run.data.tags.get(ROLE_TAG) == "sweep"]


def sweep_params(spec: dict) -> dict[str, str]:
    """The sweep file's settings as params (sweep.search, sweep.params.train.learning_rate...);
    its base config is every trial's own params."""
    flat = flatten({key: value for key, value in spec.items() if key not in ("base", "set")})
    params = {f"sweep.{key}": value if isinstance(value, str) else json.dumps(value)
              for key, value in flat.items()}
    return {key: value for key, value in params.items() if len(value) <= MAX_VALUE_LENGTH}


def point_values(name: str, summary) -> dict[str, float]:
    """A point's mean, std, 95% interval and n, as metrics <name>.mean, <name>.std, ..."""
    values = {"mean": summary.mean, "std": summary.std, "ci95_low": summary.low,
              "ci95_high": summary.high, "n": summary.n}
    return {f"{name}.{key}": float(value) for key, value in values.items() if value is not None}


def best_tags(point: int, params: dict, summary) -> dict[str, str]:
    """The best point so far, as tags (params cannot change once logged; the best can)."""
    tags = {"best.point": str(point), "best.value": summary.as_text(digits=4)}
    return tags | {f"best.params.{key}": json.dumps(value) for key, value in params.items()}
