"""What a sweep writes about its trials and points: trials.csv, points.csv, best.yaml.

Rows are read from the study (every machine's trials) and grouped by point. A point's
result counts only the latest attempt of each of its seeds (a retried trial replaces the
one that died), and a point is judged by the mean over its seeds.
"""

from __future__ import annotations

import csv
import io
import json
from dataclasses import dataclass, field

from convcli.config import to_yaml
from convcli.files import atomic_write_text
from convcli.sweeps.directory import SweepDir
from convcli.sweeps.spec import Sweep
from convcli.safeyaml import load_json
from convcli.stats import Summary, summarize

STATES = {"RUNNING": "running", "COMPLETE": "completed", "PRUNED": "pruned", "FAIL": "interrupted",
          "WAITING": "waiting"}


@dataclass
class TrialRow:
    number: int
    point: int
    seed_index: int
    params: dict
    seed: int | None
    status: str
    value: float | None
    best_epoch: int | None
    epochs: int | None
    seconds: float | None
    host: str | None
    run: str | None


@dataclass
class PointRow:
    point: int
    params: dict
    summary: Summary
    status: str
    trials: list[TrialRow] = field(default_factory=list)


def trial_rows(study, sweep: Sweep) -> list[TrialRow]:
    """Every trial that has started, in the order they were made."""
    rows = []
    for trial in study.get_trials(deepcopy=False):
        state, attrs = trial.state.name, trial.user_attrs
        if state == "WAITING" or "point" not in attrs:
            continue
        worker, result = attrs.get("worker") or {}, attrs.get("result") or {}
        # A FAIL without a result: its worker died (kill -9), and the trial was enqueued again.
        status = STATES[state] if state != "FAIL" else result.get("status", "interrupted")
        rows.append(TrialRow(trial.number, attrs["point"], attrs.get("seed_index", 0),
                             decode(sweep, trial.params), worker.get("seed"), status,
                             trial.value if state == "COMPLETE" else result.get("value"),
                             result.get("best_epoch"), result.get("epochs"), result.get("seconds"),
                             worker.get("host"), attrs.get("run")))
    return rows


def decode(sweep: Sweep, stored: dict) -> dict:
    """Params as the sweep file writes them (JSON text back to lists)."""
    values = {}
    for key, value in stored.items():
        kind, args = sweep.spec.params.get(key, ("choice", []))
        values[key] = json.loads(value) if isinstance(value, str) and value not in args else value
    return values


def point_rows(trials: list[TrialRow], sweep: Sweep) -> list[PointRow]:
    """One row per point that has started: its seeds' statistics and its status."""
    latest: dict[tuple[int, int], TrialRow] = {}
    for row in trials:
        latest[(row.point, row.seed_index)] = row  # trials come in the order they were made
    points: dict[int, PointRow] = {}
    for (point, _), row in sorted(latest.items()):
        entry = points.setdefault(point, PointRow(point, row.params, summarize([]), "running"))
        entry.trials.append(row)
        entry.params = entry.params or row.params
    for entry in points.values():
        values = [t.value for t in entry.trials if t.status == "completed" and t.value is not None]
        entry.summary = summarize(values)
        entry.status = point_status(entry.trials, sweep.spec.seeds)
    return [points[p] for p in sorted(points)]


def point_status(trials: list[TrialRow], seeds: int) -> str:
    statuses = {t.seed_index: t.status for t in trials}
    if statuses.get(0) == "pruned":
        return "pruned"
    if "failed" in statuses.values():
        return "failed"
    if len(statuses) == seeds and set(statuses.values()) == {"completed"}:
        return "completed"
    return "running"


def best_point(points: list[PointRow], sweep: Sweep) -> PointRow | None:
    """The completed point with the best mean (max or min, as the sweep judges)."""
    done = [p for p in points if p.status == "completed" and p.summary.mean is not None]
    if not done:
        return None
    sign = -1 if sweep.spec.mode == "max" else 1
    return min(done, key=lambda p: (sign * p.summary.mean, p.point))


def write_records(folder: SweepDir, sweep: Sweep, trials: list[TrialRow],
                  points: list[PointRow]) -> PointRow | None:
    """trials.csv, points.csv and (once a point has completed) best.yaml; the best point."""
    keys = list(sweep.spec.params)
    metric = sweep.spec.metric
    atomic_write_text(folder.trials_csv, _csv(
        ["trial", "point", *keys, "seed", "status", metric, "best_epoch", "epochs", "seconds",
         "host", "run"],
        [[t.number, t.point, *(_cell(t.params.get(k)) for k in keys), t.seed, t.status, t.value,
          t.best_epoch, t.epochs, t.seconds, t.host, t.run] for t in trials]))
    atomic_write_text(folder.points_csv, _csv(
        ["point", *keys, "n", "mean", "std", "ci95_low", "ci95_high", "status"],
        [[p.point, *(_cell(p.params.get(k)) for k in keys), p.summary.n, p.summary.mean,
          p.summary.std, p.summary.low, p.summary.high, p.status] for p in points]))
    best = best_point(points, sweep)
    if best is not None:
        cfg = sweep.config_for(best.params)
        header = (f"# The best point of sweep {sweep.name}: point {best.point}, {metric} "
                  f"{best.summary.as_text(digits=4)} over seeds.\n# Train it: convcli train "
                  f"{folder.best_yaml}\n")
        atomic_write_text(folder.best_yaml, header + to_yaml(cfg))
    return best


def read_points(folder: SweepDir, sweep: Sweep) -> list[PointRow]:
    """points.csv read back (without Optuna), for `convcli runs show SWEEP`."""
    from convcli.sweeps.directory import read_csv
    from convcli.stats import Summary

    def number(text):
        return float(text) if text not in (None, "") else None

    points = []
    for row in read_csv(folder.points_csv):
        params = {key: _value(row.get(key)) for key in sweep.spec.params}
        summary = Summary(int(row.get("n") or 0), number(row.get("mean")), number(row.get("std")),
                          number(row.get("ci95_low")), number(row.get("ci95_high")))
        points.append(PointRow(int(row["point"]), params, summary, row.get("status", "")))
    return points


def _value(text: str | None):
    """A points.csv cell as the value it was: a number or a JSON list where it reads as one."""
    try:
        return load_json(text)
    except (TypeError, ValueError):
        return text


def _cell(value):
    return json.dumps(value) if isinstance(value, (list, dict)) else value


def _csv(header: list, rows: list[list]) -> str:
    text = io.StringIO()
    writer = csv.writer(text, lineterminator="\n")
    writer.writerow(header)
    writer.writerows([["" if cell is None else cell for cell in row] for row in rows])
    return text.getvalue()
