"""The index page: index.html in a runs folder, every run and sweep in one table, as
MLflow's or TensorBoard's run tables list them, linking to each one's own page.

Rows carry their stage and status, so two menus filter them (a few lines of inline
script; without script every row shows). Built from the folders' files alone.
"""

from __future__ import annotations

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
FILTER_SCRIPT = """<script>
(() => {
  const menus = [...document.querySelectorAll('select[data-filter]')];
  const apply = () => {
    let shown = 0;
    for (const row of document.querySelectorAll('tr[data-stage]')) {
      row.hidden = menus.some(m => m.value && row.dataset[m.dataset.filter] !== m.value);
      shown += !row.hidden;
    }
    document.getElementById('shown').textContent = shown;
  };
  menus.forEach(m => m.addEventListener('change', apply));
  apply();
})();
</script>
"""


def write_index(runs_dir: Path) -> Path:
    """Write `<runs_dir>/index.html` atomically; return its path."""
    path = Path(runs_dir) / INDEX_NAME
    atomic_write_text(path, index_html(Path(runs_dir)))
    return path


def index_html(runs_dir: Path) -> str:
    rows = [run_row(runs_dir, row) for row in describe_all(runs_dir)]
    sweeps = [sweep_row(runs_dir, sweep) for sweep in list_sweeps(runs_dir)]
    body = (f"<h1>runs in {escape(runs_dir.resolve().name)}/</h1>\n"
            f"<p>{len(rows)} run folder(s), {len(sweeps)} sweep(s). "
            "Best: the monitored metric at the best epoch; test: that checkpoint's test accuracy.</p>\n"
            + filters(rows + sweeps)
            + section("runs", "runs and sweeps", '<div class="scroll"><table>\n<thead><tr>'
                      + "".join(f"<th>{h}</th>" for h in ("name", "stage", "status", "best", "test acc",
                                                          "started", "duration"))
                      + "</tr></thead>\n<tbody>\n" + "\n".join(r["html"] for r in rows + sweeps)
                      + "\n</tbody>\n</table></div>"))
    return document(f"runs in {runs_dir.resolve().name}", (("runs", "runs"),), body, FILTER_SCRIPT)


def filters(rows: list[dict]) -> str:
    """A menu per column that filters, offering the values the rows have."""
    menus = []
    for key in ("stage", "status"):
        values = sorted({r[key] for r in rows})
        options = "".join(f'<option value="{escape(v)}">{escape(v)}</option>' for v in values)
        menus.append(f'<label>{key} <select data-filter="{key}"><option value="">all</option>'
                     f"{options}</select></label>")
    return (f'<div class="filters">{"".join(menus)}<span><span id="shown">{len(rows)}</span> '
            "shown</span></div>")


def table_row(link: str, name: str, stage: str, status: str, cells: list[str]) -> dict:
    tds = "".join(f"<td>{escape(cell)}</td>" for cell in cells)
    html = (f'<tr data-stage="{escape(stage)}" data-status="{escape(status)}"><td><a href="{escape(link)}">'
            f'{escape(name)}</a></td><td>{escape(stage)}</td><td><span class="status {escape(status)}">'
            f"{escape(status)}</span></td>{tds}</tr>")
    return {"stage": stage, "status": status, "html": html}


def run_row(runs_dir: Path, row: dict) -> dict:
    """A run's row: its page (or folder), the monitored metric at its best epoch, test accuracy."""
    run = Run(runs_dir / row["name"])
    summary = run.summary_or_none() if row.get("stage") else None
    best = "-"
    if summary is not None:
        best = f"{summary.monitor} {metric(summary.monitor, summary.metric(summary.monitor))}"
    page = "report.html" if (run.path / "report.html").is_file() else ""
    seconds = row.get("seconds")
    return table_row(f"{run.path.name}/{page}", row["name"], row.get("stage") or "-",
                     row.get("status") or "-",
                     [best, metric("test_accuracy", row.get("test_accuracy")),
                      timestamp(row.get("started"), to_the_minute=True),
                      duration(seconds) if isinstance(seconds, (int, float)) else "-"])


def sweep_row(runs_dir: Path, sweep) -> dict:
    """A sweep's row: its best point's mean, trials done, when it ran and for how long."""
    listing = listing_row(sweep)
    done, total = listing["trials_done"], listing["trials"] or "?"
    best, name = listing["best"], listing["metric"] or "metric"
    mean = f"{name} {metric(name, float(best['mean']))} (point {best['point']})" if best else "-"
    facts = dict(sweep_facts(sweep.path, read_spec(sweep.path), read_rows(sweep.trials_csv)))
    status = "completed" if best and done == listing["trials"] else "running" if done else "started"
    page = "report.html" if sweep.report.is_file() else ""
    return table_row(f"{SWEEPS_FOLDER}/{sweep.name}/{page}", f"{sweep.name} ({done}/{total} trials)",
                     "sweep", status, [mean, "-", (facts.get("started") or "-")[:16],
                                       facts.get("duration") or "-"])
