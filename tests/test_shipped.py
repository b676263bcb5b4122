"""The shipped configs as a user meets them: listed, run by name, copied out to edit; --version."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest
from typer.testing import CliRunner

from convcli.cli import app
from convcli.config import load_config
from convcli.errors import RunError
from convcli.sweeps.spec import load_sweep
from tests.conftest import invoke

ROOT = Path(__file__).resolve().parents[1]
NAMES = ["augment", "extract", "extract-frozen", "finetune", "scratch", "book/augment", "book/extract",
         "book/extract-frozen", "book/finetune", "book/scratch", "sweeps/lr", "sweeps/seeds"]


def test_version_is_the_package_version():
    result = invoke("--version")
    version = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"]
    assert result.exit_code == 0 and result.stdout == f"convcli {version}\n"


def test_the_clone_configs_folder_is_the_package_data():
    assert (ROOT / "configs").resolve() == (ROOT / "convcli" / "configs").resolve()
    assert (ROOT / "configs" / "sweeps" / "lr.yaml").is_file()


@pytest.mark.parametrize("columns", [80, 120])
def test_configs_lists_every_shipped_file_whole(columns):
    result = CliRunner().invoke(app, ["configs"], env={"COLUMNS": str(columns)})
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert max(map(len, lines)) <= columns and "…" not in result.stdout
    listed = [line.split()[0] for line in lines if line[2:3].strip() and line.split()[0] in NAMES]
    assert listed == NAMES
    assert "sweep of augment" in result.stdout and "fine-tune" in result.stdout
    assert "Stage 1 of the workflow" in result.stdout  # scratch.yaml's first comment line


@pytest.fixture
def started(monkeypatch):
    """`convcli train` up to the run: records the config it would train, then stops."""
    import convcli.experiment

    configs = []

    def stop(cfg, runs_dir):
        configs.append(cfg)
        raise RunError("stopped by the test")

    monkeypatch.setattr(convcli.experiment, "run_experiment", stop)
    return configs


@pytest.mark.parametrize("name, path", [("finetune", "finetune.yaml"), ("book/finetune", "book/finetune.yaml"),
                                        ("scratch.yaml", "scratch.yaml")])
def test_train_takes_a_shipped_name(started, tmp_path, monkeypatch, name, path):
    monkeypatch.chdir(tmp_path)  # no configs/ folder here
    result = invoke("train", name, "--set", "train.epochs=2")
    assert "stopped by the test" in result.stderr
    expected = load_config(ROOT / "convcli" / "configs" / path, ["train.epochs=2"])
    assert started == [expected]


def test_a_file_beats_a_shipped_name(started, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    Path("scratch").write_text("name: mine\nstage: scratch\ndata: {train_dir: builtin}\n")
    invoke("train", "scratch")
    assert [cfg.name for cfg in started] == ["mine"]


@pytest.mark.parametrize("name", ["lr", "sweeps/lr", "sweeps/lr.yaml"])
def test_sweep_takes_a_shipped_name(tmp_path, monkeypatch, name):
    monkeypatch.chdir(tmp_path)
    result = invoke("sweep", name, "--status")
    assert result.exit_code == 1 and "no sweep named lr in runs/sweeps" in result.stderr, result.output


def test_copy_a_config_writes_it_as_shipped(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    result = invoke("configs", "copy", "book/finetune", "mine/configs")
    assert result.exit_code == 0, result.output
    copy = tmp_path / "mine" / "configs" / "finetune.yaml"
    assert copy.read_bytes() == (ROOT / "configs" / "book" / "finetune.yaml").read_bytes()
    assert result.stdout == f"wrote {Path('mine/configs/finetune.yaml')}; run it with: convcli train " \
                            "mine/configs/finetune.yaml\n"
    assert [p.name for p in copy.parent.iterdir()] == ["finetune.yaml"]


def test_copy_a_sweep_brings_its_base_and_points_at_it(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert invoke("configs", "copy", "lr").exit_code == 0
    assert sorted(p.name for p in tmp_path.iterdir()) == ["augment.yaml", "lr.yaml"]
    assert "base: augment.yaml\n" in Path("lr.yaml").read_text()
    Path("augment.yaml").write_text(Path("augment.yaml").read_text().replace("seed: 1337", "seed: 7"))
    assert load_sweep("lr.yaml").config_for({}).seed == 7  # the copy's base, not the package's
    result = invoke("configs", "copy", "seeds")  # its base, scratch.yaml, is copied beside
    assert result.exit_code == 0 and load_sweep("seeds.yaml").config_for({}).stage == "scratch"


def test_copy_a_second_sweep_reuses_an_unchanged_base(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    invoke("configs", "copy", "augment")
    result = invoke("configs", "copy", "sweeps/lr")
    assert result.exit_code == 0 and result.stdout.startswith("wrote lr.yaml;"), result.output
