"""The run page: report.html, a run's one self-contained page.

Built from whatever files the run directory holds, so a completed, failed or still
running run each gets a page. Images are embedded as `data:` URIs and the styles are
inline, so the page opens from a copied folder or a mail attachment in any browser,
without a server or a network. Every text read from a file is HTML-escaped: a class
name or a config value is shown, never run.
"""

from __future__ import annotations

import csv
import re
import shlex
from html import escape
from pathlib import Path

from convcli.files import atomic_write_text, read_json
from convcli.formats import duration, metric, size, timestamp
from convcli.pages.curves import labels_mixed, training_charts
from convcli.pages.gallery import gallery_section
from convcli.pages.parts import definition_list, document, figure_html, html_table, section
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
    """The whole page: header, how to rerun it, results, curves, Grad-CAM, files, config,
    metrics, model."""
    meta, summary = run.meta_or_none() or Meta(), run.summary_or_none()  # a damaged one: none
    gradcam = (summary and summary.gradcam) or Gradcam()
    config = read_text(run.config)
    sections = [
        header_section(run, meta, summary, config),
        reproduce_section(run, meta),
        results_section(summary, meta.class_names or [], read_tta(run)),
        curves_section(run, summary, config),
        gallery_section(run.gradcam, gradcam, gallery_limit),
        files_section(run.path),
        text_section("config", "config.yaml", config),
        metrics_section(run.metrics, summary and summary.best_epoch),
        text_section("model", "model.txt", read_text(run.model_txt)),
    ]
    return document(run.name, NAV, "\n".join(sections))


NAV = (("results", "results"), ("curves", "curves"), ("gradcam", "Grad-CAM"), ("files", "files"),
       ("config", "config"), ("metrics", "metrics"), ("model", "model"))


# --- sections -------------------------------------------------------------------------


def header_section(run: Run, meta: Meta, summary: Summary | None, config: str | None) -> str:
    """The run's name and status; the reason a run did not complete, where no one misses it;
    for a sweep's trial, the way back to its sweep."""
    status = meta.status or "unknown"
    badge = f'<span class="status {status if status in STATUSES else "failed"}">{escape(status)}</span>'
    alert = ""
    if status != "completed":
        reason = meta.reason or {
            "running": "this run had not finished when the page was written (or its process was killed)",
            "unknown": "meta.json is missing or unreadable"}.get(status, "no reason recorded")
        alert = f'<p class="alert">{escape(status)}: {escape(str(reason))}</p>'
    sweep = sweep_of(run.path)
    back = (f'<p>A trial of sweep <a href="../../report.html">{escape(sweep.name)}</a>.</p>'
            if sweep and (sweep / "report.html").is_file() else "")
    return (f"<header>\n<h1>{escape(run.name)}</h1>\n<p>{badge}</p>\n{alert}\n{back}\n"
            f"{definition_list(run_facts(meta, summary, config))}\n</header>")


def sweep_of(path: Path) -> Path | None:
    """The sweep directory a trial's run lives in (<sweep>/trials/<run>), or None."""
    sweep = path.parent.parent
    return sweep if path.parent.name == "trials" and (sweep / "sweep.yaml").is_file() else None


def stage_label(stage: str | None, config: str | None) -> str | None:
    """The stage as a reader tells them apart: extract's frozen variant is named."""
    if stage == "extract" and config and re.search(r"^\s*method:\s*frozen\b", config, re.M):
        return "extract (frozen base, end to end)"
    return stage


def run_facts(meta: Meta, summary: Summary | None, config: str | None) -> list[tuple[str, object]]:
    """What was trained, when, where and with what (meta.json), as label-value pairs."""
    dataset = meta.dataset or Dataset()
    return [
        ("stage", stage_label(meta.stage or (summary and summary.stage), config)),
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
    ]


def reproduce_section(run: Run, meta: Meta) -> str:
    """A command that trains this run again, and the one that started it."""
    root = sweep_of(run.path)
    root = root.parent.parent if root else run.path.parent  # the runs folder
    config = f"{root.name}/{run.path.relative_to(root).as_posix()}/config.yaml"
    lines = [f"convcli train {shlex.quote(config)}"]
    started = train_command(meta.command or [])
    note = ("config.yaml is the resolved config (every override applied, the seed included), run "
            "from the folder that holds " + f"{root.name}/.")
    if started:
        lines.append(f"# as it was started:\n{started}")
    elif meta.command:
        lines.append(f"# started by: {shlex.join(['convcli', *meta.command[1:]])}")
    body = f'<pre class="command">{escape(chr(10).join(lines))}</pre><p class="note">{escape(note)}</p>'
    return section("reproduce", "reproduce", body)


def train_command(argv: list[str]) -> str | None:
    """meta.command as `convcli train ...` (a sweep's trial ran `python -m convcli`), without
    --resume and --runs-dir, which say where, not what; None when it was not `train`."""
    if "train" not in argv[1:]:
        return None
    words, rest = ["convcli"], iter(argv[argv.index("train", 1):])
    for word in rest:
        if word in ("--resume", "--runs-dir"):
            next(rest, None)
        elif not word.startswith(("--resume=", "--runs-dir=")):
            words.append(word)
    return shlex.join(words)


def results_section(summary: Summary | None, class_names: list[str], tta: dict | None = None) -> str:
    """The best epoch's metrics, the final epoch's, the test set's (with test-time
    augmentation too, when `convcli evaluate --tta` recorded it); timings and parameters."""
    if not summary:
        return section("results", "results", '<p class="note">No results: summary.json is missing '
                       "or unreadable. A run writes it only once training has finished; the "
                       "metrics below show the epochs that did.</p>")
    rows = metric_rows(summary) + tta_rows(tta or {})
    columns = list(dict.fromkeys(name for _, values in rows for name in values))
    table = html_table([""] + columns, [[label] + [metric(c, values.get(c)) for c in columns]
                                        for label, values in rows])
    return section("results", "results", f"{scrolled(table)}\n{class_tables(summary, class_names)}\n"
                   f"{definition_list(training_facts(summary))}")


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


def read_tta(run: Run) -> dict:
    """tta.json (evaluation/evaluator.py): {split or folder: its test-time augmentation}."""
    try:
        record = read_json(run.path / "tta.json")
    except (OSError, ValueError):
        return {}
    return record if isinstance(record, dict) else {}


def tta_rows(tta: dict) -> list[tuple[str, dict]]:
    """A row per evaluation with test-time augmentation, beside its one-view numbers."""
    rows = []
    for images, found in tta.items():
        if not isinstance(found, dict) or not {"views", "accuracy", "accuracy_tta"} <= set(found):
            continue  # a damaged entry is left out, not shown half
        where = f"{images} split" if images in ("test", "validation") else images
        rows.append((f"{where}, {found['views']} views averaged (evaluate --tta; one view: "
                     f"{metric('accuracy', found['accuracy'])})",
                     {"loss": found.get("loss_tta"), "accuracy": found["accuracy_tta"]}))
    return rows


def training_facts(summary: Summary) -> list[tuple[str, object]]:
    """Epochs, timings, parameters per phase, and what the stage recorded besides."""
    facts = [("epochs", summary.epochs),
             ("best epoch by", summary.monitor),
             ("total time", seconds(summary.timings.total_seconds)),
             ("per epoch", seconds(summary.timings.seconds_per_epoch)),
             ("class weights", ", ".join(f"{k} {v:.3g}" for k, v in (summary.class_weight or {}).items())
              or None)]
    facts += [(f"phase {p.phase}", f"{p.epochs} epoch(s), "
               f"{metric('parameters', p.trainable_params)} trainable parameters, "
               f"{seconds(p.seconds)}") for p in summary.phases]
    return facts + [(key.replace("_", " "), detail_text(key, value))
                    for key, value in summary.details.items()]


def detail_text(key: str, value) -> str:
    """A stage's own entry in summary.json (feature_cache, unfreezing, ...) as a sentence."""
    if key == "feature_cache" and isinstance(value, dict):
        images = value.get("images_through_base") or 0
        return (f"{value.get('status', '?')}: {images:,} images through the base, "
                f"{seconds(value.get('seconds')) or '-'}" if images else
                f"{value.get('status', '?')} (no image went through the base), {seconds(value.get('seconds')) or '-'}")
    if key == "unfreezing" and isinstance(value, dict):
        return (f"{metric('parameters', value.get('frozen_base'))} trainable parameters with the base "
                f"frozen, {metric('parameters', value.get('unfrozen'))} once unfrozen")
    if isinstance(value, dict):
        return ", ".join(f"{k.replace('_', ' ')} {detail_text(k, v)}" for k, v in value.items()) or "-"
    if isinstance(value, list):
        return ", ".join(detail_text(key, v) for v in value) or "-"
    return metric(key, value)


def class_tables(summary: Summary, class_names: list[str]) -> str:
    """Precision and recall per class and the confusion matrix, as tables."""
    parts = []
    if summary.per_class:
        rows = [[name, metric("share", c.precision), metric("share", c.recall), f"{c.support:,}"]
                for name, c in summary.per_class.items()]
        parts.append("<h3>per class (test split)</h3>" + scrolled(
            html_table(["class", "precision", "recall", "images"], rows)))
    names = summary.class_names or class_names or [str(i) for i in range(len(summary.confusion or []))]
    if summary.confusion and len(names) == len(summary.confusion):
        rows = [[f"true {name}", *(f"{count:,}" for count in counts)]
                for name, counts in zip(names, summary.confusion)]
        parts.append("<h3>confusion matrix (test split)</h3>" + scrolled(
            html_table(["", *(f"predicted {name}" for name in names)], rows)))
    return "\n".join(parts)


def scrolled(table: str) -> str:
    return f'<div class="scroll">{table}</div>'


def curves_section(run: Run, summary: Summary | None, config: str | None) -> str:
    """Accuracy, loss and the learning rate per epoch as charts; the confusion pictures."""
    best, monitor = (summary.best_epoch, summary.monitor) if summary else (None, "")
    charts, notes = training_charts(run.metrics, best, monitor, labels_mixed(config))
    if not charts:
        charts = ['<p class="note">No epochs recorded yet.</p>']
    pictures = [figure_html(path, path.name) for path in sorted(run.path.glob("confusion*.png"))]
    return section("curves", "curves", '<div class="charts">' + "\n".join(charts) + "</div>\n"
                   + "".join(f'<p class="note">{escape(note)}</p>' for note in notes) + "\n".join(pictures))


RUN_FILES = (("config.yaml", "the resolved config"), ("metrics.csv", "one row per epoch"),
             ("summary.json", "results"), ("meta.json", "status, command, versions"),
             ("model.txt", "the layer table"), ("curves.png", "the curves as a picture"),
             ("checkpoints/best.keras", "the best epoch's model"),
             ("checkpoints/last.keras", "the last epoch's model, to resume"),
             ("gradcam/", "overlays and heatmaps"), ("tensorboard/", "TensorBoard's event files"))


def files_section(folder: Path) -> str:
    """Links to the run's own files that exist, relative, so a copied folder keeps them."""
    items = [f'<li><a href="{escape(name)}">{escape(name)}</a> — {escape(what)}'
             + (f" ({size(path.stat().st_size)})" if path.is_file() else "") + "</li>"
             for name, what in RUN_FILES if (path := folder / name).exists()]
    return section("files", "files", f"<ul>{''.join(items)}</ul>" if items
                   else '<p class="note">No files yet.</p>')


def text_section(anchor: str, file_name: str, text: str | None) -> str:
    """A file shown verbatim, or a note that the run directory does not have it."""
    body = f"<pre>{escape(text)}</pre>" if text is not None else f'<p class="note">No {file_name}.</p>'
    return section(anchor, f"{anchor} <small>({file_name})</small>", body)


def metrics_section(path: Path, best_epoch) -> str:
    """metrics.csv as a table, one row per epoch, the best epoch's row highlighted; numbers
    as the terminal's tables write them (accuracies in %, losses to 4 places)."""
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
    table = html_table(header, [[csv_cell(name, cell) for name, cell in zip(header, row)] for row in body],
                       best)
    return section("metrics", title, scrolled(table))


def csv_cell(column: str, cell: str) -> str:
    """A metrics.csv cell in its column's unit: 0.7085750102 -> 70.9% or 0.7086."""
    if not cell:
        return "-"  # not measured (training accuracy under mixup or cutmix)
    try:
        value = float(cell) if any(c in cell for c in ".eE") else None
    except ValueError:
        return cell
    if value is None:
        return cell
    if column == "learning_rate":
        return f"{value:.3g}"
    if column == "seconds":
        return f"{value:.1f}"
    return metric(column, value)


def seconds(value) -> str | None:
    return duration(value) if isinstance(value, (int, float)) else None


def read_text(path: Path) -> str | None:
    try:
        return path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return None
