"""The MLflow client convcli talks through: every request bounded in time, and the few
operations a run or sweep needs (its experiment, finding a run by tag, batched logging).

An http(s) server is reached through rest.py's RestClient, without importing mlflow
(about a second of CPU: issue 26); other stores (sqlite:, postgresql:, file:,
databricks) through MlflowClient, mlflow imported here only, inside the functions.
"""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path

from convcli.errors import ConfigError
from convcli.tracking.params import METRICS_PER_BATCH, PARAMS_PER_BATCH, batches
from convcli.tracking import rest
from convcli.tracking.target import uri_scheme

# MLflow's own defaults wait 120 s per request and retry 7 times with growing pauses:
# minutes against a server that is down. These hold unless the user sets them. Ending a
# run also prints its URL to stdout unless suppressed: convcli's stdout is its tables.
CLIENT_SETTINGS = {"MLFLOW_HTTP_REQUEST_TIMEOUT": "10", "MLFLOW_HTTP_REQUEST_MAX_RETRIES": "1",
                   "MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR": "1",
                   "MLFLOW_SUPPRESS_PRINTING_URL_TO_STDOUT": "true"}
RUN_ID_TAG, RUN_DIR_TAG, SWEEP_ID_TAG = "convcli.run_id", "convcli.run_dir", "convcli.sweep_id"
PARENT_TAG = "mlflow.parentRunId"  # what makes a run nested under another in MLflow


class Unanswered(Exception):
    """A call to the tracking server did not return within its deadline."""


def connect(uri: str):
    """The client for `uri`, its HTTP requests bounded by CLIENT_SETTINGS: a RestClient
    for an http(s) server, else an MlflowClient."""
    import logging

    for name, value in CLIENT_SETTINGS.items():
        os.environ.setdefault(name, value)
    # An auth plugin (MLFLOW_TRACKING_AUTH) lives in mlflow: only MlflowClient can use it
    if uri_scheme(uri) in ("http", "https") and not os.environ.get("MLFLOW_TRACKING_AUTH"):
        return rest.RestClient(uri)
    try:
        from mlflow.tracking import MlflowClient
    except ImportError:
        raise ConfigError("tracking runs needs MLflow, which is not installed: "
                          "pip install 'convcli[mlflow]'") from None
    # a database store's first use logs "Creating initial MLflow database tables..." at INFO
    for name in ("mlflow", "alembic"):
        logging.getLogger(name).setLevel(logging.WARNING)
    return MlflowClient(tracking_uri=uri)


def bounded(call, seconds: float):
    """call() in a daemon thread; its result, or Unanswered after `seconds` (a store that
    is not HTTP, such as a database whose host hangs, has no request timeout of its own)."""
    box: dict = {}

    def work():
        try:
            box["value"] = call()
        except BaseException as error:  # handed to the caller's thread
            box["error"] = error

    thread = threading.Thread(target=work, daemon=True, name="convcli-mlflow-call")
    thread.start()
    thread.join(seconds)
    if thread.is_alive():
        raise Unanswered(f"no answer within {seconds:g} s")
    if "error" in box:
        raise box["error"]
    return box["value"]


def described(error: BaseException) -> str:
    """One line about a failure of the server or the client, without MLflow's traceback
    (its messages embed the whole urllib3 chain)."""
    text = " ".join(str(error).split()) or type(error).__name__
    if isinstance(error, Unanswered):
        return text
    if "Connection refused" in text or "NewConnectionError" in text:
        return "the server cannot be reached (connection refused)"
    if "timed out" in text.lower() or "ReadTimeout" in text:
        timeout = os.environ.get("MLFLOW_HTTP_REQUEST_TIMEOUT", "")
        return f"the server did not answer within {timeout} s (MLFLOW_HTTP_REQUEST_TIMEOUT)"
    return text if len(text) <= 240 else text[:237] + "..."


def experiment_id(client, name: str) -> str:
    """The id of the experiment `name`, made if missing (another process may make it first)."""
    found = client.get_experiment_by_name(name)
    if found is not None:
        if found.lifecycle_stage == "deleted":
            client.restore_experiment(found.experiment_id)
        return found.experiment_id
    try:
        return client.create_experiment(name)
    except Exception:  # made meanwhile by another trial or machine
        found = client.get_experiment_by_name(name)
        if found is None:
            raise
        return found.experiment_id


def runs_tagged(client, experiment: str, tag: str, value: str) -> list:
    """The experiment's live runs whose `tag` is `value`, oldest first."""
    quoted = value.replace("'", "\\'")
    found = client.search_runs([experiment], filter_string=f"tags.`{tag}` = '{quoted}'",
                               order_by=["attributes.start_time ASC"], max_results=50)
    return sorted(found, key=lambda run: (run.info.start_time or 0, run.info.run_id))


def entities(client):
    """Where the client's Param, RunTag and Metric classes live: rest.py's records for a
    RestClient (so mlflow is not imported), mlflow.entities for an MlflowClient."""
    if isinstance(client, rest.RestClient):
        return rest
    import mlflow.entities

    return mlflow.entities


def log_params(client, run_id: str, params: dict[str, str]) -> None:
    Param = entities(client).Param
    for chunk in batches(sorted(params.items()), PARAMS_PER_BATCH):
        client.log_batch(run_id, params=[Param(key, value) for key, value in chunk], synchronous=True)


def set_tags(client, run_id: str, tags: dict[str, str]) -> None:
    RunTag = entities(client).RunTag
    for chunk in batches(sorted(tags.items()), PARAMS_PER_BATCH):
        client.log_batch(run_id, tags=[RunTag(key, str(value)) for key, value in chunk], synchronous=True)


def log_metrics(client, run_id: str, points: list[tuple[str, float, int, int]],
                tags: dict[str, str] | None = None) -> None:
    """points: (key, value, step, timestamp in ms); `tags` (at most 100) ride along in the
    first request."""
    Metric, RunTag = entities(client).Metric, entities(client).RunTag
    extra = [RunTag(key, str(value)) for key, value in (tags or {}).items()]
    for chunk in batches(points, METRICS_PER_BATCH) or ([[]] if extra else []):
        client.log_batch(run_id, metrics=[Metric(key, value, timestamp, step)
                                          for key, value, step, timestamp in chunk],
                         tags=extra, synchronous=True)
        extra = []


def artifact_names(client, run_id: str, folder: str | None = None) -> set[str]:
    """The paths of the run's artifacts in `folder` (the top level by default)."""
    return {info.path for info in client.list_artifacts(run_id, folder)}


def log_artifact(client, run_id: str, path: Path, folder: str | None) -> None:
    client.log_artifact(run_id, str(path), folder)


def milliseconds(seconds: float | None = None) -> int:
    return int(1000 * (time.time() if seconds is None else seconds))
