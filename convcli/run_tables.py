"""Run tables: runs shown to a person (one run's results, the runs table, a run's details,
a comparison, the demo's tables, the shipped configs).

Reads only the files of run directories (never TensorFlow), so `convcli runs` answers
at once.
"""

from __future__ import annotations

import json
from pathlib import Path

from rich import box
from rich.console import Group
from rich.table import Table
from rich.text import Text

from convcli.config import read_yaml
from convcli.formats import Fitted, duration, number, percent, size, timestamp
from convcli.records import EpochMetrics, Summary
from convcli.runs import Run, describe

RUN_STYLES = {"completed": "green", "running": "cyan", "interrupted": "yellow"}


def results_table(summary: Summary, run_path: Path) -> Fitted:
    """The end-of-run table: the best epoch's numbers and the test set's."""
    best = summary.best
    top5 = best.val_top5_accuracy is not None  # more than five classes
    table = Table(title=f"{summary.stage} — {run_path}", title_justify="left")
    columns = ("epochs", "best epoch", "train acc", "val acc") + (("val top-5",) if top5 else ())
    for column in columns + ("test acc", "val loss", "seconds"):
        table.add_column(column, justify="right")
    cells = [str(summary.epochs), str(summary.best_epoch), percent(best.accuracy), percent(best.val_accuracy)]
    cells += [percent(best.val_top5_accuracy)] if top5 else []
    table.add_row(*cells, percent(summary.metric("test_accuracy")), number(best.val_loss),
                  f"{summary.timings.total_seconds:.0f}")
    table.caption = f"best epoch: the {_judged_by(summary)}"
    if summary.mixed_labels:
        verb = "mix" if len(summary.mixed_labels) > 1 else "mixes"
        table.caption += (f"; train acc: not measured ({' and '.join(summary.mixed_labels)} "
                          f"{verb} the training labels)")
    return Fitted(table)


def _judged_by(summary: Summary) -> str:
    """How a run picked its best epoch (train.monitor; runs before it existed: val_loss)."""
    monitor = summary.monitor
    return f"{'highest' if monitor == 'val_accuracy' else 'lowest'} {monitor}"


def runs_table(rows: list[dict], runs_dir: Path) -> Fitted:
    """`convcli runs`: one row per folder in the runs directory, broken ones included.

    Narrow terminals get the run name without its start time (the started column has it),
    and short headers; at last each run takes two lines. A name is never cut.
    """
    title = f"{len(rows)} folder(s) in {runs_dir}"
    caption = ("val: the best epoch's validation accuracy (by each run's train.monitor); test: that "
               "checkpoint's test accuracy; killed: still marked running, its process gone "
               "(convcli train --resume)")
    return Fitted(_runs_layout(rows, title, caption, full=True), _runs_layout(rows, title, caption, full=False))


def _runs_layout(rows: list[dict], title: str, caption: str, full: bool) -> Table:
    headers = (("name", "stage", "status", "val acc", "test acc", "epochs", "duration", "started") if full
               else ("run", "stage", "status", "val", "test", "ep", "time", "started"))
    table = Table(title=title, title_justify="left", box=box.SIMPLE_HEAD, caption=caption,
                  caption_justify="left")
    for index, column in enumerate(headers):
        table.add_column(column, justify="left" if index in (0, 1, 2, 7) else "right",
                         no_wrap=index in (0, 3, 4, 5, 6))
    for row in rows:
        table.add_row(row["name"] if full else _label(row), *_run_cells(row))
    return table


def _run_cells(row: dict) -> list:
    status = row.get("status", "")
    return [row.get("stage") or "-", Text(status, style=RUN_STYLES.get(status, "red")),
            percent(row.get("val_accuracy")), percent(row.get("test_accuracy")),
            "-" if row.get("epochs") is None else str(row["epochs"]), duration(row.get("seconds")),
            timestamp(row.get("started"), to_the_minute=True)]


def _label(row: dict) -> str:
    """The run's name without its start time (a folder that is no run: its whole name)."""
    return Run(Path(row["name"])).label if row.get("started") else row["name"]


def sweeps_table(rows: list[dict]) -> Fitted:
    """`convcli runs`, below the runs: one row per sweep, its trials counted, its best point."""
    table = Table(title=f"{len(rows)} sweep(s) (convcli runs show SWEEP lists its points)",
                  title_justify="left", box=box.SIMPLE_HEAD)
    table.add_column("sweep", no_wrap=True)
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
    return Fitted(table)


def comparison_table(rows: list[dict], summaries: list[Summary | None], differences: dict[str, list]) -> Group:
    """`convcli runs compare`: results side by side, then only the config keys that differ.

    Runs head their columns by name, or without their start time, or as A, B, ... with a
    legend when the names do not fit side by side.
    """
    headings = ([row["name"] for row in rows], [_label(row) for row in rows],
                [_letter(index) for index in range(len(rows))])
    legend = Text("\n".join(f"{_letter(index)}  {row['name']}" for index, row in enumerate(rows)))
    layouts = [Group(*([legend] if heading[0] == "A" else []), _results_side_by_side(rows, summaries, heading),
                     _differences(differences, heading)) for heading in headings]
    return Group(Fitted(*layouts))


def _letter(index: int) -> str:
    return chr(ord("A") + index) if index < 26 else f"R{index + 1}"


def _results_side_by_side(rows: list[dict], summaries: list[Summary | None], heading: list[str]) -> Table:
    results = Table(title="results", title_justify="left", box=box.SIMPLE_HEAD)
    results.add_column("")
    for name in heading:
        results.add_column(name, justify="right", no_wrap=True)
    bests = [summary.best if summary else EpochMetrics() for summary in summaries]
    lines = {"stage": [row.get("stage") or "-" for row in rows],
             "status": [row.get("status", "-") for row in rows],
             "epochs": ["-" if row.get("epochs") is None else str(row["epochs"]) for row in rows],
             "best epoch": [str(summary.best_epoch) if summary else "-" for summary in summaries],
             "best by": [_judged_by(summary) if summary else "-" for summary in summaries],
             "train acc": [percent(best.accuracy) for best in bests],
             "val acc": [percent(best.val_accuracy) for best in bests],
             "val loss": [number(best.val_loss) for best in bests],
             "test acc": [percent(s.metric("test_accuracy") if s else None) for s in summaries],
             "duration": [duration(row.get("seconds")) for row in rows]}
    for name, values in lines.items():
        results.add_row(name, *values)
    return results


def _differences(differences: dict[str, list], heading: list[str]):
    if not differences:
        return Text("the configs are identical")
    config = Table(title="config keys that differ", title_justify="left", box=box.SIMPLE_HEAD)
    config.add_column("key", no_wrap=True)
    for name in heading:
        config.add_column(name, justify="right")
    for key, values in differences.items():
        config.add_row(key, *(str(value) for value in values))
    return config


def files_table(run_path: Path) -> Fitted:
    """Every file of a run directory and its size (`convcli runs show`)."""
    table = Table(title="files", title_justify="left", box=box.SIMPLE_HEAD)
    table.add_column("file", no_wrap=True)
    table.add_column("size", justify="right", no_wrap=True)
    for path in sorted(p for p in run_path.rglob("*") if p.is_file()):
        table.add_row(str(path.relative_to(run_path)), size(path.stat().st_size))
    return Fitted(table)


def listing_json(runs: list[dict], sweeps: list[dict], runs_dir: Path) -> str:
    """`convcli runs --json`: every folder's row (as `describe` gives it) and every sweep's."""
    runs = [row | {"path": str(Path(runs_dir) / row["name"])} for row in runs]
    return json.dumps({"runs": runs, "sweeps": sweeps}, indent=2, default=str)


def run_json(run: Run) -> str:
    """`convcli runs show --json`: the run's row, meta.json, summary.json, config and files."""
    try:
        config = read_yaml(run.config) if run.config.is_file() else None
    except Exception:  # noqa: BLE001 - a broken config.yaml is shown as missing, never fatal
        config = None
    files = [{"file": str(path.relative_to(run.path)), "bytes": path.stat().st_size}
             for path in sorted(p for p in run.path.rglob("*") if p.is_file())]
    meta, summary = run.meta_or_none(), run.summary_or_none()
    record = describe(run.path) | {"path": str(run.path), "meta": meta and meta.as_written(),
                                   "summary": summary and summary.as_written(), "config": config,
                                   "files": files}
    return json.dumps(record, indent=2, default=str)


def run_details(run: Run) -> Group:
    """`convcli runs show`: status, results, the config as written, and the files."""
    row, summary = describe(run.path), run.summary_or_none()
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


SEEDED_DEMO_HEADER = ("stage", "val acc %", "test acc %", "test gain (95% CI)", "wall", "book*")
SEEDED_DEMO_CAPTION = ("mean ± std over the seeds; gain: the step's change in mean test accuracy, "
                       "points, Welch's 95% interval; † within noise (the interval holds 0). "
                       "* the book's validation accuracy on its own data (cats vs dogs, VGG16 "
                       "ImageNet weights), not on this data")
DEMO_HEADER = ("stage", "val acc", "test acc", "wall", "book val acc*")
DEMO_CAPTION = ("* the book's results on its own data (Deep Learning with Python, 1st ed., "
                "ch. 5: cats vs dogs, 2000 training images, VGG16 with ImageNet weights), "
                "not on this data; here: two kinds of star, 200 training images, the "
                "built-in base")
LESSONS_CAPTION = "mean ± std, or a change in mean test accuracy with its 95% interval"


def seeded_demo_rows(rows: list[dict]) -> list[list[str]]:
    """`convcli demo --seeds K`'s cells (SEEDED_DEMO_HEADER): each stage's mean ± std over its
    seeds, and each step's test-accuracy gain over the stage before it with its 95 % interval."""
    from convcli.stats import difference, summarize

    cells, previous = [], None
    for row in rows:
        val, test = (summarize([v for v in row[key] if v is not None])
                     for key in ("val_accuracy", "test_accuracy"))
        gain = "-"
        if previous is not None:
            gain = difference(previous, [v for v in row["test_accuracy"] if v is not None]).as_change(scale=100)
        previous = [v for v in row["test_accuracy"] if v is not None]
        cells.append([row["stage"], val.as_text(100, count=False), test.as_text(100, count=False),
                      gain, duration(row["seconds"]), f"~{row['book']}%"])
    return cells


def seeded_demo_table(rows: list[dict], wall_seconds: float, seeds: int) -> Fitted:
    """`convcli demo --seeds K`: seeded_demo_rows as a table."""
    return _stages_table(f"the workflow on the built-in data, {seeds} seeds a stage, "
                         f"{duration(wall_seconds)} in all", SEEDED_DEMO_HEADER,
                         seeded_demo_rows(rows), SEEDED_DEMO_CAPTION)


def _stages_table(title: str, header, cells: list[list[str]], caption: str,
                  caption_justify: str = "left") -> Fitted:
    """A demo table: a row per stage, its name left, its numbers right."""
    table = Table(title=title, title_justify="left", box=box.SIMPLE_HEAD, caption_justify=caption_justify)
    for column in header:
        table.add_column(column, justify="left" if column == "stage" else "right", no_wrap=True)
    for row in cells:
        table.add_row(*row)
    table.caption = caption
    return Fitted(table)


def lessons(rows: list[dict]) -> list[tuple[str, str]]:
    """The chapter's lessons, each with the numbers (points) that show it.

    Rows are found by stage name, so a demo of fewer stages shows the lessons it has.
    """
    from convcli.stats import difference, summarize

    by_stage = {row["stage"]: row for row in rows}

    def values(stage: str, key: str) -> list[float]:
        return [v for v in by_stage[stage][key] if v is not None] if stage in by_stage else []

    def beats(better: str, worse: str) -> str:
        return difference(values(worse, "test_accuracy"), values(better, "test_accuracy")).as_change(100)

    gaps = [a - b for a, b in zip(values("scratch", "final_accuracy"),
                                  values("scratch", "final_val_accuracy"))]
    return [("scratch overfits: train - val acc, last epoch", summarize(gaps).as_text(100, count=False)),
            ("augmentation beats scratch (test)", beats("augment", "scratch")),
            ("pretrained features beat augmentation", beats("extract (features)", "augment")),
            ("fine-tuning beats features", beats("fine-tune", "extract (features)")),
            ("fine-tune's Grad-CAM inside the object, %",
             summarize(values("fine-tune", "pointing_game")).as_text(100, count=False))]


def lessons_table(rows: list[dict]) -> Fitted:
    """`convcli demo --seeds K`: the chapter's lessons (`lessons`) as a table."""
    table = Table(title="the chapter's lessons, measured", title_justify="left",
                  box=box.SIMPLE_HEAD, caption_justify="left")
    table.add_column("lesson", no_wrap=True)
    table.add_column("points", justify="right", no_wrap=True)
    for lesson, points in lessons(rows):
        table.add_row(lesson, points)
    table.caption = LESSONS_CAPTION
    return Fitted(table)


def demo_rows(rows: list[dict]) -> list[list[str]]:
    """`convcli demo`'s cells (DEMO_HEADER): every stage's accuracy and time, the book's figure."""
    return [[row["stage"], percent(row["val_accuracy"]), percent(row["test_accuracy"]),
             duration(row["seconds"]), f"~{row['book']}%"] for row in rows]


def demo_table(rows: list[dict], wall_seconds: float) -> Fitted:
    """`convcli demo`'s last word: demo_rows as a table."""
    return _stages_table(f"the workflow on the built-in data, {duration(wall_seconds)} in all",
                         DEMO_HEADER, demo_rows(rows), DEMO_CAPTION, caption_justify="center")


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
