"""convcli demo --quick: the whole workflow, five runs, one table beside the book's figures."""

import json
import os

import pytest

from conftest import invoke


@pytest.mark.slow
def test_quick_demo_trains_every_stage_and_tabulates_them(tmp_path, builtin_base):
    os.environ["COLUMNS"] = "120"
    try:
        result = invoke("demo", "--quick", "--runs-dir", tmp_path / "runs")
    finally:
        del os.environ["COLUMNS"]
    assert result.exit_code == 0, result.output
    runs = sorted(p for p in (tmp_path / "runs").iterdir() if p.is_dir())  # not the demo page
    assert list((tmp_path / "runs").glob("demo_*.html"))  # the demo page beside them
    assert [run.name.split("_", 2)[2] for run in runs] == [
        "scratch", "augment", "extract", "extract-frozen", "finetune"]
    for run in runs:
        assert json.loads((run / "meta.json").read_text())["status"] == "completed"
        assert (run / "report.html").is_file() and (run / "gradcam" / "contact_sheet.png").is_file()
    assert json.loads((runs[0] / "summary.json").read_text())["epochs"] == 10  # the quick epochs
    table = result.stdout[result.stdout.index("the workflow on the built-in data"):]
    for stage, book in (("scratch", 71), ("augment", 82), ("extract (features)", 90),
                        ("extract (frozen)", 96), ("fine-tune", 97)):
        [line] = [line for line in table.splitlines() if line.strip().startswith(stage + " ")]
        assert line.count("%") == 3 and f"~{book}%" in line
    assert "the book's results on its own data" in table


def test_demo_with_seeds_shows_each_stage_over_seeds_and_each_gain(tmp_path, monkeypatch, builtin_base):
    """--seeds 2 runs each stage as a sweep of two seeds (the stand-in trainer stands in for
    `convcli train` here: the table and figure are what is tested, not training)."""
    import sys
    from pathlib import Path

    standin = Path(__file__).resolve().parents[1] / "benchmarks" / "standin_trainer.py"
    monkeypatch.setenv("CONVCLI_TRIAL_COMMAND", f"{sys.executable} {standin}")
    monkeypatch.setenv("STANDIN_EPOCH_SECONDS", "0")
    monkeypatch.setenv("COLUMNS", "80")
    result = invoke("demo", "--quick", "--seeds", "2", "--runs-dir", tmp_path / "runs")
    assert result.exit_code == 0, result.output
    assert len(list((tmp_path / "runs" / "sweeps").iterdir())) == 5
    start = result.output.index("the workflow on the built-in data, 2 seeds a stage")
    table = result.output[start:result.output.index("validation curves, mean ± std:")]
    assert "test gain (95% CI)" in table and "±" in table
    assert all(len(line) <= 80 for line in table.splitlines())
    (figure,) = (tmp_path / "runs").glob("demo-curves_*.png")
    assert figure.read_bytes().startswith(b"\x89PNG")
    # The demo's page: the same table and lessons, each stage's band, a link to each sweep.
    (page,) = (tmp_path / "runs").glob("demo_*.html")
    assert f"the demo's page: {page}" in result.output
    text = page.read_text()
    assert "test gain (95% CI)" in text and "the chapter's lessons, measured" in text
    assert "<polygon" in text  # the bands of ± one std
    for sweep in (tmp_path / "runs" / "sweeps").iterdir():
        assert f'href="sweeps/{sweep.name}/report.html"' in text


def test_a_gain_interval_is_welchs():
    from convcli.stats import difference

    # Welch by hand: se = sqrt(0.000633/3 + 0.0025/3) = 0.032318, df = 2.95, t = 3.21
    gain = difference([0.70, 0.75, 0.72], [0.80, 0.85, 0.90])
    assert gain.mean == pytest.approx(0.126667, abs=1e-6) and gain.std == pytest.approx(0.032318, abs=1e-6)
    assert (gain.low, gain.high) == (pytest.approx(0.02287, abs=1e-4), pytest.approx(0.23046, abs=1e-4))
    assert difference([0.7], [0.8]).low is None  # one seed: no interval
