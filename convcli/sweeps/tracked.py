"""A sweep tracked on MLflow: its parent run, kept up to date from a thread of its own,
and what each trial process is told so its run is nested under that parent.

The parent is opened before the first trial starts (waiting at most OPEN_SECONDS). From
then on every update (the points after a trial ends, a pruned trial's mark, the final
records) is queued for the thread, and the sweep never waits for the server, except for
up to FINISH_SECONDS at its end. The first failure stops the sending with one warning;
`convcli runs push SWEEP` sends the sweep and its trials later.
"""

from __future__ import annotations

import json
import queue
import threading

from rich.console import Console

from convcli.records import SweepRecord
from convcli.runs import Run
from convcli.sweeps.directory import SweepDir
from convcli.tracking import mlflow_client as api
from convcli.tracking import parent as parents
from convcli.tracking.live import PARENT_ENV, SWEEP_ENV
from convcli.tracking.params import PARAMS_PER_BATCH, batches
from convcli.tracking.target import Target

OPEN_SECONDS = 30.0
FINISH_SECONDS = 60.0
STATUSES = {"completed": "FINISHED", "interrupted": "KILLED", "failed": "FAILED"}


def sweep_id(folder: SweepDir) -> str:
    """What names a sweep on MLflow: its directory, or for a study shared through --storage
    the study and its storage (the same on every machine that shares it)."""
    record = SweepRecord.read(folder.sweep_yaml)
    return f"{record.study} in {record.storage}" if record.storage else folder.name


def open_sweep_parent(client, target: Target, folder: SweepDir, spec: dict) -> str:
    """The sweep's parent run (found or made), with the sweep file's settings as params."""
    parent = parents.open_parent(client, target, sweep_id(folder), folder.name,
                                 {"convcli.sweep_dir": str(folder.path.resolve())})
    wanted = parents.sweep_params(spec)
    held = client.get_run(parent).data.params
    try:
        api.log_params(client, parent, {k: v for k, v in wanted.items() if k not in held})
    except Exception:
        # Another machine's process of the sweep logged the same settings at the same
        # moment (the database refuses the second copy of a param): nothing is missing.
        if not set(wanted) <= set(client.get_run(parent).data.params):
            raise
    return parent


def send_points(client, parent: str, points: list, best, held: dict, held_tags: dict) -> int:
    """Each point's mean, std, 95% interval and n as metrics (step: trials ended so far),
    its params and status as tags; the best point's too. Only what differs from `held`
    and `held_tags` (the parent's latest) is sent, and they are updated; how many values."""
    values = {key: value for point in points
              for key, value in parents.point_values(f"point_{point.point}", point.summary).items()}
    tags = {f"point_{p.point}.params": ", ".join(f"{k}={json.dumps(v)}" for k, v in p.params.items())
            for p in points} | {f"point_{p.point}.status": p.status for p in points}
    if best is not None:
        tags |= parents.best_tags(best.point, best.params, best.summary)
        values |= parents.point_values("best", best.summary)
    values = {k: v for k, v in values.items() if held.get(k) != v}
    tags = {k: v for k, v in tags.items() if held_tags.get(k) != v}
    step, now = sum(p.summary.n for p in points), api.milliseconds()
    unsent = [(k, v, step, now) for k, v in values.items()]
    for chunk in batches(sorted(tags.items()), PARAMS_PER_BATCH) or ([[]] if unsent else []):
        api.log_metrics(client, parent, unsent, dict(chunk))  # the tags ride with the values
        unsent = []
    held.update(values)
    held_tags.update(tags)
    return len(values) + len(tags)


def send_sweep_end(client, parent: str, folder: SweepDir, status: str, replace: bool = True) -> int:
    """The sweep's records and plots as artifacts (replace False: only those the server
    lacks), and the parent run ended; how many files were sent."""
    held = set() if replace else api.artifact_names(client, parent) | api.artifact_names(client, parent, "plots")
    files = [(path, None) for path in (folder.points_csv, folder.trials_csv, folder.best_yaml,
                                       folder.sweep_yaml, folder.report) if path.is_file()]
    files += [(path, "plots") for path in sorted(folder.plots.glob("*.png"))]
    files = [(path, where) for path, where in files if f"{where + '/' if where else ''}{path.name}" not in held]
    for path, where in files:
        api.log_artifact(client, parent, path, where)
    client.set_terminated(parent, STATUSES.get(status, "FAILED"))
    return len(files)


class SweepTracking:
    """The sweep's parent run and the queue of updates a thread sends to it."""

    def __init__(self, target: Target, folder: SweepDir, console: Console | None = None):
        self.target, self.folder, self.sweep_id = target, folder, sweep_id(folder)
        self.console = console or Console(stderr=True)
        self.parent: str | None = None
        self.problem: str | None = None
        self._sent_values: dict = {}  # the parent's latest metrics and tags, as sent
        self._sent_tags: dict = {}
        self._jobs: queue.Queue = queue.Queue()
        self._thread = threading.Thread(target=self._work, daemon=True, name="convcli-mlflow-sweep")
        self._client = None

    def open(self, spec: dict) -> "SweepTracking":
        """Find or make the parent run now: its id goes to every trial."""
        def opening():
            client = api.connect(self.target.uri)
            parent = open_sweep_parent(client, self.target, self.folder, spec)
            client.update_run(parent, "RUNNING")  # a sweep continued, or another machine's
            return client, parent

        try:
            self._client, self.parent = api.bounded(opening, OPEN_SECONDS)
        except Exception as error:  # noqa: BLE001  down, slow or refusing: the sweep goes on
            self._fail(error)
        self._thread.start()
        return self

    def trial_options(self) -> tuple[list[str], dict]:
        """(the --set options, the environment) a trial is started with, to track its run
        under the parent (untracked trials, when the parent could not be opened)."""
        if self.parent is None:
            return [], {}
        sets = ["--set", f"tracking.mlflow={json.dumps(self.target.uri)}",
                "--set", f"tracking.experiment={json.dumps(self.target.experiment)}"]
        if self.target.log_model:
            sets += ["--set", "tracking.log_model=true"]
        return sets, {PARENT_ENV: self.parent, SWEEP_ENV: self.sweep_id}

    def points(self, points: list, best) -> None:
        """Queue the points' mean, std and interval (and the best point) for the parent."""
        self._queue(lambda client: send_points(client, self.parent, points, best, self._sent_values,
                                               self._sent_tags))

    def pruned(self, run: Run, reason: str) -> None:
        """Mark a pruned trial's MLflow run (its own process ended it as KILLED)."""
        def mark(client):
            meta = run.read_meta()
            if meta.mlflow and meta.mlflow.run_id:
                api.set_tags(client, meta.mlflow.run_id, {"convcli.status": "pruned", "convcli.pruned": reason})
        self._queue(mark)

    def finish(self, status: str) -> None:
        """Send the sweep's records and end the parent run; wait at most FINISH_SECONDS."""
        self._queue(lambda client: send_sweep_end(client, self.parent, self.folder, status))
        self._jobs.put(None)
        self._thread.join(FINISH_SECONDS)
        if self._thread.is_alive():
            self._fail(TimeoutError(f"the server did not answer within {FINISH_SECONDS:g} s"))

    # --- the thread -----------------------------------------------------------------

    def _queue(self, job) -> None:
        if self.parent is not None and self.problem is None:
            self._jobs.put(job)

    def _work(self) -> None:
        while (job := self._jobs.get()) is not None:
            if self.problem is not None:
                continue  # the first failure ends the sending; runs push sends the rest
            try:
                job(self._client)
            except Exception as error:  # noqa: BLE001
                self._fail(error)

    def _fail(self, error: Exception) -> None:
        if self.problem is not None:
            return
        self.problem = api.described(error)
        self.console.print(f"[yellow]warning:[/] MLflow at {self.target.shown}: {self.problem}; the sweep "
                           f"goes on untracked from here, and `convcli runs push {self.folder.path}` "
                           "sends it later", highlight=False, soft_wrap=True)
