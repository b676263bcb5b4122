"""convcli/records/: run records are typed and versioned; runs written before versions still read.

tests/fixtures/run-v1/ holds two run directories written by convcli before records had a
`schema_version` (its README says how they were made). Every command that reads runs reads
them from a copy; reading never rewrites a record.
"""

import hashlib
import json
import re
import shutil
import zipfile
from pathlib import Path

import pytest
import yaml

from convcli.config import CONFIG_VERSION, load_config, to_yaml
from convcli.errors import ConfigError, RecordError
from convcli.records import CheckpointState, Meta, Summary, SweepRecord, upgrade
from convcli.runs import Run
from tests.conftest import assert_user_error, invoke

FIXTURE = Path(__file__).parent / "fixtures" / "run-v1"
DONE, KILLED = "2026-11-30_11-57-38_scratch", "2026-11-30_11-57-50_interrupted"


def digests(root: Path) -> dict:
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file()}


def copy_fixture(target: Path) -> Path:
    shutil.copytree(FIXTURE, target, ignore=shutil.ignore_patterns("README.md"))
    return target


@pytest.fixture(scope="module")
def old_runs(tmp_path_factory):
    """A copy of the fixture's runs directory, shared by the commands that only read it."""
    before = digests(FIXTURE)
    runs = copy_fixture(tmp_path_factory.mktemp("old") / "runs")
    records = {name: (runs / name / "meta.json").read_bytes() for name in (DONE, KILLED)}
    yield runs
    assert digests(FIXTURE) == before  # the fixture itself is never changed
    # nor are the copy's records: reading upgrades in memory only
    assert {name: (runs / name / "meta.json").read_bytes() for name in (DONE, KILLED)} == records


def test_version_1_records_read_as_the_current_version():
    meta = Meta.read(FIXTURE / DONE / "meta.json")
    assert "schema_version" not in json.loads((FIXTURE / DONE / "meta.json").read_text())
    assert (meta.schema_version, meta.status, meta.class_names) == (1, "completed", ["ellipse", "rectangle"])
    assert meta.dataset.counts == {"train": 200, "validation": 300, "test": 300}
    summary = Summary.read(FIXTURE / DONE / "summary.json")
    assert (summary.epochs, summary.best_epoch, summary.monitor) == (1, 1, "val_loss")
    assert summary.best.val_accuracy == pytest.approx(0.55) and summary.metric("test_accuracy") == 0.53
    assert summary.gradcam.pointing_game.score == 0.6
    with zipfile.ZipFile(FIXTURE / KILLED / "checkpoints" / "last.keras") as archive:
        state = CheckpointState.loads(archive.read("convcli/state.json"), "last.keras")
    assert (state.epoch, state.phase, state.best_epoch, state.monitor) == (1, "train", 1, "val_loss")
    cfg = load_config(FIXTURE / DONE / "config.yaml")  # no `version` key: this convcli's
    assert cfg.version == CONFIG_VERSION == 1


def test_a_newer_record_is_refused_in_one_line(tmp_path):
    path = tmp_path / "meta.json"
    path.write_text(json.dumps({"schema_version": 2, "status": "completed"}))
    with pytest.raises(RecordError) as error:
        Meta.read(path)
    assert str(error.value) == (f"{path} was written by a newer convcli (schema_version 2; this convcli "
                                "reads up to 1); upgrade convcli (pip install -U convcli) to read it")


@pytest.mark.parametrize("text, expected", [
    ('{"stage": "scr', "is not valid JSON at line 1: the file is damaged"),
    ("[1, 2]", "holds a list, not a summary.json record"),
    ('{"stage": "scratch", "epochs": "many"}', "is not a valid summary.json record: epochs: Input should be"),
    ('{"schema_version": "1", "stage": "scratch"}', "schema_version must be a whole number from 1"),
])
def test_a_damaged_record_is_one_line(tmp_path, text, expected):
    path = tmp_path / "summary.json"
    path.write_text(text)
    with pytest.raises(RecordError, match=None) as error:
        Summary.read(path)
    assert expected in str(error.value) and "\n" not in str(error.value)


def test_upgrades_run_in_order_from_the_version_found():
    """The machinery records and configs share: each step takes version n to n + 1."""
    steps = {1: lambda d: {**d, "steps": d.get("steps", []) + [1]}, 2: lambda d: {**d, "steps": d["steps"] + [2]}}
    assert upgrade({}, 3, steps, "x")["steps"] == [1, 2]  # no schema_version: version 1
    assert upgrade({"schema_version": 2, "steps": []}, 3, steps, "x")["steps"] == [2]
    assert upgrade({"schema_version": 3}, 3, steps, "x") == {"schema_version": 3}


def test_unknown_keys_survive_an_update_and_the_version_is_written(tmp_path):
    run = Run(tmp_path / "2026-01-01_00-00-00_x")
    run.path.mkdir()
    run.meta.write_text(json.dumps({"status": "running", "note": "a hand annotation"}))
    run.update_meta(status="completed")
    assert json.loads(run.meta.read_text()) == {"schema_version": 1, "status": "completed",
                                                "note": "a hand annotation"}


def test_sweep_yaml_reads_without_a_version_and_writes_one(tmp_path):
    path = tmp_path / "sweep.yaml"
    path.write_text("name: lr\nbase: ../augment.yaml\nparams:\n  train.learning_rate: [0.001]\n"
                    "storage: null\nstudy: lr\ntrials: 1\n")
    record = SweepRecord.read(path)
    assert (record.schema_version, record.study, record.trials) == (1, "lr", 1)
    assert record.spec == {"name": "lr", "base": "../augment.yaml", "params": {"train.learning_rate": [0.001]}}
    assert yaml.safe_load(record.to_yaml()) == {**yaml.safe_load(path.read_text()), "schema_version": 1}


def test_configs_carry_their_version(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("stage: scratch\nversion: 1\n")
    assert yaml.safe_load(to_yaml(load_config(path)))["version"] == 1
    path.write_text("stage: scratch\nversion: 2\n")
    with pytest.raises(ConfigError, match="c.yaml was written by a newer convcli .version 2; this convcli "
                                          "reads configs up to version 1."):
        load_config(path)


# --- every command that reads runs, on the old runs --------------------------------------


def test_runs_lists_and_shows_old_runs(old_runs):
    listing = invoke("runs", "--runs-dir", old_runs, "--json")
    assert listing.exit_code == 0, listing.output
    rows = {Path(row["path"]).name: row for row in json.loads(listing.stdout)["runs"]}
    assert rows[DONE]["status"] == "completed" and rows[DONE]["test_accuracy"] == 0.53
    assert rows[DONE]["val_accuracy"] == pytest.approx(0.55) and rows[KILLED]["epochs"] == 2  # metrics.csv rows
    table = invoke("runs", "--runs-dir", old_runs)
    assert table.exit_code == 0 and "55.0%" in table.stdout and "53.0%" in table.stdout, table.output
    show = invoke("runs", "show", "scratch", "--runs-dir", old_runs, "--json")
    assert show.exit_code == 0, show.output
    shown = json.loads(show.stdout)
    assert shown["meta"]["schema_version"] == 1 and shown["summary"]["best_epoch"] == 1
    text = invoke("runs", "show", "scratch", "--runs-dir", old_runs)
    assert text.exit_code == 0 and "55.0%" in text.stdout and "lowest val_loss" in text.stdout, text.output
    compare = invoke("runs", "compare", "scratch", "interrupted", "--runs-dir", old_runs)
    assert compare.exit_code == 0 and "train.epochs" in compare.stdout, compare.output
    page = invoke("runs", "show", "scratch", "--runs-dir", old_runs, "--html")
    assert page.exit_code == 0, page.output
    html = (old_runs / DONE / "report.html").read_text()
    assert "ellipse, rectangle" in html and "10,641 trainable parameters" in html


def old_task(tiny_data, root: Path) -> Path:
    """The fixture runs' classes (the built-in task of their day: ellipse, rectangle) as
    folders, from today's images: the built-in task has other classes now."""
    for split in ("train", "validation", "test"):
        for old, new in (("ellipse", "star4"), ("rectangle", "star6")):
            shutil.copytree(tiny_data / split / new, root / split / old)
    return root


def test_evaluate_predict_gradcam_summary_read_old_runs(old_runs, tiny_data, tmp_path):
    run = old_runs / DONE
    refused = invoke("evaluate", run)  # today's built-in task is not the one it trained on
    assert_user_error(refused, "but it trained on ['ellipse', 'rectangle']; restore its data "
                               "folders, or use --data DIR")
    evaluated = invoke("evaluate", run, "--data", old_task(tiny_data, tmp_path / "old") / "test")
    assert evaluated.exit_code == 0, evaluated.output
    assert re.search(r"loss \d+\.\d+, accuracy \d+\.\d\d% \(\d+ of 24 images\)", evaluated.stdout), evaluated.stdout
    image = sorted((tiny_data / "test" / "star4").glob("*.jpg"))[0]
    predicted = invoke("predict", image, "--run", run, "--json")
    assert predicted.exit_code == 0, predicted.output
    assert {p["class"] for p in json.loads(predicted.stdout)[0]["probabilities"]} == {"ellipse", "rectangle"}
    explained = invoke("gradcam", image, "--run", run, "--out", tmp_path / "cam")
    assert explained.exit_code == 0 and list((tmp_path / "cam").glob("*.png")), explained.output
    layers = invoke("summary", run)
    assert layers.exit_code == 0 and "conv2" in layers.stdout, layers.output


def test_export_reads_an_old_run(tiny_data, tmp_path):
    runs = copy_fixture(tmp_path / "runs")
    data = old_task(tiny_data, tmp_path / "old")
    config = runs / DONE / "config.yaml"  # its data as folders, as a user restores them
    raw = yaml.safe_load(config.read_text())
    raw["data"].update(train_dir=str(data / "train"), validation_dir=str(data / "validation"),
                       test_dir=str(data / "test"))
    config.write_text(yaml.safe_dump(raw))
    result = invoke("export", runs / DONE, "--out", tmp_path / "export")
    assert result.exit_code == 0, result.output
    record = json.loads((tmp_path / "export" / "export.json").read_text())
    assert record["class_names"] == ["ellipse", "rectangle"]


def test_an_old_killed_run_resumes_and_its_records_gain_a_version(tmp_path):
    runs = copy_fixture(tmp_path / "runs")
    run = runs / KILLED
    shutil.copy2(run / "config.yaml", tmp_path / "config.yaml")
    # --force: the built-in data was generated again in this test's cache, so its files'
    # times (part of the data fingerprint) differ from those the run recorded
    result = invoke("train", tmp_path / "config.yaml", "--resume", run, "--force")
    assert result.exit_code == 0, result.output
    meta = json.loads((run / "meta.json").read_text())
    assert (meta["schema_version"], meta["status"]) == (1, "completed")
    assert [r["from_epoch"] for r in meta["resumed"]] == [1] and meta["resumed"][0]["previous_status"] == "running"
    assert meta["command"][0].endswith("__main__.py")  # what the old run recorded is kept
    summary = json.loads((run / "summary.json").read_text())
    assert (summary["schema_version"], summary["epochs"]) == (1, 3)
    assert [line.split(",")[0] for line in (run / "metrics.csv").read_text().splitlines()[1:]] == ["1", "2", "3"]
    assert yaml.safe_load((run / "config.yaml").read_text())["version"] == 1
    with zipfile.ZipFile(run / "checkpoints" / "last.keras") as archive:
        assert json.loads(archive.read("convcli/state.json"))["schema_version"] == 1


def test_a_record_from_a_newer_convcli_is_one_line_for_every_reader(tmp_path):
    runs = copy_fixture(tmp_path / "runs")
    meta = runs / DONE / "meta.json"
    meta.write_text(json.dumps({**json.loads(meta.read_text()), "schema_version": 7}))
    for args in (["evaluate", runs / DONE], ["export", runs / DONE], ["runs", "show", runs / DONE, "--json"]):
        result = invoke(*args)
        if args[0] == "runs":  # a listing shows the run, as it shows a damaged one
            assert result.exit_code == 0 and json.loads(result.stdout)["status"] == "bad meta.json"
            continue
        assert_user_error(result, f"{meta} was written by a newer convcli (schema_version 7")
