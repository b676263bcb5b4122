"""The index page: index.html in a runs folder, every run and sweep in one table, as
MLflow's or TensorBoard's run tables list them, linking to each one's own page.

Rows carry their stage and status, so two menus filter them (a few lines of inline
script; without script every row shows). Built from the folders' files alone.
"""

from __future__ import annotations

import re
from html import escape
from pathlib import Path

from convcli.files import atomic_write_text
from convcli.formats import duration, metric, timestamp
from convcli.pages.parts import document, section
from convcli.pages.curves import read_rows
from convcli.pages.sweep import read_spec, sweep_facts
from convcli.runs import SWEEPS_FOLDER, Run, describe_all
from convcli.sweeps.directory import list_sweeps, listing_row

INDEX_NAME = "index.html"
DATE_PREFIX = re.compile(r"^\d{4}-\d{2}-\d{2}_\d{2}-\d{2}-\d{2}_")  # a run directory's name begins so
FILTER_SCRIPT = """<script>
(() => {
  const menus = [...document.querySelectorAll('select[data-filter]')];
  const apply = () => {
    const filtering = menus.some(m => m.value);
    const shown = {runs: 0, trials: 0};
    for (const row of document.querySelectorAll('tr[data-stage]')) {
      row.hidden = menus.some(m => m.value && row.dataset[m.dataset.filter] !== m.value);
      shown[row.closest('details') ? 'trials' : 'runs'] += !row.hidden;
    }
    // A sweep's trials: hidden when none matches, opened when a filter finds some.
    for (const box of document.querySelectorAll('tr.trials')) {
      const matches = [...box.querySelectorAll('tr[data-stage]')].some(r => !r.hidden);
      box.hidden = !matches;
      if (filtering) box.querySelector('details').open = matches;
    }
    document.getElementById('shown').textContent = shown.runs;
    document.getElementById('shown-trials').textContent = shown.trials;
  };
  menus.forEach(m => m.addEventListener('change', apply));
  apply();
})();
</script>
"""
COLUMNS = ("name", "stage", "status", "best", "test acc", "started", "duration")


def write_index(runs_dir: Path) -> Path:
    """Write `<runs_dir>/index.html` atomically; return its path."""
    path = Path(runs_dir) / INDEX_NAME
    atomic_write_text(path, index_html(Path(runs_dir)))
    return path


def index_html(runs_dir: Path) -> str:
    runs = [run_row(runs_dir, runs_dir, row) for row in describe_all(runs_dir)]
    sweeps = [sweep_row(runs_dir, sweep) for sweep in list_sweeps(runs_dir)]
    trials = [trial for sweep in sweeps for trial in sweep["trials"]]
    body = (f"<h1>runs in {escape(runs_dir.resolve().name)}/</h1>\n"
            f"<p>{len(runs)} run folder(s), {len(sweeps)} sweep(s) of {len(trials)} trial(s), each "
            "sweep's trials listed under it. Best: the monitored metric at the best epoch; test: that "
            "checkpoint's test accuracy.</p>\n"
            + filters(runs + sweeps + trials, len(trials))
            + section("runs", "runs and sweeps", '<div class="scroll">' + table_html(
                [r["html"] for r in runs] + [sweep["html"] + trials_html(sweep) for sweep in sweeps]) + "</div>"))
    return document(f"runs in {runs_dir.resolve().name}", (("runs", "runs"),), body, FILTER_SCRIPT)


def table_html(rows: list[str]) -> str:
    head = "".join(f"<th>{h}</th>" for h in COLUMNS)
    return f"<table>\n<thead><tr>{head}</tr></thead>\n<tbody>\n" + "\n".join(rows) + "\n</tbody>\n</table>"


def trials_html(sweep: dict) -> str:
    """A row under a sweep's row holding its trials, collapsed: a table of the same columns."""
    if not sweep["trials"]:
        return ""
    counts = {}
    for trial in sweep["trials"]:
        counts[trial["status"]] = counts.get(trial["status"], 0) + 1
    tally = ", ".join(f"{n} {status}" for status, n in counts.items())
    return (f'\n<tr class="trials"><td colspan="{len(COLUMNS)}"><details><summary>trials of sweep '
            f"{escape(sweep['name'])} ({tally})</summary>"
            + table_html([trial["html"] for trial in sweep["trials"]]) + "</details></td></tr>")


def filters(rows: list[dict], trials: int) -> str:
    """A menu per column that filters, offering the values the rows have (`trials` of the
    rows are sweeps' trials); how many rows match."""
    menus = []
    for key in ("stage", "status"):
        values = sorted({r[key] for r in rows})
        options = "".join(f'<option value="{escape(v)}">{escape(v)}</option>' for v in values)
        menus.append(f'<label>{key} <select data-filter="{key}"><option value="">all</option>'
                     f"{options}</select></label>")
    return (f'<div class="filters">{"".join(menus)}<span><span id="shown">{len(rows) - trials}</span> '
            f'runs and sweeps, <span id="shown-trials">{trials}</span> trials shown</span></div>')


def table_row(link: str, name: str, stage: str, status: str, cells: list[str], title: str = "") -> dict:
    tds = "".join(f"<td>{escape(cell)}</td>" for cell in cells)
    hint = f' title="{escape(title)}"' if title else ""
    html = (f'<tr data-stage="{escape(stage)}" data-status="{escape(status)}"><td><a href="{escape(link)}"{hint}>'
            f'{escape(name)}</a></td><td>{escape(stage)}</td><td><span class="status {escape(status)}">'
            f"{escape(status)}</span></td>{tds}</tr>")
    return {"stage": stage, "status": status, "html": html}


def run_row(runs_dir: Path, folder: Path, row: dict) -> dict:
    """A run's row (or a sweep trial's: `folder` is the sweep's trials/): its page (or
    folder), linked from the index, the monitored metric at its best epoch, test accuracy."""
    run = Run(folder / row["name"])
    summary = run.summary_or_none() if row.get("stage") else None
    best = "-"
    if summary is not None:
        best = f"{summary.monitor} {metric(summary.monitor, summary.metric(summary.monitor))}"
    page = "report.html" if (run.path / "report.html").is_file() else ""
    seconds = row.get("seconds")
    # A trial is named without its date (the started column has it), which keeps its
    # sweep's table narrow on a phone; the whole name is the link's title.
    trial = folder != runs_dir
    return table_row(f"{run.path.relative_to(runs_dir).as_posix()}/{page}",
                     DATE_PREFIX.sub("", row["name"]) if trial else row["name"], row.get("stage") or "-",
                     row.get("status") or "-",
                     [best, metric("test_accuracy", row.get("test_accuracy")),
                      timestamp(row.get("started"), to_the_minute=True),
                      duration(seconds) if isinstance(seconds, (int, float)) else "-"],
                     title=row["name"] if trial else "")


def sweep_row(runs_dir: Path, sweep) -> dict:
    """A sweep's row: its best point's mean, trials done, when it ran and for how long; and
    its trials' rows, as runs are listed."""
    listing = listing_row(sweep)
    done, total = listing["trials_done"], listing["trials"] or "?"
    best, name = listing["best"], listing["metric"] or "metric"
    mean = f"{name} {metric(name, float(best['mean']))} (point {best['point']})" if best else "-"
    facts = dict(sweep_facts(sweep.path, read_spec(sweep.path), read_rows(sweep.trials_csv)))
    status = "completed" if best and done == listing["trials"] else "running" if done else "started"
    page = "report.html" if sweep.report.is_file() else ""
    row = table_row(f"{SWEEPS_FOLDER}/{sweep.name}/{page}", f"{sweep.name} ({done}/{total} trials)",
                    "sweep", status, [mean, "-", (facts.get("started") or "-")[:16], facts.get("duration") or "-"])
    trials = [run_row(runs_dir, sweep.trials, trial) for trial in describe_all(sweep.trials)]
    return row | {"name": sweep.name, "trials": trials}
