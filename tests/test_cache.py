"""`convcli cache` lists the cache folder; `cache prune` never removes what a process uses."""

import json
import os
import subprocess
import sys
import time

import pytest

from conftest import invoke
from test_feature_cache import counting_base, image_files

from convcli import cache
from convcli.data.features import cached_features

DAY = 86400


@pytest.fixture
def cache_root(tmp_path, monkeypatch):
    root = tmp_path / "cache"
    monkeypatch.setenv("CONVCLI_CACHE", str(root))
    return root


def age(path, days):
    """Make an entry (and everything in it) last used `days` ago."""
    stamp = time.time() - days * DAY
    for item in [path, *path.rglob("*")] if path.is_dir() else [path]:
        os.utime(item, (stamp, stamp))


def hold(entry):
    """A process that holds an entry's lock (as a run reading or writing it) until killed."""
    process = subprocess.Popen([sys.executable, "-c",
                                "import time; from pathlib import Path; from convcli import cache\n"
                                f"with cache.locked(Path({str(entry)!r}), exclusive=True):\n"
                                "    print('held', flush=True); time.sleep(60)"],
                               stdout=subprocess.PIPE, text=True)
    assert process.stdout.readline().strip() == "held"
    return process


def several_datasets(tmp_path, root):
    """Features of two datasets, a check record, and a killed writer's staging folder."""
    base = counting_base()
    for name in ("cats", "shapes"):
        files = image_files(tmp_path / name, 6)
        cached_features(root / "features", f"counting-{name}", base, files, (8, 8), 4,
                        about={"base": "counting", "image_size": [8, 8], "color_mode": "rgb"})
    (root / "checks").mkdir()
    (root / "checks" / "0123.json").write_text("{}")
    (root / "features" / ".counting-old.x1y2").mkdir()
    (root / "features" / ".counting-old.x1y2" / "train.npy").write_bytes(b"0" * 1000)


def test_cache_lists_every_entry_with_size_and_what_it_was_made_from(tmp_path, cache_root):
    several_datasets(tmp_path, cache_root)
    result = invoke("cache", "--json")
    assert result.exit_code == 0, result.output
    listed = {os.path.basename(e["path"]): e for e in json.loads(result.stdout)}
    assert set(listed) == {"counting-cats", "counting-shapes", "0123.json", ".counting-old.x1y2"}
    cats = listed["counting-cats"]
    assert cats["kind"] == "features" and cats["bytes"] > 10 * 192 * 4
    assert "counting 8x8" in cats["about"] and str(tmp_path / "cats") in cats["about"]
    assert listed[".counting-old.x1y2"]["unfinished"] and not cats["in_use"]

    table = invoke("cache")
    assert table.exit_code == 0 and "counting-shapes" in table.stdout
    assert max(len(line) for line in table.stdout.splitlines()) <= 80


def test_prune_removes_old_entries_but_never_one_in_use(tmp_path, cache_root):
    several_datasets(tmp_path, cache_root)
    features = cache_root / "features"
    for entry in (features / "counting-cats", features / "counting-shapes",
                  features / ".counting-old.x1y2"):
        age(entry, 40)
    writer = hold(features / "counting-shapes")
    try:
        result = invoke("cache", "prune", "--older-than", "7")
        assert result.exit_code == 0, result.output
        assert "removed 2 entries" in result.stdout and "1 in use kept" in result.stdout
        left = sorted(p.name for p in features.iterdir() if not p.name.endswith(".lock"))
        assert left == ["counting-shapes"] and (cache_root / "checks" / "0123.json").exists()
        listed = json.loads(invoke("cache", "--json").stdout)
        assert [e["in_use"] for e in listed if e["kind"] == "features"] == [True]

        assert invoke("cache", "prune", "--all").exit_code == 0
        assert (features / "counting-shapes").is_dir()  # still in use
    finally:
        writer.kill()
        writer.wait()
    assert invoke("cache", "prune", "--all").exit_code == 0
    assert cache.entries(cache_root) == []


def test_prune_alone_keeps_what_was_used_this_month(tmp_path, cache_root):
    several_datasets(tmp_path, cache_root)
    age(cache_root / "features" / "counting-cats", 31)
    assert "removed 1 entries" in invoke("cache", "prune").stdout
    assert not (cache_root / "features" / "counting-cats").exists()
    assert (cache_root / "features" / "counting-shapes").exists()
