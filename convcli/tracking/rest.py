"""The MLflow REST client: the calls convcli makes on an http(s) tracking server, through
MLflow's REST API (/api/2.0/mlflow/...) and its proxied artifact store, without mlflow.

Importing mlflow costs a tracked run about a second of CPU (pandas, its GenAI modules:
issue 26); this client costs a few milliseconds. Its methods are MlflowClient's, by the
same names and arguments, for the calls convcli makes, and answer with small records
holding the attributes convcli reads. A run whose artifacts the server does not proxy
(artifact_uri not mlflow-artifacts:) has them sent through mlflow after all.
"""

from __future__ import annotations

import math
import posixpath
import threading
import time
from collections import namedtuple
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import quote, urlsplit

from convcli.tracking.rest_transport import RestError, Transport

API, ARTIFACTS = "/api/2.0/mlflow", "/api/2.0/mlflow-artifacts/artifacts"

# What log_batch takes, in the order of mlflow.entities' own classes of these names
Param = namedtuple("Param", "key value")
RunTag = namedtuple("RunTag", "key value")
Metric = namedtuple("Metric", "key value timestamp step")
FileInfo = namedtuple("FileInfo", "path is_dir")


@dataclass(frozen=True)
class Experiment:
    experiment_id: str
    name: str
    lifecycle_stage: str


@dataclass(frozen=True)
class RunInfo:
    run_id: str
    experiment_id: str
    status: str
    lifecycle_stage: str
    start_time: int | None
    artifact_uri: str


@dataclass(frozen=True)
class RunData:
    params: dict = field(default_factory=dict)
    metrics: dict = field(default_factory=dict)  # each metric's latest value
    tags: dict = field(default_factory=dict)


@dataclass(frozen=True)
class Run:
    info: RunInfo
    data: RunData

    @classmethod
    def parse(cls, answer: dict) -> "Run":
        """A run as the API answers it: {"info": {...}, "data": {"params": [{key, value}]...}}."""
        info, data = answer["info"], answer.get("data", {})
        pairs = {name: {item["key"]: item.get("value", "") for item in data.get(name, [])}
                 for name in ("params", "tags")}
        metrics = {item["key"]: float(item["value"]) for item in data.get("metrics", [])}
        start = info.get("start_time")
        return cls(RunInfo(info["run_id"], str(info["experiment_id"]), info.get("status", ""),
                           info.get("lifecycle_stage", "active"), int(start) if start is not None else None,
                           info.get("artifact_uri", "")),
                   RunData(pairs["params"], metrics, pairs["tags"]))


class RestClient:
    """MlflowClient's calls convcli makes, for one http(s) tracking server."""

    def __init__(self, uri: str):
        self.uri, self.http = uri, Transport(uri)
        self._artifact_uris: dict[str, str] = {}  # run id: artifact_uri, which never changes
        self._lock = threading.Lock()
        self._mlflow = None  # MlflowClient, for artifacts the server does not proxy

    def _get(self, endpoint: str, **query) -> dict:
        return self.http.call("GET", f"{API}/{endpoint}", query=query)

    def _post(self, endpoint: str, **body) -> dict:
        return self.http.call("POST", f"{API}/{endpoint}", body=body)

    # --- experiments ------------------------------------------------------------------

    def get_experiment_by_name(self, name: str) -> Experiment | None:
        try:
            found = self._get("experiments/get-by-name", experiment_name=name)["experiment"]
        except RestError as error:
            if error.error_code == "RESOURCE_DOES_NOT_EXIST":
                return None
            raise
        return Experiment(str(found["experiment_id"]), found["name"], found.get("lifecycle_stage", "active"))

    def create_experiment(self, name: str) -> str:
        return str(self._post("experiments/create", name=name)["experiment_id"])

    def restore_experiment(self, experiment_id: str) -> None:
        self._post("experiments/restore", experiment_id=experiment_id)

    # --- runs -------------------------------------------------------------------------

    def create_run(self, experiment_id: str, start_time: int | None = None, tags: dict | None = None,
                   run_name: str | None = None) -> Run:
        body = {"experiment_id": experiment_id, "start_time": start_time or _now(),
                "tags": [{"key": k, "value": str(v)} for k, v in (tags or {}).items()],
                **({"run_name": run_name} if run_name else {})}
        return self._noted(Run.parse(self._post("runs/create", **body)["run"]))

    def get_run(self, run_id: str) -> Run:
        return self._noted(Run.parse(self._get("runs/get", run_id=run_id)["run"]))

    def search_runs(self, experiment_ids: list[str], filter_string: str = "", order_by: list | None = None,
                    max_results: int = 1000) -> list[Run]:
        """The first `max_results` live runs that match (all convcli asks for)."""
        answer = self._post("runs/search", experiment_ids=[str(e) for e in experiment_ids],
                            filter=filter_string, order_by=order_by or [], max_results=max_results,
                            run_view_type="ACTIVE_ONLY")
        return [Run.parse(run) for run in answer.get("runs", [])]

    def update_run(self, run_id: str, status: str | None = None) -> None:
        self._post("runs/update", run_id=run_id, **({"status": status} if status else {}))

    def set_terminated(self, run_id: str, status: str = "FINISHED", end_time: int | None = None) -> None:
        self._post("runs/update", run_id=run_id, status=status, end_time=end_time or _now())

    def delete_run(self, run_id: str) -> None:
        self._post("runs/delete", run_id=run_id)

    def log_batch(self, run_id: str, metrics=(), params=(), tags=(), synchronous: bool = True) -> None:
        """One request; `metrics`, `params`, `tags`: Metric, Param and RunTag records."""
        self._post("runs/log-batch", run_id=run_id,
                   metrics=[m._asdict() | {"value": _number(m.value)} for m in metrics],
                   params=[p._asdict() for p in params], tags=[t._asdict() for t in tags])

    def get_metric_history(self, run_id: str, key: str) -> list[Metric]:
        """Every value of the metric, page after page."""
        points, token = [], None
        while True:
            answer = self._get("metrics/get-history", run_id=run_id, metric_key=key,
                               **({"page_token": token} if token else {}))
            points += [Metric(key, float(m["value"]), int(m.get("timestamp", 0)), int(m.get("step", 0)))
                       for m in answer.get("metrics", [])]
            token = answer.get("next_page_token")
            if not token:
                return points

    # --- artifacts --------------------------------------------------------------------

    def list_artifacts(self, run_id: str, path: str | None = None) -> list[FileInfo]:
        """The files and folders in the run's folder `path`, named from the run's root."""
        root = self._proxied_root(run_id)
        if root is None:
            return self._fallback().list_artifacts(run_id, path)
        where = posixpath.join(root, path) if path else root
        answer = self.http.call("GET", ARTIFACTS, query={"path": where})
        return sorted((FileInfo(posixpath.join(path, f["path"]) if path else f["path"], bool(f.get("is_dir")))
                       for f in answer.get("files", [])), key=lambda info: info.path)

    def log_artifact(self, run_id: str, local_path: str, artifact_path: str | None = None) -> None:
        root = self._proxied_root(run_id)
        if root is None:
            self._fallback().log_artifact(run_id, local_path, artifact_path)
            return
        file = Path(local_path)
        where = "/".join(part for part in (root, artifact_path, file.name) if part)
        self.http.call("PUT", f"{ARTIFACTS}/{quote(where)}", upload=file)

    def _noted(self, run: Run) -> Run:
        """`run`, its artifact_uri kept: uploads at the end of a run need not ask again."""
        self._artifact_uris[run.info.run_id] = run.info.artifact_uri
        return run

    def _proxied_root(self, run_id: str) -> str | None:
        """The run's folder in the server's proxied artifact store (`1/<run id>/artifacts`),
        or None when the server does not proxy its artifacts."""
        if run_id not in self._artifact_uris:
            self.get_run(run_id)
        uri = urlsplit(self._artifact_uris[run_id])
        return uri.path.strip("/") if uri.scheme == "mlflow-artifacts" and not uri.netloc else None

    def _fallback(self):
        """MlflowClient for this server: its artifact root is one only mlflow writes (a path,
        s3://, ...). Made once, at the first such artifact (mlflow's import: about 1 s)."""
        with self._lock:
            if self._mlflow is None:
                from mlflow.tracking import MlflowClient

                self._mlflow = MlflowClient(tracking_uri=self.uri)
            return self._mlflow


def _now() -> int:
    """Now in milliseconds since the epoch, as MLflow's times are."""
    return int(time.time() * 1000)


def _number(value: float) -> float | str:
    """A metric value as MLflow's JSON spells it: NaN and the infinities as the strings
    protobuf reads ("NaN", "Infinity"). JSON has no NaN, and the server's parser
    silently drops a request that holds one."""
    value = float(value)
    if math.isfinite(value):
        return value
    return "NaN" if math.isnan(value) else ("Infinity" if value > 0 else "-Infinity")
