"""The study: the Optuna ledger that every worker, on every machine, claims trials from.

One Optuna trial is one (point, seed) run. The process that creates the study enqueues
every point's first seed (grid and random points are known up front; tpe points are
empty slots its sampler fills when a worker claims them), then marks the study ready.
Workers claim WAITING trials with the storage's atomic WAITING -> RUNNING step, so no two
workers, here or on another machine, ever train the same trial. A point's other seeds are
enqueued by the worker that owns its first seed: at once without pruning, after the first
seed survives with it. Trials whose worker died are failed and enqueued again, once, by
whoever notices first (the same atomic step decides who).
"""

from __future__ import annotations

import os
import time
import warnings
from pathlib import Path

from convcli.errors import ConvcliError
from convcli.formats import redact
from convcli.sweeps.spec import Sweep, suggest

HEARTBEAT_SECONDS, GRACE_SECONDS = 10, 60  # a trial unheard of for a minute is taken as dead
READY_TIMEOUT = 60.0  # seconds to wait for another process to finish creating the study
CLAIM_GRACE = 30.0  # a trial claimed this long ago whose worker never said who it is died


class StudyError(ConvcliError):
    """The study storage cannot be reached or holds another sweep."""


def optuna():
    """Optuna, imported on first use and quiet: its log lines are not convcli's."""
    import optuna as module

    module.logging.set_verbosity(module.logging.WARNING)
    warnings.filterwarnings("ignore", category=module.exceptions.ExperimentalWarning)
    warnings.filterwarnings("ignore", message=".*Heartbeat of storage.*")
    return module


def open_storage(url: str):
    """An Optuna storage for a URL: sqlite/postgresql/mysql, or a journal file (a path, or
    journal:///path); a StudyError in one line when it cannot be reached."""
    op = optuna()
    if "://" not in url or url.startswith("journal://"):
        from optuna.storages.journal import JournalFileBackend

        path = Path(url.removeprefix("journal://"))
        try:
            return op.storages.JournalStorage(JournalFileBackend(str(path)))
        except OSError as error:
            raise StudyError(f"cannot open the journal file {path}: {error.strerror or error}") from None
    shown = redact(url)
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url.removeprefix("postgresql://")  # the extra's driver
    kwargs = {"connect_args": {"connect_timeout": 10}} if url.startswith(("postgresql", "mysql")) else {}
    for attempt in range(3):
        try:
            return op.storages.RDBStorage(url, engine_kwargs=kwargs,
                                          heartbeat_interval=HEARTBEAT_SECONDS,
                                          grace_period=GRACE_SECONDS,
                                          heartbeat_stale_trial_callback=requeue)
        except ImportError:
            raise StudyError(f"no database driver for {shown}; install it with "
                             "pip install 'convcli[postgres]' (PostgreSQL) or a MySQL driver") from None
        except Exception as error:  # SQLAlchemy's errors, whose classes need not be imported
            if _creating_tables_race(error) and attempt < 2:
                time.sleep(1 + attempt)  # another machine is creating the same tables
                continue
            reason = str(getattr(error, "orig", None) or error).strip().splitlines()[0]
            raise StudyError(f"cannot reach the study storage {shown}: {reason}") from None


def _creating_tables_race(error: Exception) -> bool:
    text = str(error).lower()
    return any(word in text for word in ("already exists", "duplicate key", "unique constraint"))


def open_study(storage, name: str, sweep: Sweep):
    """Create the study and enqueue its trials, or load it if it exists and holds the same
    sweep; returns (study, created)."""
    op = optuna()
    kwargs = dict(storage=storage, study_name=name, sampler=sampler_for(sweep),
                  pruner=pruner_for(sweep))
    try:
        study = op.create_study(direction="maximize" if sweep.spec.mode == "max" else "minimize",
                                **kwargs)
    except op.exceptions.DuplicatedStudyError:
        study = op.load_study(**kwargs)
        if not _wait_until_ready(study):  # its creator died while enqueuing: finish the work
            _fill(study, sweep)
        _check_same_sweep(study, name, sweep)
        return study, False
    study.set_user_attr("creator", {"host": this_host(), "pid": os.getpid()})
    _fill(study, sweep)
    return study, True


def _fill(study, sweep: Sweep) -> None:
    """Record the sweep in the study, enqueue what is not there yet, then mark it ready."""
    study.set_user_attr("sweep", sweep.resolved())
    study.set_user_attr("fingerprint", sweep.fingerprint())
    study.set_user_attr("seeds", sweep.spec.seeds)
    study.set_user_attr("points", sweep.point_count)
    enqueue_points(study, sweep)
    study.set_user_attr("ready", True)


def _wait_until_ready(study) -> bool:
    """Whether the study's creator marked it ready: at once if its creator is a process of
    this host that has died, else within READY_TIMEOUT seconds."""
    from convcli.runs import process_alive

    began = time.monotonic()
    while not study.user_attrs.get("ready"):
        creator = study.user_attrs.get("creator") or {}
        dead = creator.get("host") == this_host() and not process_alive(creator.get("pid"))
        if dead or time.monotonic() - began > READY_TIMEOUT:
            return False
        time.sleep(0.5)
    return True


def check_study(storage, name: str, sweep: Sweep) -> None:
    """Refuse, before anything is made, a study of this name that holds another sweep."""
    op = optuna()
    try:
        study = op.load_study(study_name=name, storage=storage)
    except KeyError:
        return  # no such study yet: it will be created
    if study.user_attrs.get("ready"):  # else its creator is still at it, or died: open_study
        _check_same_sweep(study, name, sweep)


def _check_same_sweep(study, name: str, sweep: Sweep) -> None:
    if study.user_attrs.get("fingerprint") != sweep.fingerprint():
        raise StudyError(f"study {name} was made from a different sweep file (its base, params, "
                         "search, seeds or metric differ); start a new sweep with --new, or "
                         "give another --study")


def sampler_for(sweep: Sweep):
    """tpe draws points as results arrive; grid and random points are enqueued whole."""
    samplers = optuna().samplers
    if sweep.spec.search == "tpe":
        return samplers.TPESampler(seed=sweep.seed)
    return samplers.RandomSampler(seed=sweep.seed)


def pruner_for(sweep: Sweep):
    pruners, rule = optuna().pruners, sweep.spec.pruning
    if rule.method == "successive_halving":
        return pruners.SuccessiveHalvingPruner(min_resource=rule.grace_epochs,
                                               reduction_factor=rule.reduction_factor)
    if rule.method == "median":
        return pruners.MedianPruner(n_startup_trials=2, n_warmup_steps=rule.grace_epochs)
    return pruners.NopPruner()


def enqueue_points(study, sweep: Sweep) -> None:
    """Every point's first seed (all its seeds when nothing is pruned), point by point;
    what a dead creator enqueued already is not enqueued again."""
    every_seed = sweep.spec.pruning.method == "none" and sweep.points
    there = {(t.user_attrs.get("point"), t.user_attrs.get("seed_index")) for t in study.get_trials(deepcopy=False)}
    for point in range(1, sweep.point_count + 1):
        params = encode(sweep, sweep.points[point - 1]) if sweep.points else {}
        for seed_index in range(sweep.spec.seeds if every_seed else 1):
            if (point, seed_index) not in there:
                study.enqueue_trial(params, user_attrs={"point": point, "seed_index": seed_index})


def encode(sweep: Sweep, params: dict) -> dict:
    """Params as Optuna stores them: list and mapping values as their JSON text."""
    import json

    return {key: json.dumps(value) if isinstance(value, (list, dict)) else value
            for key, value in params.items()}


def claim(study):
    """Take one WAITING trial for this worker (point by point, so points complete early);
    None when there is none. The storage's WAITING -> RUNNING step is atomic."""
    op = optuna()
    TrialState = op.trial.TrialState
    waiting = study.get_trials(deepcopy=False, states=(TrialState.WAITING,))
    for frozen in sorted(waiting, key=lambda t: (t.user_attrs.get("point", 0), t.number)):
        try:
            # _trial_id: Optuna's own id for the storage; the public Trial takes it too.
            if study._storage.set_trial_state_values(frozen._trial_id, state=TrialState.RUNNING):
                return op.Trial(study, frozen._trial_id)
        except op.exceptions.UpdateFinishedTrialError:
            continue
    return None


def params_of(trial, sweep: Sweep) -> dict:
    """The trial's point: its fixed params, or (tpe) params its sampler draws now."""
    return {key: suggest(trial, key, param) for key, param in sweep.spec.params.items()}


def enqueue_other_seeds(study, trial, sweep: Sweep) -> None:
    """A point's seeds after the first, unless they are there already (a retried first seed)."""
    trial = frozen(study, trial)
    point = trial.user_attrs["point"]
    existing = {t.user_attrs.get("seed_index") for t in study.get_trials(deepcopy=False)
                if t.user_attrs.get("point") == point}
    fixed = {**trial.system_attrs.get("fixed_params", {}), **trial.params}
    for seed_index in range(1, sweep.spec.seeds):
        if seed_index not in existing:
            study.enqueue_trial(fixed, user_attrs={"point": point, "seed_index": seed_index})


def frozen(study, trial):
    """A live trial's stored record (with the fixed params it was enqueued with)."""
    return study._storage.get_trial(trial._trial_id)


def requeue(study, trial) -> None:
    """Enqueue a dead or interrupted trial again, to resume its run where that run is."""
    record = trial if hasattr(trial, "system_attrs") else frozen(study, trial)
    attrs = {key: record.user_attrs[key] for key in ("point", "seed_index") if key in record.user_attrs}
    if record.user_attrs.get("run"):
        attrs |= {"resume": record.user_attrs["run"],
                  "resume_host": (record.user_attrs.get("worker") or {}).get("host")}
    fixed = {**record.system_attrs.get("fixed_params", {}), **record.params}
    study.enqueue_trial(fixed, user_attrs=attrs | {"retry_of": record.number})


def fail_dead_trials(study, host: str) -> int:
    """Fail and requeue the RUNNING trials whose sweep process on this host is gone (a
    kill -9), and trials claimed but never started (a worker writes who it is at once);
    other machines' dead trials go when their heartbeat is stale. Returns how many."""
    import datetime as dt

    from convcli.runs import process_alive

    op = optuna()
    TrialState = op.trial.TrialState
    count = 0
    for frozen in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
        worker = frozen.user_attrs.get("worker")
        if worker is None:
            started = frozen.datetime_start or dt.datetime.now()
            if (dt.datetime.now() - started).total_seconds() < CLAIM_GRACE:
                continue  # just claimed: its worker is writing who it is
        elif worker.get("host") != host or worker.get("pid") == os.getpid() \
                or process_alive(worker.get("pid")):
            continue
        try:
            if study._storage.set_trial_state_values(frozen._trial_id, state=TrialState.FAIL):
                requeue(study, frozen)
                count += 1
        except op.exceptions.UpdateFinishedTrialError:
            pass
    op.storages.fail_stale_trials(study)  # other machines' dead trials, by heartbeat
    return count


def heartbeat(study, trial) -> None:
    """Tell the storage this trial's worker is alive (storages without heartbeats: no-op)."""
    storage = study._storage
    if hasattr(storage, "record_heartbeat"):
        storage.record_heartbeat(trial._trial_id)


def is_finished(study) -> bool:
    """Nothing waiting and nothing running anywhere."""
    TrialState = optuna().trial.TrialState
    return not study.get_trials(deepcopy=False, states=(TrialState.WAITING, TrialState.RUNNING))


def this_host() -> str:
    return os.uname().nodename
