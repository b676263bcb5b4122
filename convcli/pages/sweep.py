"""The sweep page and plots: a sweep directory's report.html and plots/*.png, from its
files alone (sweep.yaml, points.csv, trials.csv, best.yaml and each trial's metrics.csv
and meta.json).

The points and every trial in tables, the best point with a caveat when its interval
overlaps the runner-up's, every trial's validation curve (one colour per point, one dash
per seed), the metric against each param, the sweep file and best.yaml as written. The
charts are sweep_charts.py's, drawn as SVG on the page and as PNG in plots/.
"""

from __future__ import annotations

import os
from html import escape
from pathlib import Path

import yaml

from convcli import safeyaml
from convcli.files import atomic_write_text
from convcli.formats import duration, metric, timestamp
from convcli.pages.charts import line_chart
from convcli.pages.curves import number, read_rows
from convcli.pages.plots import write_series_png
from convcli.pages.parts import definition_list, document, html_table, section
from convcli.pages.sweep_charts import (curve_series, param_series, param_title, params_text,
                                        point_colours, short, trial_metric, trial_run)
from convcli.runs import Run
from convcli.stats import Summary

NAV = (("points", "points"), ("curves", "curves"), ("trials", "trials"), ("files", "sweep file"))


def read_spec(folder: Path) -> dict:
    """sweep.yaml as written ({} when unreadable: the page still shows the rest)."""
    try:
        spec = safeyaml.load(folder.joinpath("sweep.yaml").read_text())
    except (OSError, ValueError, yaml.YAMLError):  # safeyaml.load raises YAMLError, not ValueError
        return {}
    return spec if isinstance(spec, dict) else {}


def write_sweep_page(folder: Path) -> Path:
    path = Path(folder) / "report.html"
    atomic_write_text(path, sweep_html(Path(folder)))
    return path


def sweep_html(folder: Path) -> str:
    spec = read_spec(folder)
    metric_name, keys = str(spec.get("metric", "val_accuracy")), list(spec.get("params") or {})
    points, trials = read_rows(folder / "points.csv"), read_rows(folder / "trials.csv")
    colours = point_colours(points, trials)
    body = "\n".join([
        f"<h1>sweep {escape(folder.name)}</h1>",
        definition_list(sweep_facts(folder, spec, trials)),
        best_html(points, metric_name, spec.get("mode", "max"), keys),
        section("points", "points", '<div class="scroll">' + points_table(points, keys, metric_name)
                + "</div>" + param_charts(points, keys, metric_name, colours)),
        section("curves", "curves", curves_chart(folder, trials, keys, metric_name, colours)),
        section("trials", "trials", '<div class="scroll">' + trials_table(folder, trials, keys, metric_name)
                + "</div>"),
        files_html(folder),
    ])
    return document(f"sweep {folder.name}", NAV, body)


def summary_of(row: dict) -> Summary:
    return Summary(int(number(row.get("n")) or 0), number(row.get("mean")), number(row.get("std")),
                   number(row.get("ci95_low")), number(row.get("ci95_high")))


def mean_text(name: str, summary: Summary) -> str:
    """mean ± std (n) as the terminal's points table writes it (percent for accuracies)."""
    if name.endswith("accuracy"):
        return summary.as_text(scale=100, digits=1)
    return summary.as_text(digits=4)


def interval_text(name: str, summary: Summary) -> str:
    if summary.low is None:
        return "-"
    scale, digits = (100, 1) if name.endswith("accuracy") else (1, 4)
    return f"{scale * summary.low:.{digits}f}–{scale * summary.high:.{digits}f}"


def ranked(points: list[dict], mode: str) -> list[dict]:
    """Completed points, best first."""
    done = [p for p in points if p.get("status") == "completed" and number(p.get("mean")) is not None]
    return sorted(done, key=lambda p: number(p["mean"]), reverse=mode == "max")


def best_html(points: list[dict], name: str, mode: str, keys: list[str]) -> str:
    """The best point, and whether the runner-up can be told apart from it."""
    order = ranked(points, mode)
    if not order:
        return '<p class="note">No point has completed all its seeds yet.</p>'
    best = order[0]
    text = (f"Best point: {best['point']} ({params_text(best, keys)}), {name} "
            f"{mean_text(name, summary_of(best))}; best.yaml trains it.")
    caveat = ""
    for other in order[1:]:
        a, b = summary_of(best), summary_of(other)
        if None not in (a.low, a.high, b.low, b.high) and a.low <= b.high and b.low <= a.high:
            caveat = (f'<p class="alert">Not separable from point {other["point"]}: their 95% intervals '
                      f"({interval_text(name, a)} and {interval_text(name, b)}) overlap; more seeds "
                      "would tell them apart, or not.</p>")
            break
    return f"<p><b>{escape(text)}</b></p>{caveat}"


def points_table(points: list[dict], keys: list[str], name: str) -> str:
    unit = " (%)" if name.endswith("accuracy") else ""
    rows = [[row.get("point", ""), *(row.get(k, "") for k in keys), mean_text(name, summary_of(row)),
             interval_text(name, summary_of(row)), row.get("status", "")] for row in points]
    return html_table(["point", *keys, f"{name}{unit}: mean ± std (n)", "95% CI", "status"], rows)


def trials_table(folder: Path, trials: list[dict], keys: list[str], name: str) -> str:
    """Every trial as trials.csv has it, the metric in its unit, each linked to its page."""
    head = ["trial", "point", *(short(k) for k in keys), "seed", "status", name,
            "best epoch", "epochs", "time", "host"]
    rows = []
    for t in trials:
        seconds = number(t.get("seconds"))
        cells = [t.get("trial", ""), t.get("point", ""), *(t.get(k, "") for k in keys), t.get("seed", ""),
                 t.get("status", ""), metric(name, number(t.get(name))), t.get("best_epoch") or "-",
                 t.get("epochs") or "-", duration(seconds) if seconds is not None else "-",
                 t.get("host") or "-"]
        cells = [escape(str(c)) for c in cells]
        link = trial_link(folder, t.get("run"))
        if link:
            cells[0] = f'<a href="{escape(link)}">{cells[0]}</a>'
        rows.append("<tr>" + "".join(f"<td>{c}</td>" for c in cells) + "</tr>")
    return ("<table><thead><tr>" + "".join(f"<th>{escape(h)}</th>" for h in head) + "</tr></thead><tbody>"
            + "".join(rows) + "</tbody></table>")


def trial_link(folder: Path, run: str | None) -> str | None:
    path = trial_run(folder, run)
    if path is None or not (path / "report.html").is_file():
        return None
    return os.path.relpath(path / "report.html", folder)


def curves_chart(folder: Path, trials: list[dict], keys: list[str], name: str,
                 colours: dict[str, str]) -> str:
    series = curve_series(folder, trials, keys, name, colours)
    if not series:
        return '<p class="note">No trial has recorded an epoch yet.</p>'
    key = trial_metric(name)
    return '<div class="charts">' + line_chart(f"every trial's {key}", series, "epoch", key,
                                                percent=key.endswith("accuracy"), zoom_id="zoom-trials") + "</div>"


def param_charts(points: list[dict], keys: list[str], name: str, colours: dict[str, str]) -> str:
    """The metric's mean against each swept key, in the curves' colours: with two keys or
    more, where each point sits on every axis."""
    charts = []
    for key in keys:
        names, series = param_series(points, key, keys, colours)
        if series:
            charts.append(line_chart(param_title(name, key), series, key, name,
                                     percent=name.endswith("accuracy"), x_names=names, zoom_id=f"zoom-{key}"))
    return f'<div class="charts">{"".join(charts)}</div>' if charts else ""


def write_sweep_plots(folder: Path) -> list[Path]:
    """plots/<param>.png for each swept key and plots/curves.png: the page's charts as PNG
    files, for a reader of the folder (docs/sweeps.md: the sweep directory), from its files alone."""
    folder = Path(folder)
    spec = read_spec(folder)
    name, keys = str(spec.get("metric", "val_accuracy")), list(spec.get("params") or {})
    points, trials = read_rows(folder / "points.csv"), read_rows(folder / "trials.csv")
    colours = point_colours(points, trials)
    plots = folder / "plots"
    plots.mkdir(exist_ok=True)
    written = []
    for key in keys:
        names, series = param_series(points, key, keys, colours)
        written.append(plots / f"{short(key)}.png")
        write_series_png(series, written[-1], param_title(name, key), key, name,
                         percent=name.endswith("accuracy"), x_names=names)
    key = trial_metric(name)
    written.append(plots / "curves.png")
    write_series_png(curve_series(folder, trials, keys, name, colours), written[-1],
                     f"every trial's {key} (a colour per point, a dash per seed)", "epoch", key,
                     percent=key.endswith("accuracy"))
    return written


def sweep_facts(folder: Path, spec: dict, trials: list[dict]) -> list[tuple[str, object]]:
    """How the sweep searched, when it ran, on which machines and versions."""
    metas = [m for t in trials if (path := trial_run(folder, t.get("run")))
             and (m := Run(path).meta_or_none())]
    started = min((m.started for m in metas if m.started), default=None)
    ended = max((m.ended for m in metas if m.ended), default=None)
    versions = sorted({", ".join(f"{k} {v}" for k, v in m.versions.items() if v) for m in metas} - {""})
    pruning = spec.get("pruning") or {}
    return [
        ("search", f"{spec.get('search', '?')}, {spec.get('seeds', 1)} seed(s) per point"),
        ("judged by", f"{spec.get('metric', '?')} ({spec.get('mode', 'max')})"),
        ("pruning", pruning.get("method") if isinstance(pruning, dict) else pruning),
        ("trials", f"{len(trials)} started"),
        ("started", timestamp(started) if started else None),
        ("ended", timestamp(ended) if ended else None),
        ("duration", duration(sweep_seconds(started, ended)) if started and ended else None),
        ("hosts", ", ".join(sorted({t.get("host") for t in trials if t.get("host")})) or None),
        ("versions", "; ".join(versions) or None),
    ]


def sweep_seconds(started: str, ended: str) -> float | None:
    from datetime import datetime

    try:
        return (datetime.fromisoformat(ended) - datetime.fromisoformat(started)).total_seconds()
    except (TypeError, ValueError):
        return None


def files_html(folder: Path) -> str:
    """sweep.yaml and best.yaml inline; links to the records."""
    parts = []
    for name in ("sweep.yaml", "best.yaml"):
        try:
            parts.append(f"<h3>{name}</h3><pre>{escape((folder / name).read_text(errors='replace'))}</pre>")
        except OSError:
            parts.append(f'<p class="note">No {name}.</p>')
    links = [name for name in ("trials.csv", "points.csv", "plots/", "study.db", "trials/")
             if (folder / name).exists()]
    if (folder.parent.parent / "index.html").is_file():
        links.append("../../index.html")
    items = "".join(f'<li><a href="{escape(n)}">{escape(n)}</a></li>' for n in links)
    return section("files", "sweep file", "".join(parts) + f"<ul>{items}</ul>")
