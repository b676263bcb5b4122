"""Tracking overhead: a run sent to an MLflow server against the same run untracked.

Whole `convcli train` processes of the shipped scratch config (64x64, the built-in
200 training images) with train.epochs=6, one untracked and one with `--mlflow` to an
`mlflow server` (sqlite backend, artifacts kept by the server as by default, one worker,
no job runner) started here on loopback, interleaved for --rounds rounds after one
warm-up run (which makes the built-in data); the median wall time of each is compared.
The tracked run makes its MLflow run, logs params, every epoch's metrics, the results and
the artifacts through MLflow's REST API (from a thread of its own, waiting for the last
of them at the end). Target: at most 1.05x. The load average, before and after, says how
busy the machine was (wall time suffers from other jobs more than CPU time does).

    python benchmarks/tracking_overhead.py [--rounds 5] [--epochs 6] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

TARGET = 1.05
# The server shares this machine's cores with the runs it times (a team's server runs
# elsewhere): one uvicorn worker, and MLflow 3's background job runner (huey consumers
# polling for GenAI jobs, ~5% of a core idle) left off.
SERVER_ENV = {"MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false"}


def start_server(root: Path) -> tuple[subprocess.Popen, str]:
    """`mlflow server` in its own session (its workers outlive it: stop the group)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = subprocess.Popen([sys.executable, "-m", "mlflow", "server", "--backend-store-uri",
                               f"sqlite:///{root / 'mlflow.db'}", "--artifacts-destination",
                               str(root / "artifacts"), "--host", "127.0.0.1", "--port", str(port),
                               "--workers", "1"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                              start_new_session=True, env={**os.environ, **SERVER_ENV})
    uri = f"http://127.0.0.1:{port}"
    for _ in range(240):
        try:
            with urllib.request.urlopen(f"{uri}/health", timeout=2):
                return server, uri
        except OSError:
            time.sleep(0.5)
    os.killpg(server.pid, signal.SIGKILL)
    raise SystemExit("mlflow server did not answer /health within 2 minutes")


def stop_server(server: subprocess.Popen) -> None:
    """SIGTERM to its process group, then SIGKILL to whatever of it is left."""
    os.killpg(server.pid, signal.SIGTERM)
    try:
        server.wait(30)
    except subprocess.TimeoutExpired:
        pass
    try:
        os.killpg(server.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    server.wait()


def train_seconds(runs: Path, epochs: int, extra: list[str]) -> tuple[float, float]:
    """(wall seconds, CPU seconds: user + system of the process and its children)."""
    command = [sys.executable, "-m", "convcli", "train", "scratch", "--set", f"train.epochs={epochs}",
               "--runs-dir", str(runs), *extra]
    began, cpu = time.perf_counter(), _children_cpu()
    done = subprocess.run(command, capture_output=True, text=True,
                          env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"})
    seconds, cpu = time.perf_counter() - began, _children_cpu() - cpu
    if done.returncode != 0 or "warning: MLflow" in done.stderr:
        raise SystemExit(f"{' '.join(command)} failed:\n{done.stderr[-2000:]}")
    return seconds, cpu


def _children_cpu() -> float:
    import resource

    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--epochs", type=int, default=6)
    parser.add_argument("--json")
    args = parser.parse_args()
    load_before = os.getloadavg()
    with tempfile.TemporaryDirectory(prefix="convcli-tracking-") as folder:
        root = Path(folder)
        server, uri = start_server(root)
        try:
            train_seconds(root / "runs", args.epochs, [])  # warm-up: the built-in data, caches
            times = {"untracked": [], "tracked": []}
            for _ in range(args.rounds):
                times["untracked"].append(train_seconds(root / "runs", args.epochs, []))
                times["tracked"].append(train_seconds(root / "runs", args.epochs, ["--mlflow", uri]))
        finally:
            stop_server(server)
    report(times, args.json, [load_before, os.getloadavg()])


def report(times: dict, json_path: str | None, loads: list) -> None:
    """Median wall and CPU time of each, and the ratios (CPU time is steadier on a shared
    machine: other processes lengthen wall time, not this process's CPU time)."""
    medians = {name: [statistics.median(v[i] for v in values) for i in (0, 1)]
               for name, values in times.items()}
    ratios = [medians["tracked"][i] / medians["untracked"][i] for i in (0, 1)]
    print(f"{'run':<10} {'wall s':>7} {'CPU s':>7}  all wall (s)")
    for name, values in times.items():
        print(f"{name:<10} {medians[name][0]:7.2f} {medians[name][1]:7.2f}  "
              f"{' '.join(f'{wall:.2f}' for wall, _ in values)}")
    verdict = "pass" if ratios[0] <= TARGET else "miss"
    print(f"tracked / untracked: {ratios[0]:.3f}x wall (target <= {TARGET}x: {verdict}), "
          f"{ratios[1]:.3f}x CPU time")
    # each round's two runs follow each other, so they share the load of that moment
    paired = [statistics.median(t[i] / u[i] for t, u in zip(times["tracked"], times["untracked"]))
              for i in (0, 1)]
    print(f"median of the rounds' own ratios: {paired[0]:.3f}x wall, {paired[1]:.3f}x CPU time")
    print("load average (1, 5, 15 min) before: {:.2f} {:.2f} {:.2f}, after: {:.2f} {:.2f} {:.2f}".format(
        *loads[0], *loads[1]))
    if json_path:
        Path(json_path).write_text(json.dumps({"times": times, "medians": medians, "ratios": ratios,
                                               "paired_ratios": paired, "load_average": loads}, indent=2))


if __name__ == "__main__":
    main()
