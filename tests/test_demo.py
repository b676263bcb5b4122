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
    runs = sorted((tmp_path / "runs").iterdir())
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
