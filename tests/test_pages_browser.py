"""Every page, opened in headless Chromium at 1280 px and as a 390 px phone: images load,
nothing but a scrolling table or code is wider than the phone, no console error, every
link leads to a file inside the folder. And the check fails where a reader would suffer."""

import csv
import json
import os
import re
import shutil
from pathlib import Path

import pytest
from browser import CHROMIUM, Chromium, problems
from test_page_run import completed_run

from convcli.pages.demo import write_demo_page
from convcli.pages.index import write_index
from convcli.pages.run import write_page
from convcli.pages.sweep import write_sweep_page

SIZES = {"desktop": (1280, 900, False), "phone": (390, 844, True)}

pytestmark = pytest.mark.skipif(not os.path.exists(CHROMIUM), reason="no chromium (.ci/run installs it)")


@pytest.fixture(scope="module")
def browser():
    chromium = Chromium()
    yield chromium
    chromium.close()


def write_sweep(runs: Path) -> Path:
    """A finished sweep of two params x two seeds, as convcli writes one, its trials' pages too."""
    folder = runs / "sweeps" / "2026-01-02_04-00-00_lr-dropout"
    (folder / "trials").mkdir(parents=True)
    (folder / "sweep.yaml").write_text("name: lr-dropout\nbase: ../augment.yaml\nparams:\n"
                                       "  train.learning_rate: [0.0001, 0.001]\n  model.dropout: [0.3, 0.5]\n"
                                       "search: grid\nseeds: 2\nmetric: val_accuracy\nmode: max\n")
    (folder / "best.yaml").write_text("# The best point\nstage: augment\n")
    points, trials = [], []
    for point, (rate, dropout) in enumerate([(0.0001, 0.3), (0.0001, 0.5), (0.001, 0.3), (0.001, 0.5)], 1):
        mean = 0.70 + 0.02 * point
        points.append([point, rate, dropout, 2, mean, 0.01, mean - 0.09, mean + 0.09, "completed"])
        for seed in (1337, 1338):
            run = completed_run(folder / "trials", class_name="cat")
            named = run.path.with_name(f"2026-01-02_04-0{point}-{seed - 1300}_lr-dropout-p{point}-s{seed}")
            run.path.rename(named)
            write_page(type(run)(named))
            trials.append([len(trials), point, rate, dropout, seed, "completed", mean, 3, 4, 50.0, "vm",
                           str(named)])
    for name, header, rows in (
            ("points.csv", ["point", "train.learning_rate", "model.dropout", "n", "mean", "std", "ci95_low",
                            "ci95_high", "status"], points),
            ("trials.csv", ["trial", "point", "train.learning_rate", "model.dropout", "seed", "status",
                            "val_accuracy", "best_epoch", "epochs", "seconds", "host", "run"], trials)):
        with open(folder / name, "w", newline="") as handle:
            csv.writer(handle).writerows([header, *rows])
    write_sweep_page(folder)
    return folder


@pytest.fixture(scope="module")
def pages(tmp_path_factory):
    """A runs folder with a run, a sweep, a demo page and the index, every page written."""
    runs = tmp_path_factory.mktemp("pages") / "runs"
    runs.mkdir()
    run = completed_run(runs)
    write_page(run)
    sweep = write_sweep(runs)
    trials = sorted(p for p in (sweep / "trials").iterdir())
    rows = [{"stage": "scratch", "book": 71, "seconds": 60.0, "run": run.name, "val_accuracy": 0.7,
             "test_accuracy": 0.69},
            {"stage": "augment", "book": 82, "seconds": 90.0, "sweep": str(sweep), "val_accuracy": [0.8, 0.82],
             "test_accuracy": [0.79, 0.8], "final_accuracy": [0.85, 0.86], "final_val_accuracy": [0.8, 0.8],
             "pointing_game": [None, None], "curves": [[0.5, 0.7, 0.8], [0.55, 0.72, 0.82]]}]
    demo = write_demo_page([rows[0] | {k: [v] for k, v in rows[0].items() if k.endswith("accuracy")}
                            | {"final_accuracy": [0.9], "final_val_accuracy": [0.7], "pointing_game": [None],
                               "curves": [[0.5, 0.6, 0.7]]}, rows[1]], runs, 150.0, seeds=2)
    return {"run": run.path / "report.html", "sweep": sweep / "report.html", "demo": demo,
            "index": write_index(runs), "trial": trials[0] / "report.html", "root": runs}


def screenshots(tmp_path: Path) -> Path:
    """Where screenshots go: $CONVCLI_SCREENSHOTS to look at them, else the test's folder."""
    folder = Path(os.environ.get("CONVCLI_SCREENSHOTS") or tmp_path)
    folder.mkdir(parents=True, exist_ok=True)
    return folder


@pytest.mark.parametrize("size", SIZES)
@pytest.mark.parametrize("page", ["run", "trial", "sweep", "demo", "index"])
def test_page_reads_well_in_a_real_browser(browser, pages, page, size, tmp_path):
    width, height, mobile = SIZES[size]
    report = browser.open(pages[page], width, height, mobile, screenshots(tmp_path) / f"{page}-{width}.png")
    assert problems(report, pages[page], pages["root"], width) == []
    assert report["links"]  # every page links somewhere: its files, its runs, its sweep
    assert report["font"] >= 14  # body text a phone can read, not a page scaled to 40 %


def test_the_check_fails_without_the_viewport_tag_or_with_a_broken_image(browser, pages, tmp_path):
    copy = tmp_path / "runs"
    shutil.copytree(pages["root"], copy)
    page = copy / pages["run"].relative_to(pages["root"])
    text = page.read_text()
    no_viewport = re.sub(r'<meta name="viewport"[^>]*>', "", text)
    assert no_viewport != text
    page.write_text(no_viewport)
    found = problems(browser.open(page, 390, 844, True), page, copy, 390)
    assert any("laid out at 980 px" in p for p in found), found
    broken = re.sub(r'(src="data:image/png;base64,)[^"]{40}', r"\1AAAA", text, count=1)
    assert broken != text
    page.write_text(broken)
    found = problems(browser.open(page, 1280, 900, False), page, copy, 1280)
    assert any(p.startswith("image not loaded") for p in found), found
    page.write_text(text.replace("</body>", '<a href="../elsewhere.html">x</a>'
                                 '<div style="width:600px">wide</div></body>'))
    found = problems(browser.open(page, 390, 844, True), page, copy, 390)
    assert "link leads nowhere: ../elsewhere.html" in found and any("wider" in p for p in found), found
    page.write_text(text.replace("</body>", "<script>console.error('broken')</script></body>"))
    assert "console: broken" in problems(browser.open(page, 1280, 900, False), page, copy, 1280)


def test_the_index_lists_every_run_and_sweep_with_filters(pages):
    text = pages["index"].read_text()
    assert 'href="2026-01-02_03-04-05_scratch/report.html"' in text
    assert 'href="sweeps/2026-01-02_04-00-00_lr-dropout/report.html"' in text
    assert 'data-filter="stage"' in text and 'data-filter="status"' in text
    assert "val_loss 0.5200" in text and "87.5%" in text  # the monitored metric, test accuracy
    assert json.dumps("x")  # the page holds no data an index reader would need to parse
