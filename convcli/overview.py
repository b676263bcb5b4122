"""Runs shown to a person: one run's results, the runs table, a run's details, a comparison.

Reads only the files of run directories (never TensorFlow), so `convcli runs` answers
at once.
"""

from __future__ import annotations

from pathlib import Path

from rich import box
from rich.console import Group
from rich.table import Table
from rich.text import Text

from convcli.runs import Run, describe, read_json


def results_table(summary: dict, run_path: Path) -> Table:
    """The end-of-run table: the best epoch's numbers and the test set's."""
    best, test = summary.get("best") or {}, summary.get("test") or {}
    table = Table(title=f"{summary['stage']} — {run_path}", title_justify="left")
    for column in ("epochs", "best epoch", "train acc", "val acc", "test acc", "val loss", "seconds"):
        table.add_column(column, justify="right")
    table.add_row(str(summary["epochs"]), str(summary.get("best_epoch")), _pct(best.get("accuracy")),
                  _pct(best.get("val_accuracy")), _pct(test.get("accuracy")),
                  _num(best.get("val_loss")), f"{summary['timings']['total_seconds']:.0f}")
    table.caption = f"best epoch: the {_judged_by(summary)}"
    return table


def _judged_by(summary: dict) -> str:
    """How a run picked its best epoch (train.monitor; runs before it existed: val_loss)."""
    monitor = summary.get("monitor") or "val_loss"
    return f"{'highest' if monitor == 'val_accuracy' else 'lowest'} {monitor}"


def runs_table(rows: list[dict], runs_dir: Path) -> Table:
    """`convcli runs`: one row per folder in the runs directory, broken ones included."""
    table = Table(title=f"{len(rows)} folder(s) in {runs_dir}", title_justify="left", box=box.SIMPLE_HEAD)
    table.add_column("name", no_wrap=True)
    for column in ("stage", "status", "val acc", "test acc", "epochs", "duration", "started"):
        table.add_column(column, justify="left" if column in ("stage", "status", "started") else "right",
                         no_wrap=column != "started")
    styles = {"completed": "green", "running": "cyan", "interrupted": "yellow"}
    for row in rows:
        status = row.get("status", "")
        table.add_row(row["name"], row.get("stage") or "-",
                      Text(status, style=styles.get(status, "red")),
                      _pct(row.get("val_accuracy")), _pct(row.get("test_accuracy")),
                      "-" if row.get("epochs") is None else str(row["epochs"]),
                      _duration(row.get("seconds")), (row.get("started") or "-")[:16].replace("T", " "))
    table.caption = ("val acc: the best epoch's (by each run's train.monitor); test acc: that checkpoint's; "
                     "killed: still marked running, its process gone (convcli train --resume)")
    return table


def sweeps_table(rows: list[dict]) -> Table:
    """`convcli runs`, below the runs: one row per sweep, its trials counted, its best point."""
    table = Table(title=f"{len(rows)} sweep(s) (convcli runs show SWEEP lists its points)",
                  title_justify="left", box=box.SIMPLE_HEAD)
    table.add_column("sweep", overflow="fold")
    for column in ("trials", "metric", "best point", "runs"):
        table.add_column(column, justify="left" if column == "metric" else "right", no_wrap=True)
    for row in rows:
        best, metric = row.get("best"), row.get("metric") or ""
        best_text = "-"
        if best:
            scale, digits = (100, 1) if metric.endswith("accuracy") else (1, 4)
            spread = f" ± {scale * float(best['std']):.{digits}f}" if best.get("std") else ""
            best_text = f"{best['point']}: {scale * float(best['mean']):.{digits}f}{spread} ({best['n']})"
        total = row.get("trials")
        table.add_row(row["name"], f"{row['trials_done']}/{total if total else '?'}", metric,
                      best_text, str(row.get("runs", 0)))
    table.caption = "trials: ended of planned; best point: mean ± std (seeds) of its metric"
    return table


def comparison_table(rows: list[dict], summaries: list[dict], differences: dict[str, list]) -> Group:
    """`convcli runs compare`: results side by side, then only the config keys that differ."""
    results = Table(title="results", title_justify="left", box=box.SIMPLE_HEAD)
    results.add_column("")
    for row in rows:
        results.add_column(row["name"], justify="right")
    bests = [summary.get("best") or {} for summary in summaries]
    tests = [summary.get("test") or {} for summary in summaries]
    lines = {"stage": [row.get("stage") or "-" for row in rows],
             "status": [row.get("status", "-") for row in rows],
             "epochs": ["-" if row.get("epochs") is None else str(row["epochs"]) for row in rows],
             "best epoch": [str(summary.get("best_epoch", "-")) for summary in summaries],
             "best by": [_judged_by(summary) if summary else "-" for summary in summaries],
             "train acc": [_pct(best.get("accuracy")) for best in bests],
             "val acc": [_pct(best.get("val_accuracy")) for best in bests],
             "val loss": [_num(best.get("val_loss")) for best in bests],
             "test acc": [_pct(test.get("accuracy")) for test in tests],
             "duration": [_duration(row.get("seconds")) for row in rows]}
    for name, values in lines.items():
        results.add_row(name, *values)
    config = Table(title="config keys that differ", title_justify="left", box=box.SIMPLE_HEAD)
    config.add_column("key")
    for row in rows:
        config.add_column(row["name"], justify="right")
    for key, values in differences.items():
        config.add_row(key, *(str(value) for value in values))
    if not differences:
        return Group(results, Text("the configs are identical"))
    return Group(results, config)


def files_table(run_path: Path) -> Table:
    """Every file of a run directory and its size (`convcli runs show`)."""
    table = Table(title="files", title_justify="left", box=box.SIMPLE_HEAD)
    table.add_column("file")
    table.add_column("size", justify="right")
    for path in sorted(p for p in run_path.rglob("*") if p.is_file()):
        table.add_row(str(path.relative_to(run_path)), _size(path.stat().st_size))
    return table


def _duration(seconds) -> str:
    if seconds is None:
        return "-"
    minutes, seconds = divmod(round(seconds), 60)
    return f"{minutes}m {seconds:02d}s" if minutes else f"{seconds}s"


def _size(count: int) -> str:
    for unit in ("B", "KB", "MB"):
        if count < 1024:
            return f"{count:.0f} {unit}"
        count /= 1024
    return f"{count:.1f} GB"


def run_details(run: Run) -> Group:
    """`convcli runs show`: status, results, the config as written, and the files."""
    row, summary = describe(run.path), read_json(run.summary)
    status = Text.assemble((run.name, "bold"), f"  stage {row.get('stage') or '-'}, ",
                           (row.get("status", "-"), "green" if row.get("status") == "completed" else "red"))
    if row.get("reason"):
        status.append(f"\n{row['reason']}")
    parts = [status]
    if summary:
        parts.append(results_table(summary, run.path))
    config = run.config.read_text() if run.config.is_file() else "(no config.yaml)\n"
    parts += [Text("config.yaml", style="bold"), Text(config.rstrip()), files_table(run.path)]
    return Group(*parts)


def _pct(value) -> str:
    return "-" if value is None else f"{100 * value:.1f}%"


def _num(value) -> str:
    return "-" if value is None else f"{value:.4f}"


def seeded_demo_table(rows: list[dict], wall_seconds: float, seeds: int) -> Table:
    """`convcli demo --seeds K`: each stage's mean ± std over its seeds, and each step's
    test-accuracy gain over the stage before it with its 95 % interval."""
    from convcli.stats import difference, summarize

    table = Table(title=f"the workflow on the built-in data, {seeds} seeds a stage, "
                  f"{_duration(wall_seconds)} in all", title_justify="left", box=box.SIMPLE_HEAD,
                  caption_justify="left")
    for column in ("stage", "val acc %", "test acc %", "test gain (95% CI)", "wall", "book*"):
        table.add_column(column, justify="left" if column == "stage" else "right",
                         no_wrap=column != "stage")
    previous = None
    for row in rows:
        val, test = (summarize([v for v in row[key] if v is not None])
                     for key in ("val_accuracy", "test_accuracy"))
        gain = "-"
        if previous is not None:
            step = difference(previous, [v for v in row["test_accuracy"] if v is not None])
            gain = _gain(step)
        previous = [v for v in row["test_accuracy"] if v is not None]
        table.add_row(row["stage"], _spread(val), _spread(test), gain, _duration(row["seconds"]),
                      f"~{row['book']}%")
    table.caption = ("mean ± std over the seeds; gain: the step's change in mean test accuracy, "
                     "points, Welch's 95% interval; † within noise (the interval holds 0). "
                     "* the book's validation accuracy on its own data (cats vs dogs, VGG16 "
                     "ImageNet weights), not on this data")
    return table


def _spread(summary) -> str:
    if summary.mean is None:
        return "-"
    std = "" if summary.std is None else f" ± {100 * summary.std:.1f}"
    return f"{100 * summary.mean:.1f}{std}"


def _gain(step) -> str:
    if step.mean is None:
        return "-"
    if step.low is None:
        return f"{100 * step.mean:+.1f}"
    noise = "†" if step.low <= 0 <= step.high else " "
    return f"{100 * step.mean:+.1f} ({100 * step.low:+.1f}, {100 * step.high:+.1f}){noise}"


def demo_table(rows: list[dict], wall_seconds: float) -> Table:
    """`convcli demo`'s last word: every stage's accuracy and time, and the book's figures."""
    table = Table(title=f"the workflow on the built-in data, {_duration(wall_seconds)} in all",
                  title_justify="left", box=box.SIMPLE_HEAD)
    for column in ("stage", "val acc", "test acc", "wall", "book val acc*"):
        table.add_column(column, justify="left" if column == "stage" else "right")
    for row in rows:
        table.add_row(row["stage"], _pct(row["val_accuracy"]), _pct(row["test_accuracy"]),
                      _duration(row["seconds"]), f"~{row['book']}%")
    table.caption = ("* the book's results on its own data (Deep Learning with Python, 1st ed., "
                     "ch. 5: cats vs dogs, 2000 training images, VGG16 with ImageNet weights), "
                     "not on this data; here: two shape classes, 200 training images, the "
                     "built-in base")
    return table


def shipped_table(files: list) -> Table:
    """`convcli configs`: every shipped config and sweep, the name `convcli train` takes."""
    table = Table(title="shipped configs (convcli configs copy NAME writes one out to edit)",
                  title_justify="left", box=box.SIMPLE_HEAD)
    for header, values in (("name", [f.name for f in files]), ("stage", [f.kind for f in files])):
        # whole names at any width: the description column wraps instead
        table.add_column(header, no_wrap=True, min_width=max(map(len, values), default=4))
    table.add_column("description", ratio=1)
    for shipped in files:
        table.add_row(shipped.name, shipped.kind, shipped.description)
    table.caption = "convcli train NAME / convcli sweep NAME (a sweep's sweeps/ may be left out)"
    return table
