"""The built wheel runs anywhere: installed into a fresh virtual environment, away from the
checkout, `convcli demo --quick` and `convcli train scratch` work from its package data.

The new environment gets the wheel without dependencies, and a .pth file that puts this
interpreter's site-packages (TensorFlow, Keras, ...) after its own: installing them again
would download hundreds of MB. A .pth line that is a plain path does not run the .pth
files in that folder, so an editable convcli installed there stays out of the way; the
test checks that the convcli which runs is the wheel's.
"""

from __future__ import annotations

import json
import os
import shutil
import site
import subprocess
import sys
import time
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
LEFT_OUT = shutil.ignore_patterns(".git", ".venv*", "runs", "build", "dist", "*.egg-info",
                                  "__pycache__", ".pytest_cache")


def build_wheel(tmp: Path) -> Path:
    """The wheel, built from a copy of the checkout (a build writes build/ and egg-info)."""
    source = tmp / "source"
    shutil.copytree(ROOT, source, symlinks=True, ignore=LEFT_OUT)
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation",
                    "--quiet", "--wheel-dir", tmp / "dist", source], check=True)
    (wheel,) = (tmp / "dist").glob("convcli-*.whl")
    return wheel


def install(wheel: Path, venv: Path) -> Path:
    """A new virtual environment holding the wheel; its python."""
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", venv], check=True)
    python = venv / "bin" / "python"
    subprocess.run([sys.executable, "-m", "pip", "--python", python, "install", "--no-deps",
                    "--quiet", wheel], check=True)
    purelib = subprocess.run([python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                             check=True, capture_output=True, text=True).stdout.strip()
    Path(purelib, "dependencies.pth").write_text("\n".join(site.getsitepackages()) + "\n")
    return python


@pytest.mark.slow
def test_the_wheel_runs_outside_the_checkout(tmp_path):
    venv = tmp_path / "venv"
    python = install(build_wheel(tmp_path), venv)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    env = {key: value for key, value in os.environ.items() if key != "PYTHONPATH"}
    env["CONVCLI_CACHE"] = str(tmp_path / "cache")  # empty: the shipped base weights are used

    def convcli(*args: str) -> subprocess.CompletedProcess:
        began = time.perf_counter()
        done = subprocess.run([venv / "bin" / "convcli", *args], cwd=elsewhere, env=env,
                              capture_output=True, text=True)
        assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
        print(f"convcli {' '.join(args)}: {time.perf_counter() - began:.0f} s")  # shown by pytest -rP
        return done

    where = subprocess.run([python, "-c", "import convcli; print(convcli.__file__)"], cwd=elsewhere,
                           env=env, check=True, capture_output=True, text=True).stdout.strip()
    assert Path(where).is_relative_to(venv), where
    version = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"]
    assert convcli("--version").stdout == f"convcli {version}\n"
    assert "book/finetune" in convcli("configs").stdout

    demo = convcli("demo", "--quick")
    assert "fine-tune" in demo.stdout and "Grad-CAM of the fine-tuned model" in demo.stdout
    convcli("train", "scratch", "--set", "train.epochs=1")
    runs = sorted(p for p in (elsewhere / "runs").iterdir() if p.is_dir())  # not the demo page
    stages = [json.loads((run / "summary.json").read_text())["stage"] for run in runs]
    assert sorted(stages) == sorted(["scratch", "augment", "extract", "extract", "fine-tune", "scratch"])
    assert all(json.loads((run / "meta.json").read_text())["status"] == "completed" for run in runs)
    assert runs[-1].name.endswith("_scratch") and (runs[-1] / "checkpoints" / "best.keras").is_file()
    assert not (tmp_path / "cache").exists() or not any((tmp_path / "cache").rglob("builtin-*.weights.h5"))
