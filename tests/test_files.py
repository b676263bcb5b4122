"""files.py: a file or a folder is in its place whole or not at all; JSON read forgivingly."""

import os
import stat

import pytest

from convcli.errors import RunError
from convcli.files import atomic_path, atomic_write_text, read_json, staged_folder


def test_atomic_path_keeps_the_old_file_when_writing_fails(tmp_path):
    target = tmp_path / "best.keras"
    target.write_text("previous")
    with pytest.raises(RuntimeError):
        with atomic_path(target) as temp:
            temp.write_text("half writ")
            raise RuntimeError("killed mid-write")
    assert target.read_text() == "previous"
    assert os.listdir(tmp_path) == ["best.keras"]  # no temporary left behind
    atomic_write_text(target, "new")
    assert target.read_text() == "new"


def test_staged_folder_appears_whole_or_not_at_all(tmp_path):
    target = tmp_path / "out" / "features"
    with pytest.raises(RuntimeError):
        with staged_folder(target) as staging:
            (staging / "train.npy").write_bytes(b"half")
            raise RuntimeError("killed mid-write")
    assert not target.exists() and os.listdir(tmp_path / "out") == []  # no staging left behind
    target.mkdir()  # an empty folder is replaced, as `data split DST` and `export --out` allow
    with staged_folder(target) as staging:
        (staging / "train.npy").write_bytes(b"whole")
    assert (target / "train.npy").read_bytes() == b"whole"
    assert os.listdir(tmp_path / "out") == ["features"]
    umask = os.umask(0)
    os.umask(umask)
    assert stat.S_IMODE(target.stat().st_mode) == 0o777 & ~umask  # not mkdtemp's 0700


def test_staged_folder_never_replaces_a_folder_that_holds_something(tmp_path):
    target = tmp_path / "split"
    (target / "train").mkdir(parents=True)
    with pytest.raises(OSError):
        with staged_folder(target) as staging:
            (staging / "split.csv").write_text("file,label\n")
    assert os.listdir(target) == ["train"] and os.listdir(tmp_path) == ["split"]


def test_a_file_in_the_way_of_a_folder_is_a_run_error(tmp_path):
    (tmp_path / "runs").write_text("")
    with pytest.raises(RunError, match="cannot create folder .*runs"):
        atomic_write_text(tmp_path / "runs" / "x" / "meta.json", "{}")


@pytest.mark.parametrize("text", [None, "", "{not json", "[1, 2]", "3"])
def test_read_json_is_an_empty_mapping_unless_the_file_holds_an_object(tmp_path, text):
    path = tmp_path / "summary.json"
    if text is not None:
        path.write_text(text)
    assert read_json(path) == {}
    path.write_text('{"epochs": 3}')
    assert read_json(path) == {"epochs": 3}
