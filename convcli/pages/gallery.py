"""A run's Grad-CAM pictures on its page: the sampled validation images, captioned
`true → predicted (probability)` with the misclassified marked, and the hardest
examples (the highest-loss validation images, fastai's top losses) with their heatmaps.

What each picture shows comes from summary.json's gradcam record; older runs recorded
file names only, and their captions are the file names.
"""

from __future__ import annotations

from html import escape
from pathlib import Path

from convcli.formats import metric, number
from convcli.pages.parts import figure_html, section
from convcli.records import Gradcam

HARDEST_FOLDER = "hardest"  # gradcam/hardest/: the hardest examples' overlays and heatmaps


def caption(entry) -> tuple[str, str, bool]:
    """(file name, `true → predicted (probability)`, misclassified) of one recorded image."""
    if not isinstance(entry, dict):
        return str(entry), "", False
    name = str(next((entry[k] for k in ("image", "path", "file", "name") if k in entry), "?"))
    true, predicted = entry.get("true"), entry.get("predicted")
    probability = metric("probability", entry.get("probability"))
    text = f"{predicted} ({probability})" if predicted is not None else ""
    if true is not None and predicted is not None:
        text = f"{true} → {text}"
    if entry.get("loss") is not None:
        text += f", loss {number(entry['loss'], 2)}"
    return name, text, true is not None and predicted is not None and true != predicted


def tile(path: Path, name: str, text: str, wrong: bool) -> str:
    """One overlay with its caption; a misclassified one framed and labelled as such."""
    label = f"✗ misclassified: {text}" if wrong else text
    figure = figure_html(path, name, label or None)
    return figure.replace("<figure>", '<figure class="wrong">', 1) if wrong else figure


def gallery_section(folder: Path, gradcam: Gradcam, limit: int) -> str:
    """Every Grad-CAM overlay, captioned, in a grid; then the hardest examples."""
    paths = sorted(p for p in folder.glob("*.png") if p.name != "contact_sheet.png")
    if not paths:
        return section("gradcam", "Grad-CAM", '<p class="note">No Grad-CAM images.</p>')
    entries = {Path(caption(e)[0]).stem: caption(e) for e in gradcam.images}
    figures = [tile(path, path.name, *entries.get(path.stem, ("", "", False))[1:]) for path in paths[:limit]]
    wrong = sum(1 for _, _, mistaken in entries.values() if mistaken)
    count = (f"<p>{len(entries)} validation images sampled; {wrong} misclassified (framed, marked ✗)."
             "</p>" if any(text for _, text, _ in entries.values()) else "")
    more = len(paths) - limit
    left_out = (f'<p class="note">{more} more Grad-CAM image(s) left out of this page '
                f"(it shows the first {limit}); they are all in gradcam/.</p>" if more > 0 else "")
    return section("gradcam", "Grad-CAM", f"{gradcam_intro(gradcam)}{count}\n<div class=\"gallery\">\n"
                   + "\n".join(figures) + f"\n</div>\n{left_out}\n{hardest_html(folder, gradcam)}")


def hardest_html(folder: Path, gradcam: Gradcam) -> str:
    """The highest-loss validation images of the sample Grad-CAM scored, hardest first."""
    if not gradcam.hardest:
        return ""
    figures = []
    for entry in gradcam.hardest:
        name, text, wrong = caption(entry)
        path = folder / HARDEST_FOLDER / f"{Path(name).stem}.png"
        figures.append(tile(path, name, text, wrong))
    pool = f" of {gradcam.hardest_pool} scored" if gradcam.hardest_pool else ""
    return (f'<h3 id="hardest">hardest examples</h3><p>The validation images{pool} with the highest '
            "loss, hardest first, with the heatmap of the class the model predicted.</p>"
            f'<div class="gallery">{"".join(figures)}</div>')


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
