"""What `convcli sweep` does, start to end: choose the sweep directory, open the study,
print the plan, run the trials, write the records, plots and report.

A rerun of the same command continues the latest unfinished sweep of that name; a
finished one is only shown; `--new` always starts another. Nothing is created before
the sweep file, every point's config and the storage have been checked.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import yaml

from convcli.errors import ConfigError, RunError
from convcli.files import atomic_write_text
from convcli.sweeps import study as ledger
from convcli.records import SweepRecord
from convcli.sweeps.directory import SweepDir, create_sweep_dir, latest_sweep
from convcli.sweeps.records import PointRow, best_point, point_rows, trial_rows
from convcli.sweeps.spec import Sweep, load_sweep


@dataclass
class SweepResult:
    folder: SweepDir
    sweep: Sweep
    points: list[PointRow]
    best: PointRow | None
    started: bool  # False: the sweep was already finished, nothing ran


def run_sweep(path: Path, overrides: list[str], runs_dir: Path, workers: int | None,
              storage: str | None, study_name: str | None, new: bool, display,
              target=None) -> SweepResult:
    """Run (or continue) a sweep file; returns its points once no trial is left."""
    return execute(load_sweep(path, overrides), runs_dir, workers, storage, study_name, new, display,
                   target)


def execute(sweep: Sweep, runs_dir: Path, workers: int | None, storage: str | None,
            study_name: str | None, new: bool, display, target=None) -> SweepResult:
    """Run (or continue) a resolved sweep (from a file, or made by `convcli demo`); with
    `target` (tracking.Target) it is tracked on MLflow as a parent run of its trials."""
    from convcli.sweeps.runner import Sweeper, slot_environments, visible_gpus

    gpus = visible_gpus()
    workers = workers or sweep.spec.workers or max(1, len(gpus))
    folder = _choose_folder(sweep, runs_dir, new)
    name = study_name or sweep.name
    shared = ledger.open_storage(storage) if storage else None
    if shared is not None:
        ledger.check_study(shared, name, sweep)  # unreachable or another sweep's: nothing made yet
    if folder is None:
        folder = create_sweep_dir(runs_dir, sweep.name)
        _write_inputs(folder, sweep, storage, study_name)
    study, _ = ledger.open_study(shared or ledger.open_storage(folder.storage_url()), name, sweep)
    if ledger.is_finished(study):
        return _result(folder, sweep, study, started=False)
    display.plan(sweep, folder, workers, gpus)
    envs = slot_environments(workers, gpus, os.cpu_count() or 1)
    from convcli.tracking.hparams import write_experiment

    write_experiment(folder.path, list(sweep.spec.params), sweep.spec.metric)
    tracking = _tracking(target, folder, sweep)
    try:
        with display.live():
            Sweeper(sweep, folder, study, envs, display, tracking).run()
    except KeyboardInterrupt:
        if tracking is not None:
            tracking.finish("interrupted")
        raise
    result = _result(folder, sweep, study, started=True)
    from convcli.sweeps.outputs import write_outputs

    write_outputs(folder, sweep, result.points, result.best)
    if tracking is not None:
        tracking.finish("completed")
    return result


def _tracking(target, folder: SweepDir, sweep: Sweep):
    """The sweep's MLflow parent run (tracked.py), or None without a target."""
    if target is None:
        return None
    from convcli.sweeps.tracked import SweepTracking

    return SweepTracking(target, folder).open(sweep.resolved())


def _choose_folder(sweep: Sweep, runs_dir: Path, new: bool) -> SweepDir | None:
    """The latest sweep of this name to continue, or None for a new one."""
    if new:
        return None
    folder = latest_sweep(runs_dir, sweep.name)
    if folder is None:
        return None
    if SweepRecord.read(folder.sweep_yaml).spec != sweep.resolved():
        raise ConfigError(f"sweep {folder.name} was made from a different sweep file (or --set); "
                          f"continue it with the file it was made from, or start another with --new")
    return folder


def _write_inputs(folder: SweepDir, sweep: Sweep, storage: str | None, study_name: str | None) -> None:
    """sweep.yaml first (what was asked), then base.yaml (what every trial trains from)."""
    record = SweepRecord.model_validate({**sweep.resolved(), "storage": ledger.redact(storage) if storage
                                         else None, "study": study_name or sweep.name,
                                         "trials": sweep.trial_count})
    atomic_write_text(folder.sweep_yaml, record.to_yaml())
    atomic_write_text(folder.base_yaml, yaml.safe_dump(sweep.base, sort_keys=False))


def _result(folder: SweepDir, sweep: Sweep, study, started: bool) -> SweepResult:
    points = point_rows(trial_rows(study, sweep), sweep)
    return SweepResult(folder, sweep, points, best_point(points, sweep), started)


def sweep_status(path: Path, overrides: list[str], runs_dir: Path, storage: str | None,
                 study_name: str | None):
    """The study's progress and points, from this machine or any other (--storage)."""
    sweep = load_sweep(path, overrides)
    if storage is None:
        folder = latest_sweep(runs_dir, sweep.name)
        if folder is None:
            raise RunError(f"no sweep named {sweep.name} in {Path(runs_dir) / 'sweeps'}; start it "
                           f"with: convcli sweep {path}")
        storage = folder.storage_url()
    opened = ledger.open_storage(storage)
    op = ledger.optuna()
    try:
        study = op.load_study(study_name=study_name or sweep.name, storage=opened)
    except KeyError:
        raise RunError(f"no study named {study_name or sweep.name} in {ledger.redact(storage)}") from None
    trials = trial_rows(study, sweep)
    counts = {"waiting": len(study.get_trials(deepcopy=False, states=(op.trial.TrialState.WAITING,)))}
    for row in trials:
        counts[row.status] = counts.get(row.status, 0) + 1
    points = point_rows(trials, sweep)
    return sweep, counts, points, best_point(points, sweep)
