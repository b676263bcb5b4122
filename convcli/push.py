"""`convcli runs push`: finished runs and sweeps sent to an MLflow tracking server after
the fact, idempotently. A run already there is found by its tag convcli.run_id (a sweep
by convcli.sweep_id) and only what the server lacks is sent, so pushing twice sends
nothing the second time. meta.json's `mlflow` is brought up to date."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from convcli.config import Tracking, read_yaml
from convcli.errors import ConfigError, ConvcliError, RunError
from convcli.runs import Run, describe, find_run
from convcli.sweeps.directory import SweepDir, find_sweep
from convcli.tracking import mlflow_client as api
from convcli.tracking import run_sync as sync
from convcli.tracking.target import Target, check_uri


@dataclass
class Pushed:
    """One run or sweep pushed: its name, MLflow run id, and whether anything was sent."""

    name: str
    kind: str  # run | sweep | trial
    run_id: str
    sent: bool


def push(refs: list[str], runs_dir: Path, uri: str | None, experiment: str | None) -> list[Pushed]:
    """Push each run or sweep `refs` names; every ref is resolved before anything is sent."""
    found = [_resolve(ref, runs_dir) for ref in refs]
    pushed = []
    for item in found:
        target = _target(item, uri, experiment)
        client = api.connect(target.uri)
        if isinstance(item, SweepDir):
            pushed += _push_sweep(client, target, item)
        else:
            pushed.append(_push_run(client, target, item))
    return pushed


def _resolve(ref: str, runs_dir: Path) -> Run | SweepDir:
    """The run or sweep a ref names; RunError for anything else."""
    path = Path(ref)
    if path.is_dir() and (path / "sweep.yaml").is_file():
        return SweepDir(path)
    if path.is_dir() and not (path / "meta.json").is_file():
        raise RunError(f"{ref} is not a run or sweep directory (it has no meta.json or sweep.yaml); "
                       "runs push sends runs and sweeps convcli made")
    try:
        run = find_run(ref, runs_dir)
    except RunError:
        sweep = None if path.is_dir() else find_sweep(ref, runs_dir)
        if sweep is None:
            raise
        return sweep
    _pushable(run)
    return run


def _pushable(run: Run) -> None:
    """A run push can send: readable, and not still training."""
    if describe(run.path)["status"] == "running":
        raise RunError(f"run {run.name} is still running; push it when it has ended (a tracked "
                       "run sends itself as it trains)")
    run.read_meta()  # a damaged meta.json: its own one-line error


def _target(item: Run | SweepDir, uri: str | None, experiment: str | None) -> Target:
    """Where to push: --mlflow, else the URI the run (or sweep base) was tracked with, else
    $MLFLOW_TRACKING_URI; the experiment likewise."""
    tracking = _tracked_with(item)
    uri = uri or tracking.mlflow or os.environ.get("MLFLOW_TRACKING_URI")
    if not uri:
        raise ConfigError(f"{item.path.name} was not tracked, so there is no server to push it to: "
                          "give --mlflow URI (or set MLFLOW_TRACKING_URI)")
    check_uri(uri)
    return Target(uri, experiment or tracking.experiment, tracking.log_model)


def _tracked_with(item: Run | SweepDir) -> Tracking:
    """The tracking section a run was trained with; a sweep's: its base config's, else
    (--mlflow on the sweep) its first trial's."""
    configs = [item.config] if isinstance(item, Run) else [
        item.base_yaml, *sorted(item.trials.glob("*/config.yaml"))]
    for config in configs:
        if config.is_file():
            tracking = Tracking.model_validate(read_yaml(config).get("tracking") or {})
            if tracking.mlflow:
                return tracking
    return Tracking()


def _push_run(client, target: Target, run: Run, parent: str | None = None,
              sweep_id: str | None = None) -> Pushed:
    try:
        run_id, sent = sync.send_missing(client, target, run, parent, sweep_id)
    except ConvcliError:
        raise
    except Exception as error:  # noqa: BLE001  the server's refusal, as one line
        raise RunError(f"pushing {run.name} to MLflow at {target.shown} failed: "
                       f"{api.described(error)}") from None
    meta = run.read_meta()
    run.update_meta(mlflow={"uri": target.shown, "experiment": target.experiment, "run_id": run_id,
                            "parent_run_id": parent or (meta.mlflow and meta.mlflow.parent_run_id),
                            "unsent": [], "problem": None,
                            "too_long": meta.mlflow.too_long if meta.mlflow else []})
    return Pushed(run.name, "trial" if parent else "run", run_id, sent)


def _push_sweep(client, target: Target, folder: SweepDir) -> list[Pushed]:
    """The sweep's parent run, its points, every trial nested under it, its records."""
    from convcli.sweeps.display import recorded_sweep
    from convcli.sweeps.tracked import open_sweep_parent, send_points, send_sweep_end, sweep_id

    _, sweep, points, best = recorded_sweep(str(folder.path), folder.path.parent.parent)
    try:
        parent = open_sweep_parent(client, target, folder, sweep.resolved())
        held = client.get_run(parent).data
        sent = send_points(client, parent, points, best, dict(held.metrics), dict(held.tags))
    except Exception as error:  # noqa: BLE001
        raise RunError(f"pushing sweep {folder.name} to MLflow at {target.shown} failed: "
                       f"{api.described(error)}") from None
    trials = [Run(path) for path in sorted(folder.trials.iterdir()) if (path / "meta.json").is_file()] \
        if folder.trials.is_dir() else []
    ended = [run for run in trials if describe(run.path)["status"] != "running"]
    pushed = [_push_run(client, target, run, parent, sweep_id(folder)) for run in ended]
    status = "completed" if len(ended) == len(trials) else "interrupted"
    sent += send_sweep_end(client, parent, folder, status, replace=False)
    return [Pushed(folder.name, "sweep", parent, bool(sent)), *pushed]
