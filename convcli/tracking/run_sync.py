"""A run directory's MLflow run: finding it (by its id in meta.json, else by the tag
convcli.run_id) or making it, and sending it what it lacks, piece by piece.

The pieces are the same for a run tracked while it trains (live.py) and one sent later
(`convcli runs push`): params, tags, the epochs of metrics.csv (step = epoch), the
results, the artifacts and the status. Each piece sends only what the server does not
hold yet, so sending a run twice changes nothing.
"""

from __future__ import annotations

import csv
import datetime as dt
from pathlib import Path

from convcli.config import read_yaml
from convcli.records import Meta, Summary
from convcli.runs import Run
from convcli.tracking import mlflow_client as api
from convcli.tracking.params import config_params
from convcli.tracking.target import Target

# metrics.csv's numeric columns, logged under the same names with step = epoch (an empty
# cell, such as top-5 with five classes or fewer, is not sent)
EPOCH_METRICS = ("loss", "accuracy", "val_loss", "val_accuracy", "learning_rate", "seconds",
                 "top5_accuracy", "val_top5_accuracy")
STATUSES = {"completed": "FINISHED", "failed": "FAILED", "interrupted": "KILLED",
            "pruned": "KILLED", "running": "RUNNING"}


def open_run(client, target: Target, run: Run, meta: Meta, parent: str | None = None,
             sweep_id: str | None = None) -> tuple[str, bool]:
    """(the MLflow run id of `run`, whether it was made now)."""
    experiment = api.experiment_id(client, target.experiment)
    known = meta.mlflow.run_id if meta.mlflow else None
    if known:
        try:
            if client.get_run(known).info.lifecycle_stage == "active":
                return known, False
        except Exception:  # noqa: BLE001  another server, or deleted there: look it up by tag
            pass
    found = api.runs_tagged(client, experiment, api.RUN_ID_TAG, run.name)
    if found:
        return found[0].info.run_id, False
    made = client.create_run(experiment, start_time=api.milliseconds(started(meta)),
                             tags=run_tags(run, meta, parent, sweep_id), run_name=run.name)
    return made.info.run_id, True


def send_missing(client, target: Target, run: Run, parent: str | None = None,
                 sweep_id: str | None = None) -> tuple[str, bool]:
    """Bring the run's MLflow run up to date with its directory, sending only what the
    server lacks; (its run id, whether anything was missing)."""
    meta = run.read_meta()
    run_id, made = open_run(client, target, run, meta, parent, sweep_id)
    remote = client.get_run(run_id)
    held_params, held_metrics = remote.data.params, remote.data.metrics
    params_sent, _ = send_params(client, run_id, run, held_params)
    api.set_tags(client, run_id, run_tags(run, meta, parent, sweep_id))
    steps = {} if made else held_steps(client, run_id)
    points = epoch_points(epoch_rows(run), started(meta) or 0.0, steps)
    api.log_metrics(client, run_id, points)
    summary = run.summary_or_none()
    results = result_values(summary) if summary else {}
    if summary is not None:
        send_results(client, run_id, summary, held_metrics)
    uploaded = send_artifacts(client, run_id, run, target.log_model, replace=False)
    send_status(client, run_id, meta)
    return run_id, made or bool(points or params_sent or uploaded) or any(k not in held_metrics for k in results)


def run_tags(run: Run, meta: Meta, parent: str | None = None, sweep_id: str | None = None) -> dict:
    """What identifies a run on the server: its directory, stage, seed, host, versions."""
    tags = {api.RUN_ID_TAG: run.name, api.RUN_DIR_TAG: str(run.path.resolve()),
            "convcli.stage": meta.stage, "convcli.seed": meta.seed, "convcli.host": meta.host,
            "convcli.version": meta.versions.get("convcli"), "convcli.status": meta.status,
            "convcli.tensorflow": meta.versions.get("tensorflow"), "convcli.git_commit": meta.git_commit}
    if parent:
        tags[api.PARENT_TAG] = parent
    if sweep_id:
        tags[api.SWEEP_ID_TAG] = sweep_id
    return {key: str(value) for key, value in tags.items() if value is not None}


def send_params(client, run_id: str, run: Run, held: dict | None = None) -> tuple[int, list[str]]:
    """Log the config's params the run does not hold; (how many, the keys too long to send)."""
    params, too_long = config_params(read_yaml(run.config))
    missing = {k: v for k, v in params.items() if k not in (held or {})}
    api.log_params(client, run_id, missing)
    if too_long:
        api.set_tags(client, run_id, {"convcli.params_too_long": ", ".join(too_long)[:5000]})
    return len(missing), too_long


def epoch_rows(run: Run) -> list[dict]:
    """metrics.csv's complete rows, numbers parsed (a line being written is left out)."""
    try:
        text = run.metrics.read_text()
    except OSError:
        return []
    lines = text.splitlines(keepends=True)
    if lines and not lines[-1].endswith("\n"):
        lines = lines[:-1]  # torn: the trainer is appending it now
    rows = []
    for row in csv.DictReader(lines):
        try:
            rows.append({"epoch": int(row["epoch"]), **{key: _number(row.get(key)) for key in EPOCH_METRICS}})
        except (TypeError, ValueError):
            continue
    return rows


def epoch_points(rows: list[dict], began: float, held: dict[str, set]) -> list[tuple]:
    """(key, value, step, timestamp) of every epoch value the server does not hold; each
    epoch's timestamp is the run's start plus the epoch times before it."""
    points, clock = [], began
    for row in rows:
        clock += row.get("seconds") or 0.0
        points += [(key, row[key], row["epoch"], api.milliseconds(clock)) for key in EPOCH_METRICS
                   if row.get(key) is not None and row["epoch"] not in held.get(key, ())]
    return points


def held_steps(client, run_id: str) -> dict[str, set]:
    """The epochs the server holds for each metrics.csv column."""
    return {key: {m.step for m in client.get_metric_history(run_id, key)} for key in EPOCH_METRICS}


def result_values(summary: Summary) -> dict[str, float]:
    """The results logged at the end: test accuracy and loss, the pointing game, the best
    epoch and its validation numbers."""
    game = summary.gradcam.pointing_game if summary.gradcam else None
    values = {"test_accuracy": summary.test and summary.test.accuracy,
              "test_loss": summary.test and summary.test.loss,
              "pointing_game": game and game.score, "best_epoch": summary.best_epoch,
              "best_val_accuracy": summary.best.val_accuracy, "best_val_loss": summary.best.val_loss}
    return {key: float(value) for key, value in values.items() if value is not None}


def send_results(client, run_id: str, summary: Summary | None, held: dict | None = None,
                 tags: dict | None = None) -> None:
    """The results the server does not hold (and `tags`, in the same request)."""
    step, now = (summary.epochs if summary else 0), api.milliseconds()
    values = result_values(summary) if summary else {}
    api.log_metrics(client, run_id, [(key, value, step, now) for key, value in values.items()
                                     if key not in (held or {})], tags)


def artifact_files(run: Run, log_model: bool) -> list[tuple[Path, str | None]]:
    """(file, artifact folder) of every artifact the run has: config, summary, curves,
    report, the Grad-CAM contact sheet, and best.keras when asked."""
    files = [(run.config, None), (run.summary, None), (run.curves, None),
             (run.path / "report.html", None), (run.gradcam / "contact_sheet.png", "gradcam")]
    if log_model:
        files.append((run.best, "checkpoints"))
    return [(path, folder) for path, folder in files if path.is_file()]


def send_artifacts(client, run_id: str, run: Run, log_model: bool, replace: bool) -> int:
    """Upload the run's artifacts, a few at once (each is one request); with replace False
    only those the server lacks; how many."""
    from concurrent.futures import ThreadPoolExecutor

    files = artifact_files(run, log_model)
    held = set()
    if not replace:
        for folder in {folder for _, folder in files}:
            held |= api.artifact_names(client, run_id, folder)
    wanted = [(path, folder) for path, folder in files
              if replace or f"{folder + '/' if folder else ''}{path.name}" not in held]
    with ThreadPoolExecutor(max_workers=4, thread_name_prefix="convcli-mlflow-upload") as pool:
        for done in [pool.submit(api.log_artifact, client, run_id, path, folder) for path, folder in wanted]:
            done.result()  # the first failure, raised here
    return len(wanted)


def status_tags(meta: Meta) -> dict[str, str]:
    return {"convcli.status": meta.status or "failed",
            **({"convcli.reason": meta.reason[:5000]} if meta.reason else {})}


def send_status(client, run_id: str, meta: Meta, tagged: bool = False) -> None:
    """The MLflow status of the run's meta.json status (pruned: KILLED, tagged pruned);
    `tagged`: status_tags were sent already."""
    if not tagged:
        api.set_tags(client, run_id, status_tags(meta))
    if meta.status == "running":
        client.update_run(run_id, "RUNNING")
    else:
        client.set_terminated(run_id, STATUSES.get(meta.status, "FAILED"), api.milliseconds(ended(meta)))


def started(meta: Meta) -> float | None:
    return _seconds(meta.started)


def ended(meta: Meta) -> float | None:
    return _seconds(meta.ended)


def _seconds(stamp: str | None) -> float | None:
    try:
        return dt.datetime.fromisoformat(stamp).timestamp() if stamp else None
    except ValueError:
        return None


def _number(text):
    return float(text) if text not in (None, "") else None
