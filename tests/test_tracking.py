"""MLflow tracking against real `mlflow server`s started here on loopback (sqlite and
PostgreSQL backends), read back through MlflowClient; the tracking never costs a run;
`runs push`; a sweep's parent run, its TensorBoard HParams and its study as Optuna
Dashboard reads it (docs/tracking.md)."""

from __future__ import annotations

import json
import math
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path

import pytest
import yaml

from tests.conftest import invoke, tiny_config

pytest.importorskip("mlflow")  # the test extra installs it (convcli[mlflow])
from mlflow.tracking import MlflowClient  # noqa: E402

EPOCH_METRICS = {"loss", "accuracy", "val_loss", "val_accuracy", "learning_rate", "seconds"}


# --- servers --------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class Server:
    """`mlflow server` in a session of its own: its uvicorn workers outlive the parent, so
    stop() ends the whole process group (by the id of the process started here).

    `proxied`: the server keeps the artifacts and takes them over HTTP (runs' artifact_uri
    mlflow-artifacts:, MLflow's default); else clients write them to `artifacts` themselves."""

    def __init__(self, backend: str, artifacts: Path, port: int | None = None, proxied: bool = True):
        self.backend, self.artifacts, self.port = backend, artifacts, port or free_port()
        self.proxied = proxied
        self.uri = f"http://127.0.0.1:{self.port}"
        self.process = None

    def start(self, timeout: float = 120) -> "Server":
        log = open(self.artifacts.parent / f"mlflow-{self.port}.log", "ab")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "mlflow", "server", "--backend-store-uri", self.backend,
             *(["--artifacts-destination", str(self.artifacts)] if self.proxied else
               ["--default-artifact-root", str(self.artifacts), "--no-serve-artifacts"]), "--host", "127.0.0.1",
             "--port", str(self.port), "--workers", "1"],
            stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True,
            # MLflow 3's job runner (GenAI jobs, huey consumers) only takes the cores the tests need
            env=os.environ | {"MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false"})
        deadline = time.monotonic() + timeout
        while True:
            assert self.process.poll() is None, (self.artifacts.parent / f"mlflow-{self.port}.log").read_text()[-3000:]
            try:
                with urllib.request.urlopen(f"{self.uri}/health", timeout=2) as answer:
                    if answer.status == 200:
                        return self
            except OSError:
                pass
            assert time.monotonic() < deadline, "mlflow server did not answer /health"
            time.sleep(0.5)

    def stop(self) -> None:
        """SIGTERM to the group, then SIGKILL to whatever of it is left (the uvicorn and huey
        workers); nothing answers on the port afterwards."""
        if self.process is None:
            return
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(20)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            try:
                os.killpg(self.process.pid, signal.SIGKILL)
            except ProcessLookupError:  # the whole group is gone
                break
            time.sleep(0.2)
        assert not _answers(self.port), f"something still answers on port {self.port}"


def _answers(port: int) -> bool:
    with socket.socket() as probe:
        probe.settimeout(0.5)
        return probe.connect_ex(("127.0.0.1", port)) == 0


@pytest.fixture(scope="session")
def mlflow_server(tmp_path_factory):
    root = tmp_path_factory.mktemp("mlflow")
    server = Server(f"sqlite:///{root / 'mlflow.db'}", root / "artifacts").start()
    yield server
    server.stop()


@pytest.fixture
def tracked_config(tmp_path, tiny_data):
    def write(**sections):
        path = tmp_path / "tiny.yaml"
        cfg = tiny_config(tiny_data, explain={"gradcam_images": 2}, **sections)
        path.write_text(yaml.safe_dump(cfg))
        return path
    return write


def meta_of(run: Path) -> dict:
    return json.loads((run / "meta.json").read_text())


def only_run(runs: Path) -> Path:
    (run,) = [p for p in runs.iterdir() if p.is_dir() and p.name != "sweeps"]
    return run


def history(client, run_id: str, key: str) -> list[tuple[int, float]]:
    return sorted((m.step, m.value) for m in client.get_metric_history(run_id, key))


def artifacts(client, run_id: str) -> set[str]:
    top = {info.path for info in client.list_artifacts(run_id)}
    return top | {info.path for folder in ("gradcam", "checkpoints") if folder in top
                  for info in client.list_artifacts(run_id, folder)}


# --- one run --------------------------------------------------------------------------


def test_a_tracked_run_is_one_mlflow_run_with_params_curves_results_and_artifacts(
        mlflow_server, tracked_config, tmp_path):
    result = invoke("train", tracked_config(), "--runs-dir", tmp_path / "runs", "--mlflow",
                    mlflow_server.uri, "--mlflow-experiment", "one-run", "--mlflow-model")
    assert result.exit_code == 0, result.output
    assert "warning" not in result.stderr and "View run" not in result.output
    run = only_run(tmp_path / "runs")
    record = meta_of(run)["mlflow"]
    assert record["unsent"] == [] and record["problem"] is None and record["uri"] == mlflow_server.uri

    client = MlflowClient(mlflow_server.uri)
    remote = client.get_run(record["run_id"])
    assert remote.info.status == "FINISHED"
    assert remote.info.experiment_id == client.get_experiment_by_name("one-run").experiment_id
    params, tags = remote.data.params, remote.data.tags
    config = yaml.safe_load((run / "config.yaml").read_text())
    assert params["data.image_size"] == "[32, 32]" and params["model.conv_filters"] == "[8, 16]"
    assert params["train.epochs"] == "2" and params["stage"] == "scratch"
    assert params["tracking.mlflow"] == mlflow_server.uri and params["fine_tune"] == "null"
    assert len(params) == _leaf_count(config)
    assert tags["convcli.run_id"] == run.name and tags["convcli.run_dir"] == str(run.resolve())
    assert tags["convcli.stage"] == "scratch" and tags["convcli.seed"] == "7"
    assert tags["convcli.version"] and tags["convcli.host"] == os.uname().nodename
    # every metrics.csv column, step = epoch, the values of metrics.csv
    rows = list(_csv_rows(run / "metrics.csv"))
    for key in EPOCH_METRICS:
        steps, values = zip(*history(client, remote.info.run_id, key))
        assert steps == tuple(int(row["epoch"]) for row in rows), key
        assert values == pytest.approx([float(row[key]) for row in rows]), key
    summary = json.loads((run / "summary.json").read_text())
    assert remote.data.metrics["test_accuracy"] == pytest.approx(summary["test"]["accuracy"])
    assert remote.data.metrics["best_epoch"] == summary["best_epoch"]
    assert remote.data.metrics["pointing_game"] == pytest.approx(summary["gradcam"]["pointing_game"]["score"])
    assert artifacts(client, remote.info.run_id) == {
        "config.yaml", "summary.json", "curves.png", "report.html", "gradcam", "gradcam/contact_sheet.png",
        "checkpoints", "checkpoints/best.keras"}
    # sent again: nothing new, the same MLflow run
    pushed = invoke("runs", "push", run)
    assert pushed.exit_code == 0, pushed.output
    assert f"run {run.name}: already complete (MLflow run {remote.info.run_id})" in pushed.stdout
    assert len(client.get_metric_history(remote.info.run_id, "loss")) == len(rows)


def test_fine_tunes_two_phases_are_one_mlflow_run_with_continuous_epochs(
        mlflow_server, tiny_data, builtin_base, tmp_path):
    config = tmp_path / "finetune.yaml"
    config.write_text(yaml.safe_dump(tiny_config(tiny_data, "fine-tune", fine_tune={"head_epochs": 2},
                                                 train={"epochs": 2})))
    result = invoke("train", config, "--runs-dir", tmp_path / "runs", "--mlflow", mlflow_server.uri,
                    "--mlflow-experiment", "fine-tune")
    assert result.exit_code == 0, result.output
    client = MlflowClient(mlflow_server.uri)
    experiment = client.get_experiment_by_name("fine-tune").experiment_id
    (remote,) = client.search_runs([experiment])
    phases = [row["phase"] for row in _csv_rows(only_run(tmp_path / "runs") / "metrics.csv")]
    assert phases == ["head", "head", "fine-tune", "fine-tune"]
    assert [step for step, _ in history(client, remote.info.run_id, "val_loss")] == [1, 2, 3, 4]
    rates = [value for _, value in history(client, remote.info.run_id, "learning_rate")]
    assert rates[2] < rates[1]  # fine-tune's own, lower rate from epoch 3 on
    assert remote.data.params["fine_tune.head_epochs"] == "2" and remote.info.status == "FINISHED"


def _leaf_count(config: dict) -> int:
    return sum(_leaf_count(v) if isinstance(v, dict) and v else 1 for v in config.values())


def _csv_rows(path: Path):
    import csv

    with open(path, newline="") as handle:
        yield from csv.DictReader(handle)


def test_untracked_runs_and_help_never_import_mlflow(tracked_config, tmp_path):
    code = ("import sys\nfrom typer.testing import CliRunner\nfrom convcli.cli import app\n"
            "for args in (['--help'], ['train', '--help'], ['sweep', '--help'], ['runs', 'push', '--help'],\n"
            f"             ['train', {str(tracked_config())!r}, '--runs-dir', {str(tmp_path / 'runs')!r}]):\n"
            "    result = CliRunner().invoke(app, args)\n"
            "    assert result.exit_code == 0, (args, result.output)\n"
            "assert 'mlflow' not in sys.modules, 'mlflow imported'\n")
    subprocess.run([sys.executable, "-c", code], check=True, env=os.environ | {"TF_CPP_MIN_LOG_LEVEL": "3"})


def test_a_run_tracked_on_an_http_server_never_imports_mlflow(mlflow_server, tracked_config, tmp_path):
    """MLflow's REST API, spoken with the standard library: importing mlflow cost a tracked
    run about a second of CPU (issue 26). Training, the model artifact and a push after."""
    runs = tmp_path / "runs"
    code = f"""
import sys
from pathlib import Path
from typer.testing import CliRunner
from convcli.cli import app

def invoke(*args):
    result = CliRunner().invoke(app, [str(arg) for arg in args])
    assert result.exit_code == 0 and "warning" not in result.output, (args, result.output, result.exception)
    return result

invoke("train", {str(tracked_config())!r}, "--runs-dir", {str(runs)!r}, "--mlflow", {mlflow_server.uri!r},
       "--mlflow-experiment", "no-import", "--mlflow-model")
(run,) = Path({str(runs)!r}).iterdir()
print(invoke("runs", "push", run).stdout)
assert "mlflow" not in sys.modules, "mlflow imported"
"""
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          env=os.environ | {"TF_CPP_MIN_LOG_LEVEL": "3"})
    assert done.returncode == 0, done.stderr[-3000:]
    run = only_run(runs)
    record = meta_of(run)["mlflow"]
    assert record["unsent"] == [] and f"already complete (MLflow run {record['run_id']})" in done.stdout
    client = MlflowClient(mlflow_server.uri)
    remote = client.get_run(record["run_id"])
    assert remote.info.status == "FINISHED" and remote.info.artifact_uri.startswith("mlflow-artifacts:")
    assert remote.data.params["train.epochs"] == "2" and remote.data.tags["convcli.run_id"] == run.name
    assert [step for step, _ in history(client, record["run_id"], "val_loss")] == [1, 2]
    assert {"config.yaml", "summary.json", "gradcam/contact_sheet.png", "checkpoints/best.keras"} <= \
        artifacts(client, record["run_id"])
    sent = Path(client.download_artifacts(record["run_id"], "config.yaml", str(tmp_path)))
    assert sent.read_bytes() == (run / "config.yaml").read_bytes()


def test_a_server_that_does_not_keep_artifacts_has_them_written_through_mlflow(tracked_config, tmp_path):
    """A server started with --default-artifact-root PATH --no-serve-artifacts: the client
    writes the artifacts itself, which only mlflow knows how to do for every kind of root."""
    server = Server(f"sqlite:///{tmp_path / 'mlflow.db'}", tmp_path / "artifacts", proxied=False).start()
    try:
        result = invoke("train", tracked_config(), "--runs-dir", tmp_path / "runs", "--mlflow", server.uri)
        assert result.exit_code == 0 and "warning" not in result.stderr, result.output
        run_id = meta_of(only_run(tmp_path / "runs"))["mlflow"]["run_id"]
        client = MlflowClient(server.uri)
        assert client.get_run(run_id).info.status == "FINISHED"
        assert {"config.yaml", "summary.json", "report.html"} <= artifacts(client, run_id)
        assert list((tmp_path / "artifacts").glob(f"*/{run_id}/artifacts/config.yaml"))
    finally:
        server.stop()


@pytest.mark.parametrize("store", ["sqlite", "file"])
def test_a_run_tracked_in_a_store_without_a_server(store, tracked_config, tmp_path, monkeypatch):
    """sqlite:/// and file: stores go through MlflowClient, as before the REST client."""
    monkeypatch.chdir(tmp_path)  # a database store's default artifact root is ./mlruns
    monkeypatch.setenv("MLFLOW_ALLOW_FILE_STORE", "true")
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}" if store == "sqlite" else f"file:{tmp_path / 'store'}"
    result = invoke("train", tracked_config(), "--runs-dir", tmp_path / "runs", "--mlflow", uri)
    assert result.exit_code == 0 and "warning: MLflow" not in result.stderr, result.output
    run = only_run(tmp_path / "runs")
    record = meta_of(run)["mlflow"]
    assert record["unsent"] == [] and record["problem"] is None
    client = MlflowClient(uri)
    remote = client.get_run(record["run_id"])
    assert remote.info.status == "FINISHED" and remote.data.params["train.epochs"] == "2"
    assert [step for step, _ in history(client, record["run_id"], "val_accuracy")] == [1, 2]
    assert {"config.yaml", "summary.json", "report.html"} <= artifacts(client, record["run_id"])


def test_the_rest_client_retries_a_busy_server_once_and_sends_mlflows_credentials(monkeypatch):
    """A stand-in server: busy (503) at the first request. MLflow's own settings hold:
    MLFLOW_HTTP_REQUEST_MAX_RETRIES, MLFLOW_TRACKING_USERNAME and _PASSWORD; a refusal that
    is not transient (404) is not retried."""
    import base64
    import http.server

    seen = []

    class Busy(http.server.BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802  http.server's name
            seen.append((self.path, self.headers.get("Authorization")))
            status, answer = {1: (503, {}), 2: (200, {"experiment": {
                "experiment_id": "7", "name": "e", "lifecycle_stage": "active"}})}.get(
                len(seen), (404, {"error_code": "RESOURCE_DOES_NOT_EXIST", "message": "none"}))
            body = json.dumps(answer).encode()
            self.send_response(status)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Busy)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR", "0")
    monkeypatch.setenv("MLFLOW_TRACKING_USERNAME", "ada")
    monkeypatch.setenv("MLFLOW_TRACKING_PASSWORD", "pw")
    from convcli.tracking import mlflow_client as api

    try:
        client = api.connect(f"http://127.0.0.1:{server.server_address[1]}")
        assert client.get_experiment_by_name("e").experiment_id == "7"
        assert client.get_experiment_by_name("missing") is None
    finally:
        server.shutdown()
    assert [path.split("?")[0] for path, _ in seen] == ["/api/2.0/mlflow/experiments/get-by-name"] * 3
    assert {auth for _, auth in seen} == {f"Basic {base64.b64encode(b'ada:pw').decode()}"}


def test_the_uri_check_knows_the_schemes_mlflow_knows():
    from mlflow.tracking._tracking_service import utils

    from convcli.tracking.target import KNOWN_SCHEMES, uri_scheme

    assert KNOWN_SCHEMES == set(utils._tracking_store_registry._registry)
    for uri in ("http://h:5000", "file:/tmp/x", "sqlite:///x.db", "postgresql+psycopg://u@h/d",
                "databricks", "/abs/path", "mlruns", "htp:/x"):
        expected = utils._tracking_store_registry._registry.get(uri_scheme(uri))
        try:
            theirs = utils._tracking_store_registry.get_store_builder(uri)
        except Exception:  # noqa: BLE001
            theirs = None
        assert theirs is expected, uri


def test_a_file_store_the_installed_mlflow_refuses_is_refused_before_anything_is_made(
        tracked_config, tmp_path, monkeypatch):
    from tests.conftest import assert_user_error

    from convcli.tracking.target import refuses_file_store

    monkeypatch.delenv("MLFLOW_ALLOW_FILE_STORE", raising=False)
    if not refuses_file_store():
        pytest.skip("this MLflow takes file stores")
    result = invoke("train", tracked_config(), "--runs-dir", tmp_path / "runs", "--mlflow", tmp_path / "mlruns")
    assert_user_error(result, "the installed MLflow refuses file stores")
    assert not (tmp_path / "runs").exists() and not (tmp_path / "mlruns").exists()


def test_demo_passes_its_tracking_to_every_stage(monkeypatch, tmp_path):
    """`convcli demo --mlflow URI`: the demo trains with that tracking section (the stages
    themselves are the demo's tests); a bad URI is refused before any stage."""
    import convcli.demo
    from convcli.errors import ConvcliError

    seen = {}

    def stand_in(runs_dir, quick, console, tracking=None):
        seen["tracking"] = tracking
        raise ConvcliError("stand-in demo")

    monkeypatch.setattr(convcli.demo, "run_demo", stand_in)
    result = invoke("demo", "--quick", "--runs-dir", tmp_path / "runs", "--mlflow", "http://127.0.0.1:5999",
                    "--mlflow-experiment", "demo", "--mlflow-model")
    assert "stand-in demo" in result.stderr
    assert seen["tracking"].mlflow == "http://127.0.0.1:5999" and seen["tracking"].experiment == "demo"
    assert seen["tracking"].log_model is True
    seen.clear()
    refused = invoke("demo", "--quick", "--runs-dir", tmp_path / "runs", "--mlflow", "htp://x")
    assert refused.exit_code == 1 and "MLflow does not understand" in refused.stderr and not seen


def test_params_too_long_are_named_never_cut_and_batches_hold_mlflow_limits(mlflow_server):
    from convcli.tracking import mlflow_client as api
    from convcli.tracking.params import config_params

    params, too_long = config_params({"a": {"b": 1, "long": "x" * 6001}, "ok": "y" * 6000})
    assert params == {"a.b": "1", "ok": "y" * 6000} and too_long == ["a.long"]
    client = api.connect(mlflow_server.uri)
    run_id = client.create_run(api.experiment_id(client, "batches")).info.run_id
    many = {f"key.{i:03d}": str(i) for i in range(250)}  # three requests of at most 100
    api.log_params(client, run_id, many)
    api.log_metrics(client, run_id, [("m", float(i), i, 0) for i in range(2500)])
    assert client.get_run(run_id).data.params == many
    assert len(client.get_metric_history(run_id, "m")) == 2500
    # JSON has no NaN: the REST client spells it as protobuf does (a diverged run's loss)
    api.log_metrics(client, run_id, [("diverged", float("nan"), 1, 0), ("diverged", 1.5, 2, 0)])
    assert [math.isnan(m.value) for m in client.get_metric_history(run_id, "diverged")] == [True, False]


# --- a server that is down, hangs, or stops ---------------------------------------------


def test_a_server_that_is_down_costs_nothing_but_one_warning_and_push_sends_the_run_later(
        mlflow_server, tracked_config, tmp_path):
    down = f"http://127.0.0.1:{free_port()}"
    result = invoke("train", tracked_config(), "--runs-dir", tmp_path / "runs", "--mlflow", down)
    assert result.exit_code == 0, result.output
    warnings = [line for line in result.stderr.splitlines() if line.startswith("warning: MLflow")]
    assert len(warnings) == 1 and "cannot be reached" in warnings[0], result.stderr
    run = only_run(tmp_path / "runs")
    assert meta_of(run)["status"] == "completed"
    record = meta_of(run)["mlflow"]
    assert record["run_id"] is None and record["unsent"] == ["params", "metrics", "results", "artifacts", "status"]
    assert "cannot be reached" in record["problem"]

    pushed = invoke("runs", "push", run.name, "--runs-dir", tmp_path / "runs", "--mlflow", mlflow_server.uri)
    assert pushed.exit_code == 0, pushed.output
    record = meta_of(run)["mlflow"]
    assert record["unsent"] == [] and record["problem"] is None and record["run_id"]
    client = MlflowClient(mlflow_server.uri)
    remote = client.get_run(record["run_id"])
    assert remote.info.status == "FINISHED" and remote.data.tags["convcli.run_id"] == run.name
    assert [step for step, _ in history(client, record["run_id"], "val_accuracy")] == [1, 2]
    again = invoke("runs", "push", run.name, "--runs-dir", tmp_path / "runs", "--mlflow", mlflow_server.uri)
    assert "already complete" in again.stdout
    assert [step for step, _ in history(client, record["run_id"], "val_accuracy")] == [1, 2]


def test_a_hung_server_does_not_hang_training(tracked_config, tmp_path, monkeypatch):
    """A server that accepts connections and never answers: each request ends at
    MLFLOW_HTTP_REQUEST_TIMEOUT, and training does not wait for it."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(16)
    held = []
    threading.Thread(target=lambda: [held.append(listener.accept()) for _ in range(16)], daemon=True).start()
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_TIMEOUT", "3")
    began = time.monotonic()
    result = invoke("train", tracked_config(), "--runs-dir", tmp_path / "runs", "--mlflow",
                    f"http://127.0.0.1:{listener.getsockname()[1]}")
    seconds = time.monotonic() - began
    listener.close()
    assert result.exit_code == 0, result.output
    warnings = [line for line in result.stderr.splitlines() if line.startswith("warning: MLflow")]
    assert len(warnings) == 1 and "did not answer within" in warnings[0], result.stderr
    assert seconds < 45, seconds
    record = meta_of(only_run(tmp_path / "runs"))["mlflow"]
    assert record["unsent"][0] == "params" and "did not answer" in record["problem"]


@pytest.mark.slow
def test_the_server_stopped_after_epoch_2_the_run_completes_and_push_fills_in(
        tracked_config, tmp_path, monkeypatch):
    from convcli.training.metrics_log import MetricsLog

    server = Server(f"sqlite:///{tmp_path / 'mlflow.db'}", tmp_path / "artifacts").start()
    client = MlflowClient(server.uri)
    original = MetricsLog.on_epoch_end
    seen = {}

    def stop_after_epoch_2(self, epoch, logs=None):
        original(self, epoch, logs)
        if epoch + 1 == 2:  # epoch 2's row is written: wait until the server holds it, then stop it
            run_id = _wait_for(lambda: json.loads((self.path.parent / "meta.json").read_text())
                               ["mlflow"]["run_id"])
            _wait_for(lambda: len(client.get_metric_history(run_id, "val_loss")) == 2)
            server.stop()
            seen["stopped"] = True

    monkeypatch.setattr(MetricsLog, "on_epoch_end", stop_after_epoch_2)
    try:
        result = invoke("train", tracked_config(train={"epochs": 4}), "--runs-dir", tmp_path / "runs",
                        "--mlflow", server.uri)
        assert result.exit_code == 0, result.output
        assert seen["stopped"]
        run = only_run(tmp_path / "runs")
        warnings = [line for line in result.stderr.splitlines() if line.startswith("warning: MLflow")]
        assert len(warnings) == 1 and "cannot be reached" in warnings[0], result.stderr
        meta = meta_of(run)
        assert meta["status"] == "completed" and len(list(_csv_rows(run / "metrics.csv"))) == 4
        assert meta["mlflow"]["unsent"] == ["metrics after epoch 2", "results", "artifacts", "status"]
        run_id = meta["mlflow"]["run_id"]

        server.start()  # the same store and port, as after a restart
        assert client.get_run(run_id).info.status == "RUNNING"
        pushed = invoke("runs", "push", run)
        assert pushed.exit_code == 0, pushed.output
        assert f"run {run.name}: sent (MLflow run {run_id})" in pushed.stdout
        remote = client.get_run(run_id)
        assert remote.info.status == "FINISHED"
        for key in EPOCH_METRICS:
            assert [step for step, _ in history(client, run_id, key)] == [1, 2, 3, 4], key
        assert "test_accuracy" in remote.data.metrics
        assert {"config.yaml", "summary.json", "report.html", "curves.png"} <= artifacts(client, run_id)
        assert meta_of(run)["mlflow"]["unsent"] == []
    finally:
        server.stop()


def _wait_for(value, timeout: float = 60):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            found = value()
        except Exception:  # noqa: BLE001  not there yet
            found = None
        if found:
            return found
        time.sleep(0.1)
    raise AssertionError("timed out")


@pytest.mark.slow
def test_a_run_resumed_after_a_kill_continues_its_mlflow_run(mlflow_server, tracked_config, tmp_path):
    config = tracked_config(train={"epochs": 3})
    runs = tmp_path / "runs"
    env = os.environ | {"CONVCLI_TEST_PAUSE": "last.keras#2", "TF_CPP_MIN_LOG_LEVEL": "2"}
    process = subprocess.Popen([sys.executable, "-m", "convcli", "train", str(config), "--runs-dir", str(runs),
                                "--mlflow", mlflow_server.uri, "--mlflow-experiment", "resumed"],
                               env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        paused = _wait_for(lambda: next(runs.glob("*/checkpoints/.last.keras.paused"), None), timeout=120)
        run = paused.parent.parent
        client = MlflowClient(mlflow_server.uri)
        run_id = _wait_for(lambda: meta_of(run)["mlflow"]["run_id"])
        _wait_for(lambda: len(client.get_metric_history(run_id, "val_loss")) >= 1)
    finally:
        process.kill()
        process.wait()
    result = invoke("train", config, "--runs-dir", runs, "--resume", run.name)  # no --mlflow: kept
    assert result.exit_code == 0, result.output
    assert meta_of(run)["mlflow"]["run_id"] == run_id and meta_of(run)["mlflow"]["unsent"] == []
    experiment = client.get_experiment_by_name("resumed").experiment_id
    assert len(client.search_runs([experiment])) == 1
    assert client.get_run(run_id).info.status == "FINISHED"
    assert [step for step, _ in history(client, run_id, "val_loss")] == [1, 2, 3]


# --- sweeps ---------------------------------------------------------------------------


def sweep_yaml(tmp_path: Path, tiny_data, name="tracked") -> Path:
    base = tmp_path / "base.yaml"
    base.write_text(yaml.safe_dump(tiny_config(tiny_data, train={"epochs": 2})))
    path = tmp_path / f"{name}.yaml"
    path.write_text(yaml.safe_dump({"name": name, "base": "base.yaml", "seeds": 1, "metric": "val_accuracy",
                                    "params": {"train.learning_rate": [1.0e-3, 1.0e-4]}}))
    return path


@pytest.mark.slow
def test_a_sweep_is_a_parent_run_with_nested_trials_hparams_and_a_dashboard_study(
        mlflow_server, tmp_path, tiny_data):
    result = invoke("sweep", sweep_yaml(tmp_path, tiny_data), "--runs-dir", tmp_path / "runs",
                    "--mlflow", mlflow_server.uri, "--mlflow-experiment", "sweeps")
    assert result.exit_code == 0, result.output
    assert "warning" not in result.stderr
    (folder,) = (tmp_path / "runs" / "sweeps").iterdir()
    client = MlflowClient(mlflow_server.uri)
    experiment = client.get_experiment_by_name("sweeps").experiment_id
    runs = client.search_runs([experiment])
    (parent,) = [r for r in runs if r.data.tags.get("convcli.role") == "sweep"]
    children = [r for r in runs if r.data.tags.get("mlflow.parentRunId") == parent.info.run_id]
    assert len(runs) == 3 and len(children) == 2
    assert parent.data.tags["convcli.sweep_id"] == folder.name and parent.info.status == "FINISHED"
    assert parent.data.params["sweep.params.train.learning_rate"] == "[0.001, 0.0001]"
    points = list(_csv_rows(folder / "points.csv"))
    for row in points:
        assert parent.data.metrics[f"point_{row['point']}.mean"] == pytest.approx(float(row["mean"]))
        assert parent.data.metrics[f"point_{row['point']}.n"] == 1
    assert parent.data.tags["best.params.train.learning_rate"] in ("0.001", "0.0001")
    assert {"points.csv", "trials.csv", "best.yaml", "report.html"} <= artifacts(client, parent.info.run_id)
    # a point's numbers are sent when they change, not at every rewrite of the records
    assert len(client.get_metric_history(parent.info.run_id, "point_1.mean")) == 1
    for child in children:
        assert child.data.tags["convcli.sweep_id"] == folder.name
        assert child.data.params["train.learning_rate"] in ("0.001", "0.0001")
        assert [step for step, _ in history(client, child.info.run_id, "val_accuracy")] == [1, 2]
        trial = Path(child.data.tags["convcli.run_dir"])
        assert trial.parent == (folder / "trials").resolve()
        assert meta_of(trial)["mlflow"]["parent_run_id"] == parent.info.run_id
    pushed = invoke("runs", "push", folder)
    assert pushed.exit_code == 0, pushed.output
    assert pushed.stdout.count("already complete") == 3, pushed.stdout
    _check_hparams(folder)
    _check_dashboard(folder)


def _check_hparams(folder: Path) -> None:
    """Every trial is a session of the HParams dashboard, read with TensorBoard's reader."""
    from tensorboard.backend.event_processing import event_multiplexer
    from tensorboard.plugins.hparams import metadata
    from tensorboard.util import tensor_util

    multiplexer = event_multiplexer.EventMultiplexer().AddRunsFromDirectory(str(folder / "tensorboard"))
    multiplexer.Reload()
    content = multiplexer.PluginRunToTagToContent(metadata.PLUGIN_NAME)
    experiment = metadata.parse_experiment_plugin_data(content["."][metadata.EXPERIMENT_TAG])
    assert [h.name for h in experiment.hparam_infos] == ["train.learning_rate", "point", "seed", "status"]
    assert "sweep/val_accuracy" in [m.name.tag for m in experiment.metric_infos]
    trials = {row["run"]: row for row in _csv_rows(folder / "trials.csv")}
    sessions = {run: metadata.parse_session_start_info_plugin_data(tags[metadata.SESSION_START_INFO_TAG])
                for run, tags in content.items() if metadata.SESSION_START_INFO_TAG in tags}
    assert len(sessions) == len(trials) == 2
    for name, session in sessions.items():
        (row,) = [row for path, row in trials.items() if path.endswith(name)]
        assert session.hparams["train.learning_rate"].number_value == pytest.approx(
            json.loads(row["train.learning_rate"]))
        assert session.hparams["status"].string_value == "completed"
        (event,) = multiplexer.Tensors(name, "sweep/val_accuracy")
        assert float(tensor_util.make_ndarray(event.tensor_proto)) == pytest.approx(float(row["val_accuracy"]))


def _check_dashboard(folder: Path) -> None:
    """Optuna Dashboard's own app, on the sweep's study.db, lists the study and its trials."""
    optuna_dashboard = pytest.importorskip("optuna_dashboard")
    import io
    import wsgiref.util

    app = optuna_dashboard.wsgi(f"sqlite:///{folder / 'study.db'}")

    def get(path):
        environ, answer = {}, {}
        wsgiref.util.setup_testing_defaults(environ)
        environ.update(PATH_INFO=path, **{"wsgi.errors": io.StringIO()})
        body = b"".join(app(environ, lambda status, headers, exc=None: answer.update(status=status)))
        assert answer["status"].startswith("200"), (path, answer, body[:300])
        return json.loads(body)

    (study,) = get("/api/studies")["study_summaries"]
    assert study["study_name"] == "tracked" and study["directions"] == ["maximize"]
    detail = get(f"/api/studies/{study['study_id']}")
    assert len(detail["trials"]) == 2 and {t["state"] for t in detail["trials"]} == {"Complete"}
    assert all(t["params"][0]["name"] == "train.learning_rate" for t in detail["trials"])


def test_a_pruned_trial_is_marked_on_its_mlflow_run(mlflow_server, tmp_path):
    from convcli.runs import Run
    from convcli.sweeps.directory import SweepDir
    from convcli.sweeps.tracked import SweepTracking
    from convcli.tracking import Target
    from convcli.tracking import mlflow_client as api

    folder = SweepDir(tmp_path / "2026-01-01_00-00-00_pruning")
    folder.path.mkdir()
    folder.sweep_yaml.write_text("name: pruning\nstudy: pruning\n")
    target = Target(mlflow_server.uri, "pruning")
    tracking = SweepTracking(target, folder).open({"name": "pruning", "seeds": 1})
    client = api.connect(mlflow_server.uri)
    trial_id = client.create_run(api.experiment_id(client, "pruning")).info.run_id
    run = Run(tmp_path / "trial")
    run.path.mkdir()
    run.update_meta(status="pruned", mlflow={"run_id": trial_id})
    tracking.pruned(run, "pruned after epoch 2 by median")
    tracking.finish("completed")
    tags = client.get_run(trial_id).data.tags
    assert tags["convcli.status"] == "pruned" and tags["convcli.pruned"] == "pruned after epoch 2 by median"


@pytest.mark.slow
def test_sweeps_on_two_machines_sharing_a_postgresql_study_write_under_one_parent(postgres_url, tmp_path):
    """MLflow itself on PostgreSQL; two sweep processes (two folders, as on two machines)
    with the same --storage and --study open their parent at once and find the same one."""
    import psycopg

    with psycopg.connect(postgres_url, autocommit=True) as connection:
        connection.execute("CREATE DATABASE mlflow_tracking")
    backend = postgres_url.replace("postgresql://", "postgresql+psycopg://").rsplit("/", 1)[0] + "/mlflow_tracking"
    server = Server(backend, tmp_path / "artifacts").start(timeout=180)
    try:
        from convcli.sweeps.directory import SweepDir
        from convcli.sweeps.tracked import SweepTracking
        from convcli.tracking import Target

        target, opened = Target(server.uri, "shared"), []
        for machine in ("a", "b"):
            folder = SweepDir(tmp_path / machine / "2026-01-01_00-00-00_lr")
            folder.path.mkdir(parents=True)
            folder.sweep_yaml.write_text(f"name: lr\nstudy: lr-1\nstorage: {postgres_url}\n")
            opened.append(SweepTracking(target, folder))
        threads = [threading.Thread(target=t.open, args=({"name": "lr", "seeds": 2},)) for t in opened]
        [thread.start() for thread in threads]
        [thread.join() for thread in threads]
        assert opened[0].parent and opened[0].parent == opened[1].parent, [t.problem for t in opened]
        client = MlflowClient(server.uri)
        experiment = client.get_experiment_by_name("shared").experiment_id
        (parent,) = client.search_runs([experiment])
        assert parent.data.tags["convcli.sweep_id"] == f"lr-1 in {postgres_url}"
        assert parent.data.params["sweep.seeds"] == "2"
        for tracking in opened:
            tracking.finish("completed")
    finally:
        server.stop()


def test_the_hparams_records_are_written_without_importing_tensorflow(tmp_path):
    """A sweep process writes them; tensorboard's own writer would import all of TensorFlow
    there (3 s and its start-up lines on the terminal). TensorBoard still reads them."""
    code = f"""
import sys
from pathlib import Path
from convcli.tracking import hparams
hparams.write_experiment(Path({str(tmp_path)!r}), ["train.learning_rate"], "val_accuracy")
hparams.write_session(Path({str(tmp_path)!r}), "t-p1-s1", {{"train.learning_rate": 0.001, "point": 1,
                      "seed": 1, "status": "completed"}}, "val_accuracy", 0.75, 2,
                      [{{"epoch": 1, "val_accuracy": 0.5, "val_loss": 0.7}}])
print("tensorflow" in sys.modules)
"""
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0 and done.stdout.strip() == "False", done.stderr
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    session = EventAccumulator(str(tmp_path / "tensorboard" / "t-p1-s1"))
    session.Reload()
    assert "_hparams_/session_start_info" in session.Tags()["tensors"]
    assert [event.step for event in session.Tensors("sweep/val_accuracy")] == [2]
