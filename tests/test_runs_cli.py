"""convcli runs / runs show / runs compare: every folder shown, none hidden, nothing crashes."""

import json
import os
import subprocess
import sys

import pytest
import yaml

from conftest import assert_user_error, invoke, tiny_config


@pytest.fixture(scope="module")
def runs_dir(tmp_path_factory, tiny_data):
    """Two finished runs (learning rates differ), plus the folders a real runs/ collects."""
    root = tmp_path_factory.mktemp("runs-cli")
    runs = root / "runs"
    for name, rate in (("slow", 1e-4), ("fast", 1e-3)):
        config = root / f"{name}.yaml"
        config.write_text(yaml.safe_dump(tiny_config(tiny_data, train={"epochs": 2, "learning_rate": rate})))
        assert invoke("train", config, "--runs-dir", runs).exit_code == 0
    (runs / "2026-01-01_00-00-00_half").mkdir()  # killed between mkdir and meta.json
    (runs / "2026-01-01_00-00-00_half" / "config.yaml").write_text("stage: scratch\n")
    failed = runs / "2026-01-02_00-00-00_failed"
    failed.mkdir()
    (failed / "meta.json").write_text(json.dumps({"status": "failed", "stage": "scratch",
                                                  "reason": "TrainingError: the loss became nan"}))
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True).stdout.strip()
    killed = runs / "2026-01-03_00-00-00_killed"
    killed.mkdir()
    (killed / "meta.json").write_text(json.dumps({"status": "running", "stage": "augment",
                                                  "pid": int(dead), "host": os.uname().nodename}))
    (runs / "2026-01-04_00-00-00_garbled").mkdir()
    (runs / "2026-01-04_00-00-00_garbled" / "meta.json").write_text("{not json")
    (runs / "notes").mkdir()  # a foreign folder
    (runs / "README.txt").write_text("not a folder")
    return runs


def wide(*args):
    os.environ["COLUMNS"] = "160"  # rich reads it; the names are long
    try:
        return invoke(*args)
    finally:
        del os.environ["COLUMNS"]


def test_runs_lists_every_folder_with_its_state(runs_dir):
    result = wide("runs", "--runs-dir", runs_dir)
    assert result.exit_code == 0, result.output
    lines = {line.split()[0]: line for line in result.stdout.splitlines()
             if line.strip() and line.split()[0].startswith(("20", "notes"))}
    assert len(lines) == 7  # the stray file is not a folder; everything else is listed
    finished = [line for name, line in lines.items() if name.endswith(("_slow", "_fast"))]
    assert len(finished) == 2 and all("completed" in line and "%" in line for line in finished)
    expected = {"_half": "no meta.json", "_failed": "failed", "_killed": "killed",
                "_garbled": "bad meta.json", "notes": "not a run"}
    for suffix, status in expected.items():
        [line] = [line for name, line in lines.items() if name.endswith(suffix)]
        assert status in line


def test_runs_of_an_empty_or_missing_folder(tmp_path):
    result = invoke("runs", "--runs-dir", tmp_path / "none")
    assert result.exit_code == 0 and "0 folder(s)" in result.stdout


def test_show_finds_a_run_by_its_config_name_and_shows_config_results_files(runs_dir):
    result = wide("runs", "show", "slow", "--runs-dir", runs_dir)
    assert result.exit_code == 0, result.output
    for text in ("completed", "config.yaml", "learning_rate: 0.0001", "checkpoints/best.keras",
                 "metrics.csv", "test acc"):
        assert text in result.stdout
    failed = wide("runs", "show", "failed", "--runs-dir", runs_dir)
    assert failed.exit_code == 0 and "the loss became nan" in failed.stdout


def test_compare_shows_results_side_by_side_and_only_the_keys_that_differ(runs_dir):
    result = wide("runs", "compare", "slow", "fast", "--runs-dir", runs_dir)
    assert result.exit_code == 0, result.output
    assert "train.learning_rate" in result.stdout and "0.001" in result.stdout
    assert "train.epochs" not in result.stdout and "data.batch_size" not in result.stdout
    assert result.stdout.count("%") >= 6  # train, val and test accuracy of both


@pytest.mark.parametrize("args, expected", [
    (["runs", "show", "nothing"], "no run matches 'nothing'"),
    (["runs", "show", "2026-01-0"], "matches 4 runs"),
    (["runs", "compare", "slow", "nothing"], "no run matches 'nothing'"),
])
def test_bad_run_names_are_one_line(runs_dir, args, expected):
    assert_user_error(invoke(*args, "--runs-dir", runs_dir), expected)


def test_compare_with_a_half_written_run_shows_what_is_there(runs_dir):
    result = wide("runs", "compare", "slow", "half", "--runs-dir", runs_dir)
    assert result.exit_code == 0, result.output
    assert "no meta.json" in result.stdout and "stage" in result.stdout


def test_compare_needs_two_runs(runs_dir):
    assert invoke("runs", "compare", "slow", "--runs-dir", runs_dir).exit_code == 2


def test_every_run_has_its_page_and_show_html_writes_it_again(runs_dir):
    for run in runs_dir.glob("*_s*"):
        assert "<html" in (run / "report.html").read_text()[:200].lower()
    [slow] = runs_dir.glob("*_slow")
    (slow / "report.html").unlink()
    result = invoke("runs", "show", "slow", "--html", "--runs-dir", runs_dir)
    assert result.exit_code == 0 and result.stdout.strip() == str(slow / "report.html")
    assert 'aria-label="accuracy"' in (slow / "report.html").read_text()  # its curves, drawn


def test_runs_html_writes_an_index_of_every_run(runs_dir):
    result = invoke("runs", "--html", "--runs-dir", runs_dir)
    assert result.exit_code == 0 and result.stdout.strip() == str(runs_dir / "index.html")
    page = (runs_dir / "index.html").read_text()
    for run in runs_dir.glob("*_s*"):
        assert f'href="{run.name}/report.html"' in page
    assert '<meta name="viewport"' in page and 'data-filter="status"' in page


def test_runs_html_of_a_missing_folder_is_one_line(tmp_path):
    assert_user_error(invoke("runs", "--html", "--runs-dir", tmp_path / "nowhere"), "no runs folder")
