"""runs.py: run directories are never reused, runs are found."""

import datetime as dt
import json

import pytest

from convcli.errors import RunError
from convcli.runs import create_run, find_run, list_runs

NOW = dt.datetime(2026, 1, 2, 3, 4, 5)


def test_same_second_same_name_gets_a_suffix(tmp_path):
    first = create_run(tmp_path, "scratch", NOW)
    second = create_run(tmp_path, "scratch", NOW)
    assert first.name == "2026-01-02_03-04-05_scratch"
    assert second.name == "2026-01-02_03-04-05_scratch-2"
    assert create_run(tmp_path, "a b/c", NOW).name == "2026-01-02_03-04-05_a-b-c"


def test_find_run_by_prefix_path_and_latest(tmp_path):
    a = create_run(tmp_path, "scratch", NOW)
    b = create_run(tmp_path, "augment", NOW + dt.timedelta(seconds=1))
    (tmp_path / "not-a-run").mkdir()
    assert [r.name for r in list_runs(tmp_path)] == [a.name, b.name]
    assert find_run(None, tmp_path) == b
    assert find_run("2026-01-02_03-04-05", tmp_path) == a
    assert find_run(str(a.path), tmp_path).path == a.path
    assert find_run("aug", tmp_path) == b  # the config's name, without the start time
    with pytest.raises(RunError, match="matches 2 runs"):
        find_run("2026-01-02", tmp_path)
    with pytest.raises(RunError, match="no run matches 'zzz'"):
        find_run("zzz", tmp_path)
    with pytest.raises(RunError, match="no runs in"):
        find_run(None, tmp_path / "empty")


def test_unwritable_runs_dir_is_a_clear_error(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("")
    with pytest.raises(RunError, match="cannot create a run in"):
        create_run(blocker / "runs", "x", NOW)


def test_meta_updates_merge(tmp_path):
    run = create_run(tmp_path, "x", NOW)
    run.update_meta(status="running", seed=1)
    run.update_meta(status="completed")
    assert json.loads(run.meta.read_text()) == {"schema_version": 1, "status": "completed", "seed": 1}
    assert (run.read_meta().status, run.read_meta().seed) == ("completed", 1)
