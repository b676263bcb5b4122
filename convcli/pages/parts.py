"""Page parts shared by every page (a run's, a sweep's): the style, sections,
figures embedded as `data:` URIs, tables and definition lists.

Every text passed in as plain text is escaped here: a class name or a config value is
shown, never run. Imports nothing of convcli.
"""

from __future__ import annotations

import base64
from html import escape
from pathlib import Path

PNG_SIGNATURE, PNG_END = b"\x89PNG\r\n\x1a\n", b"IEND\xaeB`\x82"  # first bytes; last chunk

STYLE = """
:root { color-scheme: light; }
body { font: 15px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; color: #1a1a1a;
       background: #fff; max-width: 1100px; margin: 0 auto; padding: 1.5rem; }
@media (max-width: 600px) { body { padding: .75rem; } }
h1 { font-size: 1.4rem; margin: 0 0 .4rem; overflow-wrap: anywhere; }
nav { display: flex; flex-wrap: wrap; gap: .2rem 0; }
h2 { font-size: 1.15rem; border-bottom: 1px solid #ddd; padding-bottom: .2rem; margin-top: 2rem; }
nav a { margin-right: .9rem; color: #0645ad; }
.status { display: inline-block; padding: .05rem .6rem; border-radius: .8rem; font-weight: 600; }
.completed { background: #e3f4e5; color: #1b5e20; }
.failed { background: #fde2e1; color: #8a1c13; }
.running, .interrupted { background: #fff4d6; color: #6b4e00; }
.pruned { background: #eceff3; color: #37474f; }
.killed { background: #fde2e1; color: #8a1c13; }
.alert { border-left: 6px solid #c62828; background: #fdecea; padding: .7rem 1rem;
         font-weight: 600; white-space: pre-wrap; overflow-wrap: anywhere; }
dl { display: grid; grid-template-columns: max-content 1fr; gap: .15rem 1rem; }
dt { color: #555; }
dd { margin: 0; overflow-wrap: anywhere; }
.scroll { overflow-x: auto; }
table { border-collapse: collapse; font-variant-numeric: tabular-nums; }
th, td { padding: .2rem .6rem; border-bottom: 1px solid #e5e5e5; text-align: right; }
th:first-child, td:first-child { text-align: left; }
td:not(:first-child) { white-space: nowrap; }
tr.best td { font-weight: 600; background: #f1f7ff; }
pre { background: #f6f8fa; border: 1px solid #e1e4e8; padding: .75rem; overflow-x: auto;
      font-size: 13px; }
figure { margin: 0 0 1rem; }
img { max-width: 100%; height: auto; }
.gallery { display: grid; grid-template-columns: repeat(auto-fill, minmax(140px, 1fr)); gap: .8rem; }
.gallery img { width: 100%; border: 1px solid #ddd; }
figcaption { font-size: 12px; color: #444; overflow-wrap: anywhere; }
.note { color: #555; }
h3 { font-size: 1rem; margin: 1.2rem 0 .4rem; }
a { color: #0645ad; }
code, pre { overflow-wrap: anywhere; }
.charts { display: grid; grid-template-columns: repeat(auto-fit, minmax(min(100%, 420px), 1fr)); gap: 1rem; }
.chart { margin: 0; min-width: 0; max-width: 640px; }
.chart svg { width: 100%; height: auto; display: block; }
.chart label { cursor: zoom-in; display: block; }
.chart figcaption { font-size: 13px; margin-top: .2rem; }
.legend { list-style: none; padding: 0; margin: .2rem 0 0; font-size: 13px; display: flex;
          flex-wrap: wrap; gap: .1rem 1rem; }
.chart .legend .key { display: inline-block; width: 26px; height: 10px; margin-right: .3rem;
                      vertical-align: middle; }
pre.command { white-space: pre-wrap; overflow-wrap: anywhere; }
input.zoom { position: absolute; opacity: 0; pointer-events: none; }
input.zoom:checked + label { position: fixed; inset: 0; z-index: 10; background: #fff; padding: 1rem;
                             overflow: auto; cursor: zoom-out; }
input.zoom:checked + label svg { max-height: 80vh; }
figure.wrong img { border: 3px solid #D55E00; }
figure.wrong figcaption { color: #8a1c13; font-weight: 600; }
.filters { display: flex; flex-wrap: wrap; gap: .5rem 1rem; margin: .5rem 0; }
/* A sweep's trials under its row: the summary stays in view (and wraps) while a wide
   table scrolls sideways on a phone. */
tr.trials > td { padding: .1rem 0 .3rem 1rem; }
tr.trials summary { position: sticky; left: 0; max-width: calc(100vw - 3rem); cursor: pointer; }
@media print {
  body { max-width: none; padding: 0; font-size: 10pt; }
  nav { display: none; }
  figure, tr, .alert { break-inside: avoid; }
  h2 { break-after: avoid; }
  pre { white-space: pre-wrap; font-size: 8pt; }
}
"""


def section(anchor: str, title: str, body: str) -> str:
    """One titled part of the page; `title` and `body` arrive as HTML, already escaped."""
    return f'<section id="{anchor}">\n<h2>{title}</h2>\n{body}\n</section>'


def figure_html(path: Path, caption: str, note: str | None = None) -> str:
    """An image embedded byte for byte (never re-encoded), captioned; a note if unreadable."""
    uri = png_data_uri(path)
    text = escape(caption) + (f"<br>{escape(note)}" if note else "")
    if uri is None:
        return f"<figure><figcaption>{text}: not a readable PNG</figcaption></figure>"
    return f'<figure><img src="{uri}" alt="{escape(caption)}"><figcaption>{text}</figcaption></figure>'


def png_data_uri(path: Path) -> str | None:
    try:
        data = path.read_bytes()
    except OSError:
        return None
    if not (data.startswith(PNG_SIGNATURE) and data.endswith(PNG_END)):
        return None  # not a PNG, or cut short: a broken image icon would tell the reader less
    return "data:image/png;base64," + base64.b64encode(data).decode("ascii")


def html_table(header: list[str], rows: list[list[str]], highlighted: list[bool] | None = None) -> str:
    """A table of plain-text cells (escaped here), highlighted rows marked `best`."""
    head = "".join(f"<th>{escape(str(cell))}</th>" for cell in header)
    marks = highlighted or [False] * len(rows)
    body = "\n".join(('<tr class="best">' if mark else "<tr>")
                     + "".join(f"<td>{escape(str(cell))}</td>" for cell in row) + "</tr>"
                     for row, mark in zip(rows, marks))
    return f"<table>\n<thead><tr>{head}</tr></thead>\n<tbody>\n{body}\n</tbody>\n</table>"


def definition_list(pairs: list[tuple[str, object]]) -> str:
    items = "".join(f"<dt>{escape(label)}</dt><dd>{escape(str(value))}</dd>"
                    for label, value in pairs if value not in (None, ""))
    return f"<dl>{items}</dl>" if items else ""


def document(title: str, nav: tuple[tuple[str, str], ...], body: str, script: str = "") -> str:
    """A whole page: the viewport tag (without it a phone lays the page out at 980 px and
    shrinks it to 40 %), the style, a bar of links to the page's sections, the body."""
    links = "".join(f'<a href="#{anchor}">{escape(label)}</a>' for anchor, label in nav)
    return (f'<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
            f'<meta name="viewport" content="width=device-width, initial-scale=1">\n'
            f"<title>{escape(title)} · convcli</title>\n<style>{STYLE}</style>\n</head>\n"
            f"<body>\n<nav>{links}</nav>\n{body}\n{script}</body>\n</html>\n")
