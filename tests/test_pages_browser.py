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
from test_page_curves import mixed_run
from test_page_run import completed_run

from convcli.pages.demo import write_demo_page
from convcli.pages.index import write_index
from convcli.pages.run import write_page
from convcli.pages.sweep import write_sweep_page, write_sweep_plots

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
                                       "search: grid\nseeds: 2\nmetric: val_accuracy\nmode: max\ntrials: 8\n")
    (folder / "best.yaml").write_text("# The best point\nstage: augment\n")
    points, trials = [], []
    for point, (rate, dropout) in enumerate([(0.0001, 0.3), (0.0001, 0.5), (0.001, 0.3), (0.001, 0.5)], 1):
        mean = 0.70 + 0.02 * point
        points.append([point, rate, dropout, 2, mean, 0.01, mean - 0.09, mean + 0.09, "completed"])
        for seed in (1337, 1338):
            run = completed_run(folder / "trials", class_name="cat")
            named = run.path.with_name(f"2026-01-02_04-0{point}-{seed - 1300}_lr-dropout-p{point}-s{seed}")
            run.path.rename(named)
            status = "pruned" if (point, seed) == (1, 1338) else "completed"  # stopped on its first seed
            meta = json.loads((named / "meta.json").read_text()) | {"status": status}
            (named / "meta.json").write_text(json.dumps(meta))
            write_page(type(run)(named))
            trials.append([len(trials), point, rate, dropout, seed, status, mean, 3, 4, 50.0, "vm",
                           str(named)])
    for name, header, rows in (
            ("points.csv", ["point", "train.learning_rate", "model.dropout", "n", "mean", "std", "ci95_low",
                            "ci95_high", "status"], points),
            ("trials.csv", ["trial", "point", "train.learning_rate", "model.dropout", "seed", "status",
                            "val_accuracy", "best_epoch", "epochs", "seconds", "host", "run"], trials)):
        with open(folder / name, "w", newline="") as handle:
            csv.writer(handle).writerows([header, *rows])
    write_sweep_plots(folder)  # as sweeps/outputs.py writes a finished sweep's files
    write_sweep_page(folder)
    return folder


@pytest.fixture(scope="module")
def pages(tmp_path_factory):
    """A runs folder with a run, a sweep, a demo page and the index, every page written."""
    runs = tmp_path_factory.mktemp("pages") / "runs"
    runs.mkdir()
    run = completed_run(runs)
    write_page(run)
    mixup = mixed_run(runs.parent / "elsewhere", "  mixup: 0.2\n")
    mixup.path.rename(runs / "2026-01-02_05-00-00_mixup")
    mixup = type(mixup)(runs / "2026-01-02_05-00-00_mixup")
    write_page(mixup)
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
    return {"run": run.path / "report.html", "mixup": mixup.path / "report.html", "sweep": sweep / "report.html",
            "demo": demo,
            "index": write_index(runs), "trial": trials[0] / "report.html", "root": runs}


def screenshots(tmp_path: Path) -> Path:
    """Where screenshots go: $CONVCLI_SCREENSHOTS to look at them, else the test's folder."""
    folder = Path(os.environ.get("CONVCLI_SCREENSHOTS") or tmp_path)
    folder.mkdir(parents=True, exist_ok=True)
    return folder


# What a reader does before the page is checked: the index's sweep trials, unfolded.
ACTIONS = {"index": "document.querySelectorAll('details').forEach(d => d.open = true)"}


@pytest.mark.parametrize("size", SIZES)
@pytest.mark.parametrize("page", ["run", "mixup", "trial", "sweep", "demo", "index"])
def test_page_reads_well_in_a_real_browser(browser, pages, page, size, tmp_path):
    width, height, mobile = SIZES[size]
    report = browser.open(pages[page], width, height, mobile, screenshots(tmp_path) / f"{page}-{width}.png",
                          action=ACTIONS.get(page, ""))
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
    assert "lr-dropout (8/8 trials)" in text
    # every trial under its sweep's row, folded away, linking to its page
    trials = text.split('<tr class="trials">', 1)[1].split("</details>", 1)[0]
    assert trials.startswith("<td colspan=\"7\"><details><summary>trials of sweep 2026-01-02_04-00-00_lr-dropout "
                             "(7 completed, 1 pruned)</summary>")
    for run in sorted((pages["sweep"].parent / "trials").iterdir()):
        assert (f'href="sweeps/2026-01-02_04-00-00_lr-dropout/trials/{run.name}/report.html" title="{run.name}">'
                f'{run.name[20:]}</a>') in trials  # named without the date the started column shows
    assert 'data-filter="stage"' in text and 'data-filter="status"' in text
    assert "val_loss 0.5200" in text and "87.5%" in text  # the monitored metric, test accuracy
    assert json.dumps("x")  # the page holds no data an index reader would need to parse


VISIBLE = """JSON.stringify({
  rows: [...document.querySelectorAll('tr[data-stage]')].filter(r => r.checkVisibility())
          .map(r => r.querySelector('a').textContent),
  counts: [document.getElementById('shown').textContent, document.getElementById('shown-trials').textContent]})"""


def choose(menu: str, value: str) -> str:
    """A script choosing `value` in a filter menu, as a reader does; then what is visible."""
    return (f"(() => {{ const m = document.querySelector('select[data-filter=\"{menu}\"]'); m.value = '{value}';"
            f" m.dispatchEvent(new Event('change')); return {VISIBLE}; }})()")


def test_the_index_filters_runs_sweeps_and_trials_in_a_real_browser(browser, pages):
    def visible(action):
        return json.loads(browser.open(pages["index"], 390, 844, True, action=action)["action"])

    folded = visible(VISIBLE)
    assert folded["rows"] == ["2026-01-02_03-04-05_scratch", "2026-01-02_05-00-00_mixup",
                              "2026-01-02_04-00-00_lr-dropout (8/8 trials)"]  # the trials folded away
    assert folded["counts"] == ["3", "8"]
    pruned = visible(choose("status", "pruned"))  # only the pruned trial: its sweep unfolds to show it
    assert pruned == {"rows": ["lr-dropout-p1-s1338"], "counts": ["0", "1"]}
    scratch = visible(choose("stage", "scratch"))  # the trials trained the scratch stage too
    assert scratch["rows"][0] == "2026-01-02_03-04-05_scratch" and len(scratch["rows"]) == 1 + 8
    assert visible(choose("stage", "sweep"))["rows"] == ["2026-01-02_04-00-00_lr-dropout (8/8 trials)"]
