"""A run tracked while it trains: one thread sends it to MLflow, so a tracking server that
is down, slow or refusing never slows or stops training.

The thread makes (or, for a resumed run, finds) the MLflow run, logs params and tags,
then sends each epoch metrics.csv gains, and at the end the results, artifacts and
status. The first failure ends its sending: one warning says what happened, and
meta.json's `mlflow` records what did not reach the server (`convcli runs push` sends it).
Training never waits for the thread, except for up to FINISH_SECONDS at the very end.
"""

from __future__ import annotations

import os
import threading
import time

from rich.console import Console

from convcli.runs import Run
from convcli.tracking import mlflow_client as api
from convcli.tracking import run_sync as sync
from convcli.tracking.target import Target

POLL_SECONDS = 1.0  # how often metrics.csv is read for new epochs
FINISH_SECONDS = 30.0  # the most a finished run waits for its last pieces to be sent
INTERRUPTED_SECONDS = 5.0  # ... and an interrupted one (Ctrl-C wants to be quick)
PIECES = ("params", "metrics", "results", "artifacts", "status")
PARENT_ENV, SWEEP_ENV = "CONVCLI_MLFLOW_PARENT_RUN", "CONVCLI_MLFLOW_SWEEP_ID"  # a sweep's trials


class LiveTracking:
    """Sends one run to MLflow from a thread of its own while the run trains."""

    def __init__(self, run: Run, target: Target, console: Console | None = None):
        self.run, self.target = run, target
        self.console = console or Console(stderr=True)
        self.parent, self.sweep_id = os.environ.get(PARENT_ENV), os.environ.get(SWEEP_ENV)
        self.run_id: str | None = None
        self.sent: set[str] = set()  # the pieces that reached the server
        self.epochs_sent = 0  # the last epoch whose metrics reached the server
        self.too_long: list[str] = []
        self._held: dict[str, set] = {}  # epochs a resumed run's MLflow run already holds
        self.problem: str | None = None
        self.status: str | None = None  # set by finish()
        self._lock = threading.Lock()  # one warning, whichever thread notices first
        self._finishing = threading.Event()
        self._thread = threading.Thread(target=self._work, daemon=True, name="convcli-mlflow")

    def start(self) -> "LiveTracking":
        earlier = self.run.read_meta().mlflow  # a resumed run keeps its sweep's parent
        if self.parent is None and earlier is not None:
            self.parent = earlier.parent_run_id
        self._record()
        self._thread.start()
        return self

    def finish(self, status: str) -> None:
        """Send the end of the run (waiting at most FINISH_SECONDS), then record in
        meta.json what did not reach the server."""
        self.status = status
        self._finishing.set()
        wait = FINISH_SECONDS if status == "completed" else INTERRUPTED_SECONDS
        self._thread.join(wait)
        if self._thread.is_alive():
            self._fail(f"the server did not answer within {wait:g} s")
        self._record()

    # --- the thread -----------------------------------------------------------------

    def _work(self) -> None:
        try:
            client = api.connect(self.target.uri)
            self._begin(client)
            while not self._finishing.wait(POLL_SECONDS):
                self._send_epochs(client)
            self._send_epochs(client)
            self._end(client)
        except Exception as error:  # noqa: BLE001  any failure of the server or client
            self._fail(api.described(error))

    def _begin(self, client) -> None:
        meta = self.run.read_meta()
        self.run_id, made = sync.open_run(client, self.target, self.run, meta, self.parent, self.sweep_id)
        self._record()  # the id, before anything else: a killed run resumes into it
        if not made:  # resumed: continue where the server is
            held = client.get_run(self.run_id).data.params
            self._held = sync.held_steps(client, self.run_id)
            client.update_run(self.run_id, "RUNNING")
            api.set_tags(client, self.run_id, sync.run_tags(self.run, meta, self.parent, self.sweep_id))
        else:
            held = {}
        _, self.too_long = sync.send_params(client, self.run_id, self.run, held)
        self.sent.add("params")

    def _send_epochs(self, client) -> None:
        rows = sync.epoch_rows(self.run)
        new = [row for row in rows if row["epoch"] > self.epochs_sent]
        if not new:
            return
        # timestamps: the run's start plus the epoch times before the new rows
        began = (sync.started(self.run.read_meta()) or time.time()) + sum(
            row.get("seconds") or 0.0 for row in rows if row["epoch"] <= self.epochs_sent)
        api.log_metrics(client, self.run_id, sync.epoch_points(new, began, self._held))
        self.epochs_sent = new[-1]["epoch"]

    def _end(self, client) -> None:
        self.sent.add("metrics")
        meta = self.run.read_meta()
        sync.send_results(client, self.run_id, self.run.summary_or_none(), tags=sync.status_tags(meta))
        self.sent.add("results")
        sync.send_artifacts(client, self.run_id, self.run, self.target.log_model, replace=True)
        self.sent.add("artifacts")
        sync.send_status(client, self.run_id, meta, tagged=True)
        self.sent.add("status")

    # --- what happened ----------------------------------------------------------------

    def _fail(self, problem: str) -> None:
        with self._lock:
            if self.problem is not None:
                return
            self.problem = problem
        self.console.print(f"[yellow]warning:[/] MLflow at {self.target.shown}: {problem}; training "
                           f"goes on untracked from here, and `convcli runs push {self.run.name}` "
                           "sends the rest later", highlight=False, soft_wrap=True)

    def unsent(self) -> list[str]:
        """What has not reached the server (all of it while the run is not finished)."""
        left = [piece for piece in PIECES if piece not in self.sent]
        if "metrics" in left and self.epochs_sent:
            left[left.index("metrics")] = f"metrics after epoch {self.epochs_sent}"
        return left

    def _record(self) -> None:
        self.run.update_meta(mlflow={
            "uri": self.target.shown, "experiment": self.target.experiment, "run_id": self.run_id,
            "parent_run_id": self.parent, "unsent": self.unsent(), "problem": self.problem,
            "too_long": self.too_long})

