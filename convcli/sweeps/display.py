"""What a sweep shows a person: the plan, a live table while it runs, the points table.

On a terminal the live table redraws in place (refreshed by the sweep's own loop, so the
sweep runs no thread); in a pipe each trial that ends prints one line.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import time
from pathlib import Path

from rich import box
from rich.console import Console
from rich.live import Live
from rich.table import Table

from convcli import formats
from convcli.sweeps.records import PointRow
from convcli.sweeps.spec import Sweep


def short(key: str) -> str:
    """A param's column header: the last part of its key (train.learning_rate -> learning_rate)."""
    return key.rsplit(".", 1)[-1]


def value_text(value) -> str:
    if isinstance(value, float):
        return f"{value:.3g}"
    if isinstance(value, dict):  # a section's settings (augment.randaugment): key value, ...
        return "{" + ", ".join(f"{key} {value_text(inner)}" for key, inner in value.items()) + "}"
    return str(value)


def metric_text(metric: str, value) -> str:
    return formats.metric(metric, value)


def summary_text(metric: str, point: PointRow) -> str:
    """mean ± std (n) in the metric's unit (points of percent for accuracies)."""
    if metric.endswith("accuracy"):
        return point.summary.as_text(scale=100, digits=1)
    return point.summary.as_text(digits=4)


def interval_text(metric: str, point: PointRow) -> str:
    s = point.summary
    if s.low is None:
        return "-"
    if metric.endswith("accuracy"):
        return f"{100 * s.low:.1f}–{100 * s.high:.1f}"
    return f"{s.low:.4f}–{s.high:.4f}"


def points_table(sweep: Sweep, points: list[PointRow], best: PointRow | None,
                 title: str) -> formats.Fitted:
    """One row per point: its params, mean ± std over seeds, the 95 % interval, status.

    A narrow terminal loses the interval column first (points.csv keeps it).
    """
    return formats.Fitted(_points_layout(sweep, points, best, title, interval=True),
                          _points_layout(sweep, points, best, title, interval=False))


def _points_layout(sweep: Sweep, points: list[PointRow], best: PointRow | None, title: str,
                   interval: bool) -> Table:
    metric = sweep.spec.metric
    table = Table(title=title, title_justify="left", box=box.SIMPLE_HEAD, caption_justify="left")
    table.add_column("point", justify="right")
    # one-at-a-time: each point differs from the base in one key, so one column says which
    one_at_a_time = sweep.spec.search == "one-at-a-time"
    keys = [] if one_at_a_time else list(sweep.spec.params)
    for key in keys:
        table.add_column(short(key), justify="right", no_wrap=True)
    if one_at_a_time:
        table.add_column("change", ratio=1)  # may wrap: a section's settings are long
        # point 1 is the base; its params as this table has them (a recorded sweep's
        # points.csv writes a null as an empty cell)
        base = next((p.params for p in points if p.point == 1), {})
    unit = " %" if metric.endswith("accuracy") else ""
    table.add_column(f"{metric}{unit}", justify="right", no_wrap=True)
    if interval:
        table.add_column("95% CI", justify="right", no_wrap=True)
    table.add_column("status")
    for point in points:
        mark = " *" if best is not None and point.point == best.point else ""
        cells = [change_text(base, point.params)] if one_at_a_time else [
            value_text(point.params.get(k)) for k in keys]
        table.add_row(f"{point.point}{mark}", *cells,
                      summary_text(metric, point), *([interval_text(metric, point)] if interval else []),
                      point.status)
    table.caption = (f"mean ± std (seeds) of each point's {metric}; "
                     + ("95% CI: Student's t over the seeds; " if interval else "")
                     + "* the best completed point")
    return table


def change_text(base: dict, params: dict) -> str:
    """A one-at-a-time point as its difference from the base: `the base`, or `key value`."""
    changed = [f"{short(key)} {value_text(value)}" for key, value in params.items() if base.get(key) != value]
    return ", ".join(changed) or "the base"


def points_json(name: str, sweep: Sweep, points: list[PointRow], best: PointRow | None) -> str:
    """`convcli runs show SWEEP --json`: the metric, the best point and every point's trials."""
    return json.dumps({"sweep": name, "metric": sweep.spec.metric, "mode": sweep.spec.mode,
                       "best_point": best.point if best else None,
                       "points": [dataclasses.asdict(point) for point in points]}, indent=2, default=str)


class Display:
    """The sweep's console output: a plan line, then a live table or one line per trial."""

    def __init__(self, console: Console):
        self.console = console
        self._live: Live | None = None
        self._shown = 0.0

    def plan(self, sweep: Sweep, folder, workers: int, gpus: list[str]) -> None:
        spec = sweep.spec
        devices = f"GPUs {', '.join(gpus)}" if gpus else "the CPU"
        self.console.print(
            f"sweep {sweep.name}: {sweep.point_count} point(s) x {spec.seeds} seed(s) = "
            f"{sweep.trial_count} trials of up to {sweep.max_epochs} epochs "
            f"({sweep.trial_count * sweep.max_epochs} epochs in all"
            f"{', fewer where pruning stops a point' if spec.pruning.method != 'none' else ''}); "
            f"search {spec.search}, {workers} worker(s) on {devices}", highlight=False)
        self.console.print(f"sweep directory: {folder.path}", highlight=False, soft_wrap=True)

    @contextlib.contextmanager
    def live(self):
        if not self.console.is_terminal:
            yield
            return
        with Live(console=self.console, auto_refresh=False, transient=True) as live:
            self._live = live
            try:
                yield
            finally:
                self._live = None

    def note(self, text: str) -> None:
        self.console.print(text, highlight=False, soft_wrap=True)

    def finished(self, name: str, outcome, metric: str) -> None:
        value = metric_text(metric, outcome.value)
        extra = f": {outcome.reason}" if outcome.status in ("failed", "pruned") and outcome.reason else ""
        self.console.print(f"trial {name} {outcome.status}, {metric} {value} after {outcome.epochs} "
                           f"epoch(s), {outcome.seconds:.0f} s{extra}", highlight=False, soft_wrap=True)

    def refresh(self, sweeper) -> None:
        if self._live is None or time.monotonic() - self._shown < 0.5:
            return
        self._shown = time.monotonic()
        self._live.update(progress_table(sweeper), refresh=True)


def progress_table(sweeper) -> formats.Fitted:
    """Trials running, done, pruned and failed; the best point so far; time elapsed and left."""
    progress, sweep = sweeper.progress, sweeper.sweep
    running = len(sweeper.running)
    done = sum(progress.counts.values())
    elapsed = time.monotonic() - progress.started
    table = Table(box=box.SIMPLE_HEAD, title=f"sweep {sweep.name}", title_justify="left")
    for column in ("running", "completed", "pruned", "failed", "best point", "elapsed", "left"):
        table.add_column(column, justify="right")
    best = progress.best
    best_text = (f"{best.point}: {summary_text(sweep.spec.metric, best)}" if best else "-")
    left = "-"
    if progress.trial_seconds:
        mean = sum(progress.trial_seconds) / len(progress.trial_seconds)
        remaining = max(0, sweep.trial_count - done - running)
        left = formats.clock((remaining + running / 2) * mean / max(1, len(sweeper.slots)))
    table.add_row(str(running), str(progress.counts["completed"]), str(progress.counts["pruned"]),
                  str(progress.counts["failed"]), best_text, formats.clock(elapsed), left)
    return formats.Fitted(table)


def recorded_sweep(ref: str | None, runs_dir: Path) -> tuple[str, Sweep, list[PointRow], PointRow | None]:
    """(name, sweep, points, best point) of the sweep `ref` names (its directory or a name
    prefix), read from its records; the run's own RunError when it names no sweep either."""
    from convcli.runs import find_run
    from convcli.sweeps.directory import find_sweep, read_sweep
    from convcli.sweeps.records import best_point, read_points

    folder = find_sweep(ref, runs_dir) if ref else None
    if folder is None:
        find_run(ref, runs_dir)  # raises the run's own error
    sweep = read_sweep(folder)
    points = read_points(folder, sweep)
    return folder.name, sweep, points, best_point(points, sweep)
