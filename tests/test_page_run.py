"""pages/run.py: report.html is one self-contained, escaped page of whatever a run directory holds."""

import base64
import io
import json
import os
import re
import subprocess
import sys
from html.parser import HTMLParser

import pytest
from PIL import Image

from convcli.pages.run import GALLERY_LIMIT, write_page
from convcli.runs import Run

EMBEDDED = "data:image/png;base64,"
SCRIPT = "<script>alert(1)</script>"


def png(color, size=(8, 6)) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", size, color).save(buffer, format="PNG")
    return buffer.getvalue()


def completed_run(path, class_name="cat") -> Run:
    """A finished run as experiment.py leaves it, with two Grad-CAM overlays."""
    run = Run(path / "2026-01-02_03-04-05_scratch")
    (run.gradcam).mkdir(parents=True)
    run.config.write_text("name: scratch\nstage: scratch\ntrain:\n  epochs: 4\n  learning_rate: 0.000123\n")
    run.meta.write_text(json.dumps({
        "status": "completed", "started": "2026-01-02T03:04:05+00:00", "ended": "2026-01-02T03:05:00+00:00",
        "stage": "scratch", "devices": ["/device:CPU:0"], "class_names": [class_name, "dog"],
        "versions": {"python": "3.11.7", "tensorflow": "2.21.0", "keras": "3.15.1"}}))
    run.summary.write_text(json.dumps({
        "stage": "scratch", "epochs": 4, "best_epoch": 3, "monitor": "val_loss",
        "best": {"accuracy": 0.8, "loss": 0.41, "val_accuracy": 0.75, "val_loss": 0.52},
        "final": {"epoch": 4, "phase": "train", "accuracy": 0.85, "loss": 0.35, "val_accuracy": 0.7,
                  "val_loss": 0.6},
        "test": {"accuracy": 0.875, "loss": 0.45},
        "timings": {"total_seconds": 55.2, "seconds_per_epoch": 12.5},
        "phases": [{"phase": "train", "epochs": 4, "trainable_params": 504001, "seconds": 50.0}],
        "gradcam": {"layer": "conv4", "images": [
            {"image": "cat_0001.jpg", "true": class_name, "predicted": class_name, "probability": 0.93},
            "dog_0002.jpg"],
            "pointing_game": {"score": 0.91, "chance": 0.296, "images": 300, "layer": "conv4"}}}))
    run.metrics.write_text("epoch,phase,loss,accuracy,val_loss,val_accuracy,learning_rate,seconds\n" + "".join(
        f"{e},train,0.{9 - e},0.{5 + e},0.{8 - e},0.{4 + e},0.001,12.5\n" for e in range(1, 5)))
    run.model_txt.write_text("convnet\n conv1  Conv2D  (None, 62, 62, 32)  896\n")
    run.curves.write_bytes(png("blue", (40, 20)))
    (run.path / "confusion.png").write_bytes(png("green", (10, 10)))
    (run.gradcam / "cat_0001.png").write_bytes(png("red"))
    (run.gradcam / "dog_0002.png").write_bytes(png("yellow"))
    (run.gradcam / "cat_0001.npy").write_bytes(b"not an image")
    (run.gradcam / "contact_sheet.png").write_bytes(png("purple", (30, 30)))
    return run


class Page(HTMLParser):
    """The tags, attributes and visible text of a page, as a browser would parse it."""

    def __init__(self, text: str):
        super().__init__()
        self.tags, self.attributes, self.text = [], [], []
        self.feed(text)

    def handle_starttag(self, tag, attrs):
        self.tags.append(tag)
        self.attributes += attrs

    def handle_data(self, data):
        self.text.append(data)


def images(text: str) -> dict[str, bytes]:
    """alt text -> decoded bytes of every embedded image."""
    found = re.findall(r'<img src="data:image/png;base64,([A-Za-z0-9+/=]+)" alt="([^"]*)"', text)
    return {alt: base64.b64decode(data) for data, alt in found}


def test_completed_run_page_embeds_every_picture_and_shows_the_results(tmp_path):
    run = completed_run(tmp_path)
    path = write_page(run)
    text = path.read_text()
    assert path == run.path / "report.html"
    embedded = images(text)
    # confusion matrix and the two overlays; not the contact sheet (the same overlays again), not
    # curves.png: the curves are charts drawn from metrics.csv
    assert text.count(EMBEDDED) == 3
    assert sorted(embedded) == ["cat_0001.png", "confusion.png", "dog_0002.png"]
    assert embedded["dog_0002.png"] == (run.gradcam / "dog_0002.png").read_bytes()  # byte for byte
    visible = " ".join(Page(text).text)
    assert run.config.read_text() in visible  # verbatim
    assert "best epoch 3" in visible and "final epoch 4" in visible
    assert "87.5%" in visible  # test accuracy
    assert "cat → cat (93.0%)" in visible  # true → predicted (probability), from summary.json
    assert 'aria-label="accuracy"' in text and 'aria-label="loss"' in text  # the curves' charts
    assert "best (val_loss)" in visible  # the best epoch marked on them
    assert "91.0% of 300 validation images" in visible  # the pointing game
    assert "conv1  Conv2D  (None, 62, 62, 32)" in visible  # model.txt
    assert '<tr class="best"><td>3</td>' in text  # metrics.csv, best epoch marked


def test_page_needs_no_server_network_or_javascript(tmp_path):
    text = write_page(completed_run(tmp_path)).read_text()
    page = Page(text)
    links = [value for name, value in page.attributes if name in ("src", "href", "srcset", "action")]
    files = [value for value in links if not value.startswith((EMBEDDED, "#"))]
    assert links and files and all((tmp_path / "2026-01-02_03-04-05_scratch" / f).exists() for f in files)
    assert "http" not in text and "url(" not in text and "@import" not in text
    assert not {"script", "link", "iframe", "object"} & set(page.tags)
    assert os.listdir(tmp_path / "2026-01-02_03-04-05_scratch").count("report.html") == 1  # one file


def test_failed_run_page_shows_the_reason(tmp_path):
    run = Run(tmp_path / "2026-01-02_03-04-05_augment")
    run.path.mkdir()
    run.config.write_text("name: augment\nstage: augment\n")
    reason = "TrainingError: the loss was never finite (nan at epoch 1); lower train.learning_rate"
    run.meta.write_text(json.dumps({"status": "failed", "reason": reason, "stage": "augment",
                                    "started": "2026-01-02T03:04:05+00:00"}))
    text = write_page(run).read_text()
    assert f'<p class="alert">failed: {reason}</p>' in text  # prominently, not in the fine print
    assert '<span class="status failed">failed</span>' in text
    assert "summary.json is missing" in text
    assert "name: augment\nstage: augment\n" in text
    assert EMBEDDED not in text
    assert sorted(os.listdir(run.path)) == ["config.yaml", "meta.json", "report.html"]


def test_broken_files_still_give_a_page(tmp_path):
    """A killed run: no meta.json, a truncated summary.json, an overlay that is not a PNG."""
    run = Run(tmp_path / "2026-01-02_03-04-05_scratch")
    run.gradcam.mkdir(parents=True)
    run.summary.write_text('{"stage": "scr')
    (run.gradcam / "half.png").write_bytes(png("red")[:20])
    text = write_page(run).read_text()
    assert "unknown: meta.json is missing or unreadable" in text
    assert "half.png: not a readable PNG" in text
    assert "No config.yaml." in text and "No epochs recorded." in text and EMBEDDED not in text


def test_text_from_files_is_escaped(tmp_path):
    run = completed_run(tmp_path, class_name=SCRIPT)
    run.config.write_text(f"name: '{SCRIPT}'\n")
    run.metrics.write_text(f"epoch,phase,loss\n1,{SCRIPT},0.5\n")
    (run.gradcam / "<img src=x onerror=alert(1)>.png").write_bytes(png("red"))
    text = write_page(run).read_text()
    page = Page(text)
    assert "<script" not in text.lower() and "script" not in page.tags and "<img src=x" not in text
    assert not [name for name, _ in page.attributes if name.startswith("on")]
    assert text.count("&lt;script&gt;alert(1)&lt;/script&gt;") >= 4  # config, classes, metrics, gallery
    assert SCRIPT in " ".join(page.text)  # still shown to the reader, as text
    assert "&lt;img src=x onerror=alert(1)&gt;.png" in text


def test_gallery_embeds_at_most_the_limit_and_says_how_many_were_left_out(tmp_path):
    run = completed_run(tmp_path)
    for index in range(GALLERY_LIMIT + 5):  # 2 already there: 71 overlays in all
        (run.gradcam / f"z_{index:03d}.png").write_bytes(png((index, 0, 0)))
    text = write_page(run).read_text()
    assert text.count(EMBEDDED) == 1 + GALLERY_LIMIT  # confusion, the first 64 overlays
    assert f"7 more Grad-CAM image(s) left out of this page (it shows the first {GALLERY_LIMIT})" in text
    assert "z_061.png" in text and "z_062.png" not in text  # sorted by name: cat, dog, z_000..z_061


def test_rewriting_replaces_the_page_atomically(tmp_path, monkeypatch):
    run = completed_run(tmp_path)
    before = sorted(os.listdir(run.path))
    write_page(run)
    run.meta.write_text(json.dumps({"status": "interrupted", "reason": "interrupted by the user"}))
    write_page(run)
    assert "interrupted: interrupted by the user" in (run.path / "report.html").read_text()
    assert sorted(os.listdir(run.path)) == sorted(before + ["report.html"])  # no temporary files
    written = (run.path / "report.html").read_text()

    def fail(*args):
        raise OSError("killed before the rename")

    monkeypatch.setattr(os, "replace", fail)
    run.meta.write_text(json.dumps({"status": "completed"}))
    with pytest.raises(OSError):
        write_page(run)
    monkeypatch.undo()
    assert (run.path / "report.html").read_text() == written  # the previous page, whole
    assert sorted(os.listdir(run.path)) == sorted(before + ["report.html"])


def test_page_module_imports_no_heavy_library():
    code = ("import sys\nimport convcli.pages.run\n"
            "heavy = {'tensorflow', 'keras', 'matplotlib', 'numpy', 'PIL', 'rich'} & set(sys.modules)\n"
            "assert not heavy, heavy\n")
    subprocess.run([sys.executable, "-c", code], check=True)


def test_every_figure_is_a_table_or_a_sentence_never_json(tmp_path):
    run = completed_run(tmp_path)
    summary = json.loads(run.summary.read_text())
    summary |= {"per_class": {"cat": {"precision": 0.7857142857142857, "recall": 0.9, "support": 20},
                              "dog": {"precision": 0.88, "recall": 0.75, "support": 20}},
                "confusion": [[18, 2], [5, 15]],
                "feature_cache": {"status": "miss", "key": "abc", "images_through_base": 1200,
                                  "seconds": 12.5, "path": "/home/someone/.cache/convcli/features/abc"},
                "unfreezing": {"frozen_base": 2049, "unfrozen": 123456}}
    summary["gradcam"]["images"][0] |= {"true": "dog", "loss": 2.66}  # a misclassified one
    summary["gradcam"] |= {"hardest": [{"image": "cat_0007.jpg", "true": "cat", "predicted": "dog",
                                        "probability": 0.97, "loss": 3.5}], "hardest_pool": 300}
    run.summary.write_text(json.dumps(summary))
    (run.gradcam / "hardest").mkdir()
    (run.gradcam / "hardest" / "cat_0007.png").write_bytes(png("orange"))
    text = write_page(run).read_text()
    visible = " ".join(Page(text).text)
    shown = " ".join(Page(text.split("</style>", 1)[1]).text)
    assert "{" not in shown.replace(run.config.read_text(), "")  # no JSON outside config.yaml
    assert "78.6%" in visible and "0.7857142857142857" not in text  # rounded as the tables round
    assert "true dog" in visible and "predicted cat" in visible  # the confusion matrix, labelled
    assert "miss: 1,200 images through the base, 12s" in visible and "/home/someone" not in text
    assert "2,049 trainable parameters with the base frozen, 123,456 once unfrozen" in visible
    assert "✗ misclassified: dog → cat (93.0%), loss 2.66" in visible
    assert '<figure class="wrong">' in text
    assert "hardest examples" in visible and "of 300 scored" in visible
    assert "cat → dog (97.0%), loss 3.50" in visible
    assert images(text)["cat_0007.jpg"] == (run.gradcam / "hardest" / "cat_0007.png").read_bytes()


def test_a_trial_page_reproduces_the_trial_and_links_back_to_its_sweep(tmp_path):
    sweep = tmp_path / "runs" / "sweeps" / "2026-01-02_03-00-00_lr"
    (sweep / "trials").mkdir(parents=True)
    (sweep / "sweep.yaml").write_text("name: lr\n")
    (sweep / "report.html").write_text("<!DOCTYPE html>")
    run = completed_run(sweep / "trials")
    meta = json.loads(run.meta.read_text()) | {"command": [
        "/venv/lib/python3.11/site-packages/convcli/__main__.py", "train", f"{sweep}/base.yaml",
        "--set", "train.learning_rate=0.001", "--set", "seed=1338", "--runs-dir", f"{sweep}/trials"]}
    run.meta.write_text(json.dumps(meta))
    run.metrics.write_text("epoch,phase,loss,accuracy,val_loss,val_accuracy,learning_rate,seconds\n"
                           "1,head,0.6,0.6,0.6,0.6,0.001,1\n2,fine-tune,0.5,0.7,0.5,0.7,1e-05,1\n")
    text = write_page(run).read_text()
    visible = " ".join(Page(text).text)
    assert "convcli train runs/sweeps/2026-01-02_03-00-00_lr/trials/2026-01-02_03-04-05_scratch/config.yaml" in visible
    assert (f"convcli train {sweep}/base.yaml --set train.learning_rate=0.001 --set seed=1338"
            in visible) and "__main__" not in text and "--runs-dir" not in text
    assert '<a href="../../report.html">2026-01-02_03-00-00_lr</a>' in text  # back to the sweep
    assert 'aria-label="learning rate"' in text and "fine-tune →" in visible  # the phase, labelled
