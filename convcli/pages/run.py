"""The run page: report.html, a run's one self-contained page.

Built from whatever files the run directory holds, so a completed, failed or still
running run each gets a page. Images are embedded as `data:` URIs and the styles are
inline, so the page opens from a copied folder or a mail attachment in any browser,
without a server or a network. Every text read from a file is HTML-escaped: a class
name or a config value is shown, never run.
"""

from __future__ import annotations

import csv
import json
import shlex
from html import escape
from pathlib import Path

from convcli.files import atomic_write_text
from convcli.formats import duration, metric, timestamp
from convcli.pages.parts import STYLE, definition_list, figure_html, html_table, section
from convcli.records import Dataset, Gradcam, Meta, Summary
from convcli.runs import STATUSES, Run

PAGE_NAME = "report.html"
# More images make a page slow to open and to mail; the files stay in gradcam/.
GALLERY_LIMIT = 64



def write_page(run: Run, gallery_limit: int = GALLERY_LIMIT) -> Path:
    """Write `<run>/report.html` atomically from the run directory's files; return its path."""
    path = run.path / PAGE_NAME
    atomic_write_text(path, page_html(run, gallery_limit))
    return path


def page_html(run: Run, gallery_limit: int = GALLERY_LIMIT) -> str:
    """The whole page: header, results, pictures, Grad-CAM gallery, config, metrics, model."""
    meta, summary = run.meta_or_none() or Meta(), run.summary_or_none()  # a damaged one: none
    gradcam = (summary and summary.gradcam) or Gradcam()
    sections = [
        header_section(run.name, meta, summary),
        results_section(summary),
        pictures_section(run.path),
        gallery_section(run.gradcam, gradcam, gallery_limit),
        text_section("config", "config.yaml", read_text(run.config)),
        metrics_section(run.metrics, summary and summary.best_epoch),
        text_section("model", "model.txt", read_text(run.model_txt)),
    ]
    nav = "".join(f'<a href="#{anchor}">{label}</a>' for anchor, label in (
        ("results", "results"), ("curves", "curves"), ("gradcam", "Grad-CAM"), ("config", "config"),
        ("metrics", "metrics"), ("model", "model")))
    return (f'<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
            f'<meta name="viewport" content="width=device-width, initial-scale=1">\n'
            f"<title>{escape(run.name)} · convcli</title>\n<style>{STYLE}</style>\n</head>\n"
            f"<body>\n<nav>{nav}</nav>\n" + "\n".join(sections) + "\n</body>\n</html>\n")


# --- sections -------------------------------------------------------------------------


def header_section(name: str, meta: Meta, summary: Summary | None) -> str:
    """The run's name and status; the reason a run did not complete, where no one misses it."""
    status = meta.status or "unknown"
    badge = f'<span class="status {status if status in STATUSES else "failed"}">{escape(status)}</span>'
    alert = ""
    if status != "completed":
        reason = meta.reason or {
            "running": "this run had not finished when the page was written (or its process was killed)",
            "unknown": "meta.json is missing or unreadable"}.get(status, "no reason recorded")
        alert = f'<p class="alert">{escape(status)}: {escape(str(reason))}</p>'
    return (f"<header>\n<h1>{escape(name)}</h1>\n<p>{badge}</p>\n{alert}\n"
            f"{definition_list(run_facts(meta, summary))}\n</header>")


def run_facts(meta: Meta, summary: Summary | None) -> list[tuple[str, object]]:
    """What was trained, when, where and with what (meta.json), as label-value pairs."""
    dataset = meta.dataset or Dataset()
    return [
        ("stage", meta.stage or (summary and summary.stage)),
        ("started", timestamp(meta.started) if meta.started else None),
        ("ended", timestamp(meta.ended) if meta.ended else None),
        ("devices", ", ".join(meta.devices) or None),
        ("versions", ", ".join(f"{k} {v}" for k, v in meta.versions.items() if v) or None),
        ("classes", ", ".join(meta.class_names or []) or None),
        ("images", ", ".join(f"{k} {v:,}" for k, v in dataset.counts.items()) or None),
        ("files left out", len(dataset.left_out) or None),
        ("seed", meta.seed),
        ("resumed", f"{len(meta.resumed)} time(s)" if meta.resumed else None),
        ("host", meta.host),
        ("git commit", meta.git_commit),
        ("command", shlex.join(meta.command) if meta.command else None),
    ]


def results_section(summary: Summary | None) -> str:
    """The best epoch's metrics, the final epoch's, the test set's; timings and parameters."""
    if not summary:
        return section("results", "results", '<p class="note">No results: summary.json is missing '
                       "or unreadable. A run writes it only once training has finished; the "
                       "metrics below show the epochs that did.</p>")
    rows = metric_rows(summary)
    columns = list(dict.fromkeys(name for _, values in rows for name in values))
    table = html_table([""] + columns, [[label] + [metric(c, values.get(c)) for c in columns]
                                        for label, values in rows])
    return section("results", "results",
                   f'<div class="scroll">{table}</div>\n{definition_list(training_facts(summary))}')


def metric_rows(summary: Summary) -> list[tuple[str, dict]]:
    """(label, {metric: value}) for the best epoch, the final epoch (if another) and the test set."""
    rows = []
    final = summary.final
    epochs = [("best", summary.best_epoch, summary.best)]
    if final.as_dict() and final.epoch != summary.best_epoch:
        epochs.append(("final", final.epoch, final))
    for which, epoch, metrics in epochs:
        # metrics.csv's bookkeeping columns are not metrics.
        metrics = {k: v for k, v in metrics.as_dict().items() if k not in ("epoch", "phase", "learning_rate",
                                                                            "seconds")}
        rows.append((f"training, {which} epoch {epoch}",
                     {k: v for k, v in metrics.items() if not k.startswith("val_")}))
        rows.append((f"validation, {which} epoch {epoch}",
                     {k[4:]: v for k, v in metrics.items() if k.startswith("val_")}))
    if summary.test:
        rows.append(("test, best checkpoint", summary.test.as_dict()))
    return rows


def training_facts(summary: Summary) -> list[tuple[str, object]]:
    """Epochs, timings, parameters per phase, and what the stage recorded besides."""
    facts = [("epochs", summary.epochs),
             ("best epoch by", summary.monitor),
             ("total time", seconds(summary.timings.total_seconds)),
             ("per epoch", seconds(summary.timings.seconds_per_epoch))]
    facts += [(f"phase {p.phase}", f"{p.epochs} epoch(s), "
               f"{metric('parameters', p.trainable_params)} trainable parameters, "
               f"{seconds(p.seconds)}") for p in summary.phases]
    shown = {"schema_version", "stage", "epochs", "best_epoch", "monitor", "best", "final", "test",
             "timings", "trainable_params", "phases", "class_names", "counts", "gradcam"}
    # Stage details (feature_cache, unfreezing, ...) as recorded: new keys appear unasked.
    facts += [(key.replace("_", " "), json.dumps(value) if isinstance(value, (dict, list)) else value)
              for key, value in summary.as_dict().items() if key not in shown]
    return facts


def pictures_section(folder: Path) -> str:
    """curves.png, then the confusion matrices (confusion.png, confusion-*.png) if any."""
    pictures = [folder / "curves.png"] + sorted(folder.glob("confusion*.png"))
    figures = [figure_html(path, path.name) for path in pictures if path.is_file()]
    if not figures:
        figures = ['<p class="note">No curves.png: the run ended before its curves were drawn.</p>']
    return section("curves", "curves", "\n".join(figures))


def gallery_section(folder: Path, gradcam: Gradcam, limit: int) -> str:
    """Every Grad-CAM overlay with its file name (and what summary.json says of it), in a grid."""
    paths = sorted(p for p in folder.glob("*.png") if p.name != "contact_sheet.png")
    if not paths:
        return section("gradcam", "Grad-CAM", '<p class="note">No Grad-CAM images.</p>')
    notes = image_notes(gradcam.images)
    figures = [figure_html(path, path.name, notes.get(path.stem)) for path in paths[:limit]]
    more = len(paths) - limit
    left_out = (f'<p class="note">{more} more Grad-CAM image(s) left out of this page '
                f"(it shows the first {limit}); they are all in gradcam/.</p>" if more > 0 else "")
    return section("gradcam", "Grad-CAM", f'{gradcam_intro(gradcam)}\n<div class="gallery">\n'
                   + "\n".join(figures) + f"\n</div>\n{left_out}")


def gradcam_intro(gradcam: Gradcam) -> str:
    """The layer explained and, on data with object boxes, the pointing game's score."""
    layer = gradcam.layer
    intro = f"<p>Layer explained: <code>{escape(str(layer))}</code></p>" if layer else ""
    pointing = gradcam.pointing_game
    if pointing is not None and pointing.score is not None:
        text = (f"Pointing game: the heatmap's maximum falls inside the object for "
                f"{metric('share', pointing.score)} of {pointing.images or '?'} validation "
                f"images (pointing at a random pixel: {metric('share', pointing.chance)}).")
        intro += f"<p>{escape(text)}</p>"
    return intro


def image_notes(images: list) -> dict[str, str]:
    """Per overlay stem, what summary.json records about its image beyond the name
    (e.g. true class, predicted class, probability), when entries are dicts."""
    notes = {}
    for entry in images:
        if not isinstance(entry, dict):
            continue  # a bare file name: the caption already says it
        name = next((str(entry[k]) for k in ("image", "path", "file", "name") if k in entry), None)
        if name is None:
            continue
        rest = [f"{key} {metric(key, value)}" for key, value in entry.items()
                if key not in ("image", "path", "file", "name")]
        notes.setdefault(Path(name).stem, ", ".join(rest))
    return notes


def text_section(anchor: str, file_name: str, text: str | None) -> str:
    """A file shown verbatim, or a note that the run directory does not have it."""
    body = f"<pre>{escape(text)}</pre>" if text is not None else f'<p class="note">No {file_name}.</p>'
    return section(anchor, f"{anchor} <small>({file_name})</small>", body)


def metrics_section(path: Path, best_epoch) -> str:
    """metrics.csv as a table, one row per epoch, the best epoch's row highlighted."""
    title = "metrics <small>(metrics.csv)</small>"
    try:
        with open(path, newline="", encoding="utf-8", errors="replace") as handle:
            rows = list(csv.reader(handle))
    except OSError:
        rows = []
    if not rows:
        return section("metrics", title, '<p class="note">No epochs recorded.</p>')
    header, body = rows[0], rows[1:]
    best = [row[:1] == [str(best_epoch)] for row in body]
    table = html_table(header, [[csv_cell(cell) for cell in row] for row in body], best)
    return section("metrics", title, f'<div class="scroll">{table}</div>')


def csv_cell(cell: str) -> str:
    """A metrics.csv cell, long floats shortened (0.7085750102 -> 0.7086)."""
    try:
        return f"{float(cell):.4g}" if any(c in cell for c in ".eE") else cell
    except ValueError:
        return cell


def seconds(value) -> str | None:
    return duration(value) if isinstance(value, (int, float)) else None


def read_text(path: Path) -> str | None:
    try:
        return path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return None
