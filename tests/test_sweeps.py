"""Sweeps: the sweep file, its points, the statistics, and whole sweeps as a user runs them.

Most sweeps here run the stand-in trainer (benchmarks/standin_trainer.py: the same
arguments and run-directory files as `convcli train`, no TensorFlow) so that pruning,
Ctrl-C, kill -9 and two machines on one PostgreSQL study take seconds; one sweep trains
real models and checks that its trials are ordinary runs.
"""

from __future__ import annotations

import collections
import csv
import json
import math
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from tests.conftest import invoke, tiny_config

ROOT = Path(__file__).resolve().parents[1]
STANDIN = f"{sys.executable} {ROOT / 'benchmarks' / 'standin_trainer.py'}"
BASE = {"stage": "augment", "augment": {}, "train": {"epochs": 6, "learning_rate": 1e-3}}


def write_sweep(folder: Path, name: str = "lr", **fields) -> Path:
    content = {"base": BASE, "params": {"train.learning_rate": [1e-4, 1e-3, 1e-2],
                                        "model.dropout": [0.2, 0.5]}, "seeds": 2} | fields
    path = folder / f"{name}.yaml"
    path.write_text(yaml.safe_dump(content))
    return path


@pytest.fixture
def standin(monkeypatch, tmp_path):
    """Trials run the stand-in trainer; the test works in tmp_path."""
    monkeypatch.setenv("CONVCLI_TRIAL_COMMAND", STANDIN)
    monkeypatch.setenv("STANDIN_EPOCH_SECONDS", "0.02")
    monkeypatch.chdir(tmp_path)
    return tmp_path


def sweep_process(*args, epoch_seconds: float = 0.02, **kwargs) -> subprocess.Popen:
    """`convcli sweep ...` as its own process, SIGINT at its default (not a shell's `&`)."""
    env = dict(os.environ, CONVCLI_TRIAL_COMMAND=STANDIN, STANDIN_EPOCH_SECONDS=str(epoch_seconds))
    return subprocess.Popen([sys.executable, "-m", "convcli", "sweep", *map(str, args)], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, **kwargs)


def the_sweep(runs: Path = Path("runs")) -> Path:
    (folder,) = (runs / "sweeps").iterdir()
    return folder


def rows(path: Path) -> list[dict]:
    with open(path, newline="") as handle:
        return list(csv.DictReader(handle))


def completed_per_seed(folder: Path) -> collections.Counter:
    return collections.Counter((r["point"], r["seed"]) for r in rows(folder / "trials.csv")
                               if r["status"] == "completed")


def wait_for(condition, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.1)


# --- the sweep file ----------------------------------------------------------------------


def test_a_grid_is_every_combination_in_order(tmp_path):
    from convcli.sweeps.spec import load_sweep

    sweep = load_sweep(write_sweep(tmp_path, params={"train.learning_rate": [1e-4, 1e-3],
                                                     "model.dropout": [0.2, 0.5],
                                                     "train.epochs": {"int": [2, 4]}}))
    assert sweep.point_count == 12 and sweep.trial_count == 24
    assert sweep.points[0] == {"train.learning_rate": 1e-4, "model.dropout": 0.2, "train.epochs": 2}
    assert sweep.points[-1] == {"train.learning_rate": 1e-3, "model.dropout": 0.5, "train.epochs": 4}
    assert sweep.config_for(sweep.points[5], seed_index=2).seed == 1337 + 2


def test_random_points_are_drawn_within_bounds_and_again_the_same(tmp_path):
    from convcli.sweeps.spec import load_sweep

    path = write_sweep(tmp_path, search="random", samples=7,
                       params={"train.learning_rate": {"loguniform": [1e-5, 1e-2]},
                               "model.dropout": {"uniform": [0.1, 0.6]},
                               "model.dense_units": {"choice": [16, 32]}})
    first, again = load_sweep(path).points, load_sweep(path).points
    assert first == again and len(first) == 7
    assert all(1e-5 <= p["train.learning_rate"] <= 1e-2 and 0.1 <= p["model.dropout"] <= 0.6
               and p["model.dense_units"] in (16, 32) for p in first)
    assert len({p["train.learning_rate"] for p in first}) == 7


def test_set_overrides_the_base_and_changes_the_fingerprint(tmp_path):
    from convcli.sweeps.spec import load_sweep

    path = write_sweep(tmp_path)
    plain, changed = load_sweep(path), load_sweep(path, ["train.epochs=3"])
    assert changed.base["train"]["epochs"] == 3 and changed.max_epochs == 3
    assert plain.fingerprint() != changed.fingerprint()
    assert plain.fingerprint() == load_sweep(path).fingerprint()


def test_the_mode_follows_the_metric(tmp_path):
    from convcli.sweeps.spec import load_sweep

    assert load_sweep(write_sweep(tmp_path, metric="val_loss")).spec.mode == "min"
    assert load_sweep(write_sweep(tmp_path, metric="test_accuracy")).spec.mode == "max"


# --- statistics --------------------------------------------------------------------------


def test_mean_std_and_interval_match_numbers_computed_by_hand():
    from convcli.stats import summarize, t_quantile

    # t(0.975) from printed tables, for 1, 2, 4, 9 and 30 degrees of freedom
    for df, table in [(1, 12.706), (2, 4.303), (4, 2.776), (9, 2.262), (30, 2.042)]:
        assert t_quantile(0.975, df) == pytest.approx(table, abs=5e-4)
    s = summarize([0.80, 0.90, 0.85])
    assert s.n == 3 and s.mean == pytest.approx(0.85) and s.std == pytest.approx(0.05)
    half = 4.302653 * 0.05 / math.sqrt(3)  # 0.124207
    assert (s.low, s.high) == (pytest.approx(0.85 - half, abs=1e-6), pytest.approx(0.85 + half, abs=1e-6))
    one = summarize([0.7])
    assert (one.n, one.mean, one.std, one.low) == (1, 0.7, None, None)
    assert summarize([]).mean is None


# --- devices -----------------------------------------------------------------------------


def test_each_worker_gets_its_own_gpu_or_a_share_of_the_cpu():
    from convcli.sweeps.runner import slot_environments, visible_gpus

    listing = "GPU 0: A100 (UUID: GPU-1)\nGPU 1: A100 (UUID: GPU-2)\n"
    assert visible_gpus({}, probe=lambda: listing) == ["0", "1"]
    assert visible_gpus({"CUDA_VISIBLE_DEVICES": "2,3"}, probe=lambda: listing) == ["2", "3"]
    assert visible_gpus({"CUDA_VISIBLE_DEVICES": ""}, probe=lambda: listing) == []
    assert visible_gpus({}, probe=lambda: "") == []
    assert [e["CUDA_VISIBLE_DEVICES"] for e in slot_environments(3, ["2", "3"], 8)] == ["2", "3", "2"]
    assert slot_environments(1, [], 2) == [{}]
    shares = slot_environments(2, [], 8)
    assert [e["TF_NUM_INTRAOP_THREADS"] for e in shares] == ["4", "4"]


# --- whole sweeps ------------------------------------------------------------------------


def test_one_at_a_time_is_the_base_then_each_value_alone(tmp_path):
    from convcli.sweeps.spec import load_sweep

    sweep = load_sweep(write_sweep(tmp_path, search="one-at-a-time", params={
        "train.learning_rate": [1e-3, 1e-2], "augment.mixup": [0.2], "train.schedule": ["constant"]}))
    base = {"train.learning_rate": 1e-3, "augment.mixup": None, "train.schedule": "constant"}
    # in the file's order of keys (write_sweep's YAML sorts them); schedule: the base's value
    assert sweep.points == [base, base | {"augment.mixup": 0.2}, base | {"train.learning_rate": 1e-2}]
    assert sweep.config_for(sweep.points[1]).augment.mixup == 0.2


def test_a_one_at_a_time_sweep_trains_and_records_each_ingredient(standin):
    path = write_sweep(standin, name="ingredients", search="one-at-a-time", seeds=1, params={
        "augment.randaugment": [{"num_ops": 1}], "train.label_smoothing": [0.1]})
    result = invoke("sweep", path)
    assert result.exit_code == 0, result.output
    points = rows(the_sweep() / "points.csv")
    assert [(p["augment.randaugment"], p["train.label_smoothing"]) for p in points] == [
        ("", "0.0"), ('{"num_ops": 1}', "0.0"), ("", "0.1")]
    assert {p["status"] for p in points} == {"completed"}
    from convcli.config import load_config

    trials = rows(the_sweep() / "trials.csv")
    configs = [load_config(Path(t["run"]) / "config.yaml") for t in sorted(trials, key=lambda t: int(t["point"]))]
    assert [c.augment.randaugment and c.augment.randaugment.num_ops for c in configs] == [None, 1, None]
    # the points table names each point's one change from the base
    shown = " ".join(result.output.split())
    assert "the base" in shown and "randaugment {num_ops 1}" in shown
    assert "label_smoothing 0.1" in shown


def test_a_grid_sweep_writes_every_record_and_its_numbers_hold(standin):
    result = invoke("sweep", write_sweep(standin), "--workers", "2")
    assert result.exit_code == 0, result.output
    assert "6 point(s) x 2 seed(s) = 12 trials of up to 6 epochs (72 epochs in all)" in \
        " ".join(result.output.split())  # the plan line wraps at the terminal's width
    folder = the_sweep()
    for name in ("sweep.yaml", "base.yaml", "study.db", "trials.csv", "points.csv", "best.yaml",
                 "report.html", "plots/learning_rate.png", "plots/dropout.png", "plots/curves.png"):
        assert (folder / name).is_file(), name
    assert (folder / "plots" / "curves.png").read_bytes().startswith(b"\x89PNG")
    trials, points = rows(folder / "trials.csv"), rows(folder / "points.csv")
    assert len(trials) == 12 and {t["status"] for t in trials} == {"completed"}
    assert len(list((folder / "trials").iterdir())) == 12
    assert all(Path(t["run"], "meta.json").is_file() and t["host"] for t in trials)
    # each point: mean and std of its seeds' values, as trials.csv lists them
    for point in points:
        values = [float(t["val_accuracy"]) for t in trials if t["point"] == point["point"]]
        mean = sum(values) / 2
        assert float(point["mean"]) == pytest.approx(mean)
        assert float(point["std"]) == pytest.approx(math.sqrt(sum((v - mean) ** 2 for v in values)))
        assert point["n"] == "2" and point["status"] == "completed"
    best = max(points, key=lambda p: float(p["mean"]))
    from convcli.config import load_config

    cfg = load_config(folder / "best.yaml")
    assert cfg.train.learning_rate == float(best["train.learning_rate"])
    assert cfg.model.dropout == float(best["model.dropout"]) and cfg.seed == 1337
    assert f"{best['point']} *" in result.output
    page = (folder / "report.html").read_text()
    assert '<meta name="viewport"' in page and "every trial&#x27;s val_accuracy" in page
    assert f"Best point: {best['point']} (" in page and page.count("<tr>") >= 12 + 6  # trials, points


def test_on_cpu_the_next_trial_starts_while_the_last_one_wraps_up(standin, monkeypatch):
    """One worker: trial 2's start-up overlaps trial 1's wrap-up (after its last epoch)."""
    events = standin / "events.txt"
    monkeypatch.setenv("STANDIN_EVENTS", str(events))
    monkeypatch.setenv("STANDIN_WRAP_UP_SECONDS", "3")
    path = write_sweep(standin, params={"train.learning_rate": [1e-3, 3e-4]}, seeds=1)
    assert invoke("sweep", path, "--workers", "1").exit_code == 0
    times = {(what, name.split("-")[1]): float(t) for what, name, t in  # name: lr-p1-s1337
             (line.split() for line in events.read_text().splitlines())}
    assert times[("start", "p2")] < times[("end", "p1")] - 1, times  # not after it
    assert times[("start", "p2")] > times[("start", "p1")] + 0.5, times  # not beside it


def test_a_gpu_slot_waits_for_its_trial_to_end():
    """Two processes on one GPU could both claim its memory: no overlap there."""
    from types import SimpleNamespace

    from convcli.sweeps.runner import Running, Sweeper

    wrapping = Running(0, trial=None, attrs={}, epochs=2)
    wrapping.process = SimpleNamespace(stop_reason=None, rows=[{"epoch": 1}, {"epoch": 2}])
    cpu = SimpleNamespace(running=[wrapping], slots=[{}])
    gpu = SimpleNamespace(running=[wrapping], slots=[{"CUDA_VISIBLE_DEVICES": "0"}])
    assert Sweeper._free_slots(cpu) == [0] and Sweeper._free_slots(gpu) == []
    wrapping.process.rows.pop()  # still training its last epoch: busy either way
    assert Sweeper._free_slots(cpu) == [] and Sweeper._free_slots(gpu) == []


def test_a_finished_sweep_is_shown_not_rerun_and_new_starts_another(standin):
    path = write_sweep(standin, params={"train.learning_rate": [1e-3]}, seeds=1)
    assert invoke("sweep", path).exit_code == 0
    again = invoke("sweep", path)
    assert again.exit_code == 0 and "finished earlier" in again.output
    assert len(list(the_sweep().glob("trials/*"))) == 1
    assert invoke("sweep", path, "--new").exit_code == 0
    assert len(list(Path("runs/sweeps").iterdir())) == 2


def test_a_changed_sweep_file_does_not_continue_the_earlier_sweep(standin):
    path = write_sweep(standin, params={"train.learning_rate": [1e-3]}, seeds=1)
    assert invoke("sweep", path).exit_code == 0
    result = invoke("sweep", path, "--set", "train.epochs=2")
    assert result.exit_code == 1
    assert "was made from a different sweep file (or --set)" in result.stderr and "--new" in result.stderr


def test_pruning_stops_hopeless_points_on_their_first_seed(standin):
    path = write_sweep(standin, params={"train.learning_rate": [1e-3, 3e-4, 1e-4, 3e-5, 1e-5, 3e-6]},
                       seeds=3, pruning={"method": "successive_halving", "grace_epochs": 2,
                                                     "reduction_factor": 3},
                       base=BASE | {"train": {"epochs": 20, "learning_rate": 1e-3}})
    result = invoke("sweep", path, "--workers", "1")
    assert result.exit_code == 0, result.output
    folder = the_sweep()
    points = {p["point"]: p for p in rows(folder / "points.csv")}
    trials = rows(folder / "trials.csv")
    pruned = [t for t in trials if t["status"] == "pruned"]
    assert pruned, "nothing was pruned"
    for trial in pruned:
        assert trial["seed"] == "1337" and points[trial["point"]]["status"] == "pruned"
        assert len([t for t in trials if t["point"] == trial["point"]]) == 1  # no other seeds
        meta = json.loads(Path(trial["run"], "meta.json").read_text())
        assert meta["status"] == "pruned" and "successive halving" in meta["pruned"]["rule"]
        assert meta["pruned"]["epoch"] < 20
    assert points["1"]["status"] == "completed" and points["1"]["n"] == "3"
    assert sum(int(t["epochs"]) for t in trials) < 6 * 3 * 20 / 2  # at most half the full grid's


def test_a_first_seed_that_trained_every_epoch_is_not_pruned(standin, monkeypatch):
    """The last rung falls on the last epoch: a trial still wrapping up there has done its
    training, so it completes (and its point's other seeds run) instead of being stopped."""
    monkeypatch.setenv("STANDIN_WRAP_UP_SECONDS", "1")  # the sweep sees the last row first
    path = write_sweep(standin, params={"train.learning_rate": [1e-3, 1e-4, 1e-5]}, seeds=2,
                       pruning={"method": "successive_halving", "grace_epochs": 4,
                                "reduction_factor": 3},
                       base=BASE | {"train": {"epochs": 4, "learning_rate": 1e-3}})
    result = invoke("sweep", path, "--workers", "1")
    assert result.exit_code == 0, result.output
    trials = rows(the_sweep() / "trials.csv")
    assert [t for t in trials if t["status"] != "completed"] == []
    assert [p["n"] for p in rows(the_sweep() / "points.csv")] == ["2", "2", "2"]


def test_a_failing_trial_is_recorded_and_the_sweep_goes_on(standin):
    path = write_sweep(standin, params={"train.learning_rate": [1.0, 1e-3]}, seeds=1)
    result = invoke("sweep", path)
    assert result.exit_code == 0, result.output
    trials = {t["point"]: t for t in rows(the_sweep() / "trials.csv")}
    assert trials["1"]["status"] == "failed" and trials["2"]["status"] == "completed"
    assert "the loss became nan" in result.output
    assert [p["status"] for p in rows(the_sweep() / "points.csv")] == ["failed", "completed"]


def test_tpe_draws_its_points_as_it_goes_and_never_the_seed(standin):
    path = write_sweep(standin, search="tpe", samples=4, seeds=2,
                       params={"train.learning_rate": {"loguniform": [1e-4, 1e-2]}})
    assert invoke("sweep", path, "--workers", "2").exit_code == 0
    trials = rows(the_sweep() / "trials.csv")
    assert len(trials) == 8 and completed_per_seed(the_sweep()) == {k: 1 for k in completed_per_seed(the_sweep())}
    by_point = collections.defaultdict(set)
    for trial in trials:
        by_point[trial["point"]].add(trial["train.learning_rate"])
    assert len(by_point) == 4 and all(len(values) == 1 for values in by_point.values())


SMALL = {"params": {"train.learning_rate": [1e-4, 1e-3, 1e-2]}}  # 3 points x 2 seeds


def test_ctrl_c_stops_every_trial_and_a_rerun_finishes_the_sweep(tmp_path):
    path = write_sweep(tmp_path, **SMALL)
    process = sweep_process(path, "--workers", "2", cwd=tmp_path, epoch_seconds=0.3)
    wait_for(lambda: len(list(tmp_path.glob("runs/sweeps/*/trials/*/metrics.csv"))) >= 2)
    time.sleep(0.5)
    process.send_signal(signal.SIGINT)
    out, err = process.communicate(timeout=60)
    assert process.returncode == 130, (out, err)
    assert err.strip().splitlines()[-1].startswith("interrupted: sweep ")
    assert "continue it with: convcli sweep" in err
    folder = the_sweep(tmp_path / "runs")
    statuses = [json.loads(p.read_text())["status"] for p in folder.glob("trials/*/meta.json")]
    assert "interrupted" in statuses and "running" not in statuses
    again = sweep_process(path, cwd=tmp_path)
    out, err = again.communicate(timeout=120)
    assert again.returncode == 0, err
    assert completed_per_seed(folder) == {key: 1 for key in completed_per_seed(folder)}
    assert len(completed_per_seed(folder)) == 6


def test_kill_9_of_the_sweep_then_a_rerun_loses_nothing_and_trains_nothing_twice(tmp_path):
    path = write_sweep(tmp_path, **SMALL)
    process = sweep_process(path, "--workers", "2", cwd=tmp_path, epoch_seconds=0.3)
    wait_for(lambda: len(list(tmp_path.glob("runs/sweeps/*/trials/*/metrics.csv"))) >= 3)
    time.sleep(0.5)
    process.kill()
    process.communicate()
    folder = the_sweep(tmp_path / "runs")
    # its trials die with it (no orphan keeps training)
    wait_for(lambda: all(json.loads(p.read_text()).get("pid") is None
                         or not _alive(json.loads(p.read_text())["pid"])
                         for p in folder.glob("trials/*/meta.json")), timeout=20)
    again = sweep_process(path, cwd=tmp_path)
    out, err = again.communicate(timeout=120)
    assert again.returncode == 0, err
    assert "left running by a killed sweep: continuing them" in out
    counts = completed_per_seed(folder)
    assert len(counts) == 6 and set(counts.values()) == {1}
    resumed = [json.loads(p.read_text()) for p in folder.glob("trials/*/meta.json")]
    assert all(meta["status"] in ("completed", "interrupted", "running") for meta in resumed)


def _alive(pid: int) -> bool:
    from convcli.runs import process_alive

    return process_alive(pid)


def test_two_sweep_processes_share_one_postgresql_study(tmp_path, postgres_url):
    path = write_sweep(tmp_path, **SMALL)
    one = sweep_process(path, "--storage", postgres_url, "--study", "shared", "--runs-dir", "a",
                        cwd=tmp_path, epoch_seconds=0.1)
    two = sweep_process(path, "--storage", postgres_url, "--study", "shared", "--runs-dir", "b",
                        cwd=tmp_path, epoch_seconds=0.1)
    for process in (one, two):
        out, err = process.communicate(timeout=180)
        assert process.returncode == 0, err
    trials = rows(the_sweep(tmp_path / "a") / "trials.csv")
    assert rows(the_sweep(tmp_path / "b") / "trials.csv") == trials  # the same study, both ends
    counts = collections.Counter((t["point"], t["seed"]) for t in trials if t["status"] == "completed")
    assert len(counts) == 6 and set(counts.values()) == {1}  # every point its 2 seeds, none twice
    made = {Path(t["run"]).parts[len(tmp_path.parts)] for t in trials}
    assert made == {"a", "b"}, "both processes should have trained"
    assert all(t["host"] and Path(t["run"]).is_dir() for t in trials)
    status = invoke("sweep", path, "--status", "--storage", postgres_url, "--study", "shared")
    assert status.exit_code == 0 and "6 completed" in status.output


def test_runs_lists_a_sweep_as_one_row_and_shows_its_points(standin):
    assert invoke("sweep", write_sweep(standin, seeds=1, **SMALL)).exit_code == 0
    listing = invoke("runs")
    assert listing.exit_code == 0
    assert "0 folder(s) in runs" in listing.output  # trials are not strangers among the runs
    assert "1 sweep(s)" in listing.output and "3/3" in listing.output
    shown = invoke("runs", "show", "lr")
    assert shown.exit_code == 0 and "learning_rate" in shown.output and "completed" in shown.output


def test_real_trials_are_ordinary_runs(tmp_path, tiny_data, monkeypatch):
    """Two real trainings: every run-directory file, and the commands that read runs."""
    monkeypatch.chdir(tmp_path)
    base = tiny_config(tiny_data, train={"epochs": 2, "learning_rate": 1e-3})
    base["explain"] = {"gradcam_images": 1}
    path = tmp_path / "real.yaml"
    path.write_text(yaml.safe_dump({"base": base, "params": {"train.learning_rate": [1e-3, 3e-3]}}))
    result = invoke("sweep", path)
    assert result.exit_code == 0, result.output
    folder = the_sweep()
    runs = sorted((folder / "trials").iterdir())
    assert len(runs) == 2
    for run in runs:
        for name in ("config.yaml", "meta.json", "metrics.csv", "summary.json", "model.txt",
                     "checkpoints/best.keras", "curves.png", "report.html"):
            assert (run / name).exists(), (run, name)
    assert invoke("runs", "show", runs[0]).exit_code == 0
    assert invoke("evaluate", runs[0]).exit_code == 0
    image = next((tiny_data / "validation").rglob("*.jpg"))
    assert invoke("predict", image, "--run", runs[0]).exit_code == 0
    page = (folder / "report.html").read_text()
    assert os.path.relpath(runs[0] / "report.html", folder) in page


def test_a_study_whose_creator_died_while_enqueuing_is_completed(standin):
    """kill -9 between creating the study and marking it ready: the next sweep finishes
    the queue (what is there is not enqueued twice) and trains every trial once."""
    from convcli.sweeps import study as ledger
    from convcli.sweeps.spec import load_sweep

    path = write_sweep(standin, **SMALL)
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True).stdout.strip()
    storage = f"sqlite:///{standin / 'shared.db'}"
    study = ledger.optuna().create_study(storage=ledger.open_storage(storage), study_name="s",
                                         direction="maximize")
    study.set_user_attr("creator", {"host": ledger.this_host(), "pid": int(dead)})
    study.enqueue_trial({"train.learning_rate": 1e-4}, user_attrs={"point": 1, "seed_index": 0})
    assert load_sweep(path).trial_count == 6
    result = invoke("sweep", path, "--storage", storage, "--study", "s")
    assert result.exit_code == 0, result.output
    counts = completed_per_seed(the_sweep())
    assert len(counts) == 6 and set(counts.values()) == {1}


def test_a_trial_claimed_by_a_worker_that_died_at_once_is_trained(standin, monkeypatch):
    """A trial taken from the queue whose worker died before saying who it is (no host, no
    pid) is failed and queued again once it is CLAIM_GRACE old."""
    from convcli.sweeps import study as ledger
    from convcli.sweeps.spec import load_sweep

    monkeypatch.setattr(ledger, "CLAIM_GRACE", 0.0)
    path = write_sweep(standin, **SMALL)
    storage = f"sqlite:///{standin / 'shared.db'}"
    study, _ = ledger.open_study(ledger.open_storage(storage), "s", load_sweep(path))
    assert ledger.claim(study) is not None  # ... and its worker dies here
    result = invoke("sweep", path, "--storage", storage, "--study", "s")
    assert result.exit_code == 0, result.output
    assert "1 trial(s) left running by a killed sweep" in result.output
    counts = completed_per_seed(the_sweep())
    assert len(counts) == 6 and set(counts.values()) == {1}
