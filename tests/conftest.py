"""Shared fixtures: a private cache, tiny synthetic datasets, configs written on the fly."""

from __future__ import annotations

import os

import pytest
import yaml

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

# The longest tests, slowest first (minutes each on 2 cores). With `-n 2` (pytest-xdist,
# `--dist worksteal` from pyproject.toml) they open the two workers' queues alternately,
# so neither worker ends on a queue of long tests.
LONGEST = ("test_pretraining_from_scratch_matches_the_shipped_base",
           "test_scratch_overfits_and_augmentation_helps",
           "test_pretrained_features_beat_augmentation_over_three_seeds",
           "test_fine_tuning_the_pretrained_base_beats_the_same_model_from_random_weights",
           "test_the_wheel_runs_outside_the_checkout",
           "test_builtin_base_is_pretrained_once_and_rebuilt_when_corrupt",
           "test_quick_demo_trains_every_stage_and_tabulates_them")


def pytest_collection_modifyitems(config, items):
    """Under pytest-xdist's worksteal scheduling each worker starts on its half of the
    list: put LONGEST at the heads of the two halves, alternately."""
    if not getattr(config.option, "numprocesses", None):
        return
    rank = {name: i for i, name in enumerate(LONGEST)}
    longest = sorted((item for item in items if item.originalname in rank),
                     key=lambda item: rank[item.originalname])
    rest = [item for item in items if item.originalname not in rank]
    half = len(items) // 2 - len(longest[0::2])
    items[:] = longest[0::2] + rest[:half] + longest[1::2] + rest[half:]


@pytest.fixture(autouse=True, scope="session")
def _private_cache(tmp_path_factory):
    """Keep the built-in dataset the tests make out of the user's ~/.cache."""
    os.environ["CONVCLI_CACHE"] = str(tmp_path_factory.mktemp("cache"))


@pytest.fixture(scope="session")
def tiny_data(tmp_path_factory):
    """A two-class dataset of 32x32 images: 12 per class in each of train/validation/test."""
    from convcli.data.synthetic import generate

    return generate(tmp_path_factory.mktemp("data") / "shapes", per_class=12, image_size=32)


@pytest.fixture(scope="session")
def builtin_base():
    """Built-in base weights in the test cache, untrained, so no test pays for pretraining.

    The pretraining itself is tested on its own (test_transfer.py).
    """
    from convcli.models.pretrained import build_builtin_base
    from convcli.pretraining import weights_path

    path = weights_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    build_builtin_base().save_weights(path)
    return path


@pytest.fixture(scope="session")
def trained_run(tmp_path_factory, tiny_data):
    """One run trained by the CLI on tiny_data, for tests that only read it (copy it to
    change it); a few epochs at a high rate, so it predicts both classes."""
    root = tmp_path_factory.mktemp("trained")
    config = root / "tiny.yaml"
    config.write_text(yaml.safe_dump(tiny_config(tiny_data, train={"epochs": 6, "learning_rate": 1e-3})))
    result = invoke("train", config, "--runs-dir", root / "runs")
    assert result.exit_code == 0, result.output
    (path,) = (root / "runs").iterdir()
    return path


@pytest.fixture
def write_config(tmp_path):
    """write_config(dict or text, name) -> path of a YAML file in tmp_path."""

    def write(content, name="experiment.yaml"):
        path = tmp_path / name
        path.write_text(content if isinstance(content, str) else yaml.safe_dump(content))
        return path

    return write


def invoke(*args):
    """Run the CLI in-process; arguments may be paths."""
    from typer.testing import CliRunner

    from convcli.cli import app

    return CliRunner().invoke(app, [str(a) for a in args])


def assert_user_error(result, expected):
    """Exit 1, one red `error:` line on stderr naming the problem, no traceback."""
    assert result.exit_code == 1, result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and expected in lines[0], result.stderr
    assert "Traceback" not in result.output


def tiny_config(data_dir, stage="scratch", **sections):
    """A config that trains in seconds on `tiny_data`."""
    cfg = {
        "stage": stage,
        "seed": 7,
        "data": {"train_dir": str(data_dir / "train"), "validation_dir": str(data_dir / "validation"),
                 "test_dir": str(data_dir / "test"), "image_size": [32, 32], "batch_size": 8},
        "model": {"conv_filters": [8, 16], "dense_units": 16},
        "train": {"epochs": 2},
        "explain": {"gradcam_images": 0},
    }
    for key, value in sections.items():
        cfg[key] = {**cfg.get(key, {}), **value} if isinstance(value, dict) else value
    return cfg


@pytest.fixture(scope="session")
def postgres_url():
    """A real PostgreSQL server on 127.0.0.1, in a temporary directory, for this session.

    initdb refuses to run as root, so as root the server runs as the `postgres` user (or
    `nobody`). Without a server installed it skips, and fails in CI ($CI), where .ci/run
    installs one.
    """
    import glob
    import shutil
    import socket
    import subprocess

    found = shutil.which("initdb") or next(iter(sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))), None)
    if found is None:
        if os.environ.get("CI"):
            pytest.fail("no PostgreSQL server installed (initdb): .ci/run should have installed one")
        pytest.skip("no PostgreSQL server installed (initdb); .ci/run installs one")
    import tempfile
    from pathlib import Path

    bin_dir = os.path.dirname(os.path.realpath(found))
    # Not under pytest's own temporary folder: that is private to root, and the server's
    # user must reach its data directory.
    root = Path(tempfile.mkdtemp(prefix="convcli-postgres-"))
    data = root / "data"
    prefix = []
    if os.geteuid() == 0:
        import pwd

        user = next(name for name in ("postgres", "nobody") if _has_user(name))
        entry = pwd.getpwnam(user)
        os.chown(root, entry.pw_uid, entry.pw_gid)
        os.chmod(root, 0o700)
        prefix = ["runuser", "-u", user, "--"]
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    run = lambda *args: subprocess.run([*prefix, *args], check=True, capture_output=True, text=True)  # noqa: E731
    run(f"{bin_dir}/initdb", "-D", str(data), "-A", "trust", "-U", "convcli")
    options = f"-c listen_addresses=127.0.0.1 -p {port} -c unix_socket_directories={root} -c fsync=off"
    run(f"{bin_dir}/pg_ctl", "-D", str(data), "-o", options, "-l", str(root / "server.log"), "-w", "start")
    try:
        yield f"postgresql://convcli@127.0.0.1:{port}/postgres"
    finally:
        run(f"{bin_dir}/pg_ctl", "-D", str(data), "-m", "immediate", "stop")
        shutil.rmtree(root, ignore_errors=True)


def _has_user(name: str) -> bool:
    import pwd

    try:
        pwd.getpwnam(name)
        return True
    except KeyError:
        return False
