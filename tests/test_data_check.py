"""convcli data check and the pre-training scan: each problem is found, named and cached."""

from __future__ import annotations

import io
import json
import os
import shutil
import struct
import warnings
from itertools import count
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from convcli.files import cache_dir
from convcli.data import check, folders, image_check
from convcli.errors import DataError
from convcli.tables import as_text, check_tables

_seeds = count()


def image_bytes(format: str = "JPEG", size: tuple[int, int] = (16, 16), mode: str = "RGB") -> bytes:
    """A small image of random pixels, never the same twice (so no accidental duplicates)."""
    pixels = np.random.default_rng(next(_seeds)).integers(0, 256, (size[1], size[0], 3), dtype=np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(pixels).convert(mode).save(buffer, format=format)
    return buffer.getvalue()


def write(path: Path, data: bytes) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path


def huge_png(side: int) -> bytes:
    """A side x side 1-bit PNG: tiny on disk (11 KB at 9500), huge once decoded."""
    buffer = io.BytesIO()
    Image.new("1", (side, side)).save(buffer, format="PNG")
    return buffer.getvalue()


def rle8_bmp() -> bytes:
    """An 8x4 BMP compressed with RLE8, which Pillow cannot write: built by hand."""
    colours = ((255, 0, 0), (0, 255, 0), (0, 0, 255), (9, 9, 9))
    palette = b"".join(bytes([b, g, r, 0]) for r, g, b in colours)
    # Per row: two runs of 4 pixels, then end of line; end of bitmap after the last row.
    pixels = b"".join(bytes([4, y, 4, (y + 1) % 4, 0, 0]) for y in range(4)) + bytes([0, 1])
    offset = 14 + 40 + len(palette)
    info = struct.pack("<IiiHHIIiiII", 40, 8, 4, 1, 8, 1, len(pixels), 2835, 2835, 4, 0)
    return b"BM" + struct.pack("<IHHI", offset + len(pixels), 0, 0, offset) + info + palette + pixels


def animated_gif_cut_short() -> bytes:
    """Three frames, the file cut in its last one: the first frame is whole."""
    frames = [Image.fromarray(np.random.default_rng(seed).integers(0, 256, (32, 32, 3), dtype=np.uint8))
              for seed in range(3)]
    buffer = io.BytesIO()
    frames[0].save(buffer, format="GIF", save_all=True, append_images=frames[1:])
    return buffer.getvalue()[: int(len(buffer.getvalue()) * 0.9)]


FILES = {  # name -> (bytes, expected kind or None, severity)
    "good.jpg": (lambda: image_bytes("JPEG"), None, None),
    "good.png": (lambda: image_bytes("PNG"), None, None),
    "good.bmp": (lambda: image_bytes("BMP"), None, None),
    "good.gif": (lambda: image_bytes("GIF"), None, None),
    "cmyk.jpg": (lambda: image_bytes("JPEG", mode="CMYK"), None, None),
    "empty.jpg": (lambda: b"", "empty", "error"),
    "half.jpg": (lambda: image_bytes("JPEG", (64, 64))[:700], "truncated", "error"),
    "no_end_marker.jpg": (lambda: image_bytes("JPEG", (64, 64))[:-2], "truncated", "error"),
    "half.png": (lambda: image_bytes("PNG", (64, 64))[:6000], "truncated", "error"),
    "random.jpg": (lambda: np.random.default_rng(1).bytes(3000), "corrupt", "error"),
    "rle.bmp": (rle8_bmp, "corrupt", "error"),
    "tiff.jpg": (lambda: image_bytes("TIFF"), "wrong_extension", "error"),
    "webp.jpg": (lambda: image_bytes("WEBP"), "wrong_extension", "warning"),  # TF 2.21 decodes WEBP
    "png.jpg": (lambda: image_bytes("PNG"), "wrong_extension", "warning"),
    "jpeg.png": (lambda: image_bytes("JPEG"), "wrong_extension", "warning"),
    "cut.gif": (animated_gif_cut_short, "truncated", "warning"),
    "big.png": (lambda: huge_png(9500), "too_large", "error"),  # over Pillow's warning limit
    "bomb.png": (lambda: huge_png(14000), "too_large", "error"),  # over its error limit
}


@pytest.mark.parametrize("name", FILES)
def test_inspect_file_names_the_problem(tmp_path, monkeypatch, name):
    make, kind, severity = FILES[name]
    path = write(tmp_path / name, make())
    if kind == "too_large":  # checked from the header: never decoded
        monkeypatch.setattr(image_check, "_decode_error", lambda data: pytest.fail("decoded a bomb"))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", Image.DecompressionBombWarning)
        problem = image_check.inspect_file(path)
    if kind is None:
        assert problem is None
        return
    assert (problem.kind, problem.severity, problem.path) == (kind, severity, str(path)), problem
    assert problem.detail


def test_inspect_file_details_say_what_to_do(tmp_path):
    assert "rename it to .png" in image_check.inspect_file(write(tmp_path / "a.jpg", image_bytes("PNG"))).detail
    webp = image_check.inspect_file(write(tmp_path / "b.jpg", image_bytes("WEBP")))
    assert "convert it to PNG or JPEG" in webp.detail
    assert "Pillow can" in image_check.inspect_file(write(tmp_path / "c.bmp", rle8_bmp())).detail
    assert "0 bytes" in image_check.inspect_file(write(tmp_path / "d.jpg", b"")).detail


@pytest.mark.filterwarnings("ignore::UserWarning")  # Pillow on damaged EXIF data
def test_inspect_file_never_raises_on_damaged_bytes(tmp_path):
    rng = np.random.default_rng(0)
    for index, format in enumerate(("JPEG", "PNG", "GIF", "BMP", "WEBP", "TIFF")):
        data = image_bytes(format, (24, 24))
        for cut in (1, 8, 30, len(data) // 3):
            result = image_check.inspect_file(write(tmp_path / f"{index}-{cut}.jpg", data[:cut]))
            assert result is not None and result.severity == "error", (format, cut, result)
        # Only the last byte missing: a GIF's trailer, whose pixels are all there, is a warning.
        last = image_check.inspect_file(write(tmp_path / f"{index}-last.jpg", data[:-1]))
        assert (last.kind, last.severity) == ("truncated", "warning") if format == "GIF" else \
            last.severity == "error", (format, last)
        for flip in range(10):
            damaged = bytearray(data)
            for position in rng.integers(0, len(data), 8):
                damaged[position] ^= 0xFF
            result = image_check.inspect_file(write(tmp_path / f"{index}-flip{flip}.jpg", bytes(damaged)))
            assert result is None or isinstance(result, image_check.Problem)


def test_inspect_file_reports_an_unreadable_file(tmp_path):
    assert image_check.inspect_file(tmp_path / "gone.jpg").kind == "corrupt"


@pytest.fixture
def dataset(tmp_path) -> Path:
    """A dataset root with one of every problem `check_dataset` finds (imbalance aside)."""
    root = tmp_path / "data"
    cats, dogs = root / "train" / "cats", root / "train" / "dogs"
    for index in range(4):
        write(cats / f"{index}.jpg", image_bytes())
    for index in range(11):  # as many images as cats lists, so no imbalance
        write(dogs / f"{index}.jpg", image_bytes())
    write(cats / "empty.jpg", b"")
    write(cats / "truncated.jpg", image_bytes("JPEG", (64, 64))[:700])
    write(cats / "random.jpg", np.random.default_rng(1).bytes(3000))
    write(cats / "webp_named.jpg", image_bytes("WEBP"))
    write(cats / "png_named.jpg", image_bytes("PNG"))
    write(cats / "big.png", huge_png(9500))
    shutil.copy(cats / "2.jpg", cats / "dup.jpg")
    write(cats / "notes.txt", b"cats")
    write(cats / "photo.webp", image_bytes("WEBP"))
    write(cats / "sub" / "readme.txt", b"nested")
    write(cats / "._a.jpg", b"\0\5\26\7 AppleDouble")
    write(cats / ".hidden.jpg", image_bytes())
    (root / "train" / "birds").mkdir()
    for name in ("cats", "dogs"):
        for index in range(2):
            write(root / "validation" / name / f"{index}.jpg", image_bytes())
    shutil.copy(cats / "0.jpg", root / "validation" / "cats" / "leak.jpg")
    shutil.copy(cats / "1.jpg", root / "validation" / "dogs" / "cross.jpg")
    write(root / "test" / "cats" / "0.jpg", image_bytes())
    return root


def found(report: check.Report) -> set[tuple[str, str, str]]:
    root = Path(report.directory)
    return {(p.kind, Path(p.path).relative_to(root).as_posix(), p.severity) for p in report.problems}


def test_check_dataset_finds_every_problem(dataset):
    report = check.check_dataset(dataset)
    assert found(report) == {
        ("empty_class", "train/birds", "error"),
        ("class_mismatch", "validation", "error"),
        ("class_mismatch", "test", "error"),
        ("single_class", "test", "error"),
        ("leakage", "validation/cats/leak.jpg", "error"),
        ("leakage", "validation/dogs/cross.jpg", "error"),
        ("empty", "train/cats/empty.jpg", "error"),
        ("truncated", "train/cats/truncated.jpg", "error"),
        ("corrupt", "train/cats/random.jpg", "error"),
        ("too_large", "train/cats/big.png", "error"),
        ("wrong_extension", "train/cats/webp_named.jpg", "warning"),
        ("wrong_extension", "train/cats/png_named.jpg", "warning"),
        ("duplicate", "train/cats/dup.jpg", "warning"),
        ("unsupported", "train/cats/notes.txt", "warning"),
        ("unsupported", "train/cats/photo.webp", "warning"),
        ("unsupported", "train/cats/sub/readme.txt", "warning"),
        ("appledouble", "train/cats/._a.jpg", "warning"),
        ("hidden", "train/cats/.hidden.jpg", "warning"),
    }
    assert not report.ok
    assert report.splits == {"train": {"birds": 0, "cats": 11, "dogs": 11},
                             "validation": {"cats": 3, "dogs": 3}, "test": {"cats": 1}}
    assert report.files_checked == 11 + 11 + 6 + 1


def test_check_dataset_details_name_the_other_file(dataset):
    problems = {Path(p.path).name: p for p in check.check_dataset(dataset).problems}
    assert str(dataset / "train" / "cats" / "0.jpg") in problems["leak.jpg"].detail
    assert "labelled cats there" in problems["cross.jpg"].detail
    assert (problems["cross.jpg"].split, problems["cross.jpg"].class_name) == ("validation", "dogs")
    assert str(dataset / "train" / "cats" / "2.jpg") in problems["dup.jpg"].detail
    assert "(missing birds)" in problems["validation"].detail


def test_check_dataset_sizes_and_json(dataset):
    report = check.check_dataset(dataset)
    assert report.sizes["width"] == {"min": 16, "median": 16, "max": 9500}
    assert report.sizes["height"]["max"] == 9500
    # Every image whose header reads: all but the empty and the random file.
    assert report.sizes["images"] == report.files_checked - 2
    assert report.sizes["smaller_than_32"] == report.sizes["images"] - 2  # big.png, truncated.jpg
    record = json.loads(json.dumps(report.as_dict()))
    assert record["ok"] is False and record["errors"] == 10 and record["warnings"] == 8
    assert record["problems"][0]["severity"] == "error" and record["problems"][-1]["severity"] == "warning"


def clean_split(folder: Path, counts: dict[str, int]) -> Path:
    for name, number in counts.items():
        for index in range(number):
            write(folder / name / f"{index}.png", image_bytes("PNG"))
    return folder


def test_a_clean_folder_of_class_folders_is_one_split(tmp_path):
    report = check.check_dataset(clean_split(tmp_path / "pets", {"cats": 3, "dogs": 3}))
    assert report.ok and report.problems == []
    assert report.splits == {"pets": {"cats": 3, "dogs": 3}}
    assert report.sizes == {"images": 6, "width": {"min": 16, "median": 16, "max": 16},
                            "height": {"min": 16, "median": 16, "max": 16}, "smaller_than_32": 6}


def test_val_is_a_split_name(tmp_path):
    clean_split(tmp_path / "train", {"a": 2, "b": 2})
    clean_split(tmp_path / "val", {"a": 2, "b": 2})
    assert list(check.check_dataset(tmp_path).splits) == ["train", "val"]


@pytest.mark.parametrize("counts, severity", [({"a": 3, "b": 2}, None), ({"a": 6, "b": 3}, "warning"),
                                              ({"a": 10, "b": 1}, "error")])
def test_imbalance(tmp_path, counts, severity):
    report = check.check_dataset(clean_split(tmp_path / "train", counts))
    problems = [p for p in report.problems if p.kind == "imbalance"]
    assert [p.severity for p in problems] == ([severity] if severity else [])
    assert all("train.class_weight: balanced" in p.detail for p in problems)  # the option to use
    if severity == "error":
        assert "always answering a scores 91% accuracy" in problems[0].detail
        assert problems[0].path == str(tmp_path / "train") and not report.ok


def test_a_single_class_folder(tmp_path):
    report = check.check_dataset(clean_split(tmp_path / "train", {"cats": 2}))
    assert [(p.kind, p.severity) for p in report.problems] == [("single_class", "error")]


@pytest.mark.parametrize("make, expected", [
    (lambda root: root / "nowhere", "does not exist"),
    (lambda root: write(root / "file.jpg", b""), "is not a directory"),
    (lambda root: write(root / "loose.jpg", image_bytes()).parent, "has no class folders"),
    (lambda root: (root / ".git").mkdir() or root, "has no class folders"),
])
def test_no_dataset_is_one_clear_error(tmp_path, make, expected):
    with pytest.raises(DataError, match=expected):
        check.check_dataset(make(tmp_path))


def files_of(root: Path) -> folders.Files:
    class_names, train = folders.scan(root / "train", "train_dir")
    _, validation = folders.scan(root / "validation", "validation_dir")
    return folders.Files(class_names, train, validation, None)


def test_scan_files_returns_the_errors_training_would_hit(tmp_path):
    root = tmp_path / "data"
    clean_split(root / "train", {"cats": 2, "dogs": 2})
    clean_split(root / "validation", {"cats": 2, "dogs": 2})
    write(root / "train" / "dogs" / "cut.jpg", image_bytes("JPEG", (64, 64))[:700])
    write(root / "validation" / "cats" / "renamed.jpg", image_bytes("PNG"))  # a warning: not returned
    problems = check.scan_files(files_of(root))
    assert [(p.kind, p.path, p.split, p.class_name) for p in problems] == [
        ("truncated", str(root / "train" / "dogs" / "cut.jpg"), "train", "dogs")]


def test_scan_files_is_cached_until_a_file_changes(tmp_path, monkeypatch):
    root = tmp_path / "data"
    clean_split(root / "train", {"cats": 2, "dogs": 2})
    clean_split(root / "validation", {"cats": 2, "dogs": 2})
    write(root / "train" / "cats" / "empty.jpg", b"")
    files = files_of(root)
    first = check.scan_files(files)
    assert [p.kind for p in first] == ["empty"]
    assert (cache_dir() / "checks" / f"{files.fingerprint()}.json").exists()

    inspected = []
    monkeypatch.setattr(check, "inspect_file", lambda path: inspected.append(path))
    assert check.scan_files(files) == first and inspected == []  # stats only, no decode

    touched = root / "train" / "dogs" / "0.png"
    os.utime(touched, ns=(touched.stat().st_atime_ns, touched.stat().st_mtime_ns + 10**9))
    assert check.scan_files(files) == [] and len(inspected) == len(files.train) + len(files.validation)


def test_scan_files_rescans_when_the_cache_does_not_read(tmp_path):
    root = tmp_path / "data"
    clean_split(root / "train", {"cats": 2, "dogs": 2})
    clean_split(root / "validation", {"cats": 2, "dogs": 2})
    write(root / "train" / "cats" / "empty.jpg", b"")
    files = files_of(root)
    write(cache_dir() / "checks" / f"{files.fingerprint()}.json", b"{not json")
    assert [p.kind for p in check.scan_files(files)] == ["empty"]


def test_check_tables_show_counts_problems_sizes_and_verdict(dataset):
    text = as_text(check_tables(check.check_dataset(dataset), limit=5), width=200)
    assert "data check" in text and "validation" in text and "birds" in text
    assert "empty_class" in text and "train/birds" in text
    assert "and 13 more" in text
    assert "9,500" in text and "smaller than 32 px on a side" in text
    assert "29 images checked in 3 split(s): 10 error(s), 8 warning(s)" in text


def test_check_tables_on_a_clean_dataset(tmp_path):
    text = as_text(check_tables(check.check_dataset(clean_split(tmp_path / "pets", {"a": 2, "b": 2}))))
    assert "severity" not in text and "ready to train, no problems found" in text


# --- the command and the scan before training -----------------------------------------


def test_data_check_command_exit_codes_and_json(tmp_path, tiny_data):
    from tests.conftest import invoke

    clean = invoke("data", "check", tiny_data)
    assert clean.exit_code == 0 and "ready to train" in clean.stdout
    broken = tmp_path / "broken"
    shutil.copytree(tiny_data, broken)
    write(broken / "validation" / "star4" / "cut.jpg", image_bytes("JPEG", (64, 64))[:700])
    report = invoke("data", "check", broken, "--json")
    assert report.exit_code == 1
    assert report.stderr.strip() == f"error: {broken}: 1 problem(s) would break or mislead training (truncated)"
    found = json.loads(report.stdout)
    assert found["ok"] is False and found["errors"] == 1
    assert found["problems"][0]["kind"] == "truncated" and found["problems"][0]["split"] == "validation"
    table = invoke("data", "check", broken)
    assert table.exit_code == 1 and "truncated" in table.stdout and "Traceback" not in table.output
    assert_error = invoke("data", "check", tmp_path / "nowhere")
    assert assert_error.exit_code == 1 and "does not exist" in assert_error.stderr


def test_training_refuses_a_bad_image_in_each_split_or_skips_them(tmp_path, tiny_data, write_config):
    from tests.conftest import assert_user_error, invoke, tiny_config

    data = tmp_path / "data"
    shutil.copytree(tiny_data, data)
    bad = [write(data / "train" / "star4" / "cut.jpg", image_bytes("JPEG", (64, 64))[:700]),
           write(data / "validation" / "star6" / "empty.png", b""),
           write(data / "test" / "star4" / "noise.jpg", np.random.default_rng(3).bytes(2000))]
    config = write_config(tiny_config(data, train={"epochs": 1}))
    runs = tmp_path / "runs"

    refused = invoke("train", config, "--runs-dir", runs)
    assert_user_error(refused, "3 image file(s) cannot be decoded: ")
    assert "data.on_bad_file: skip" in refused.stderr and str(bad[0]) in refused.stderr
    assert not runs.exists()  # refused before any run directory

    skipped = invoke("train", config, "--runs-dir", runs, "--set", "data.on_bad_file=skip")
    assert skipped.exit_code == 0, skipped.output
    assert "warning: leaving out 3 image file(s) that cannot be decoded" in skipped.stderr
    [run] = runs.iterdir()
    meta = json.loads((run / "meta.json").read_text())
    assert meta["dataset"]["counts"] == {"train": 24, "validation": 24, "test": 24}
    assert sorted(meta["dataset"]["left_out"]) == sorted(
        f"{path} ({kind})" for path, kind in zip(bad, ["truncated", "empty", "corrupt"]))


def test_a_file_larger_than_the_limit_is_refused_unread(tmp_path, monkeypatch):
    path = tmp_path / "huge.jpg"
    with open(path, "wb") as handle:  # sparse: no disk space used
        handle.truncate(image_check.MAX_FILE_BYTES + 1)
    monkeypatch.setattr(type(path), "read_bytes", lambda self: pytest.fail("read a huge file"))
    problem = image_check.inspect_file(path)
    assert (problem.kind, problem.severity) == ("too_large", "error")
    assert f"{image_check.MAX_FILE_BYTES + 1:,} bytes" in problem.detail


def test_a_long_scan_shows_its_progress_and_keeps_the_order(tmp_path, monkeypatch):
    from convcli.data import check

    monkeypatch.setattr(check, "PROGRESS_FROM", 5)
    monkeypatch.setattr(check, "PROGRESS_CHUNK", 2)
    bar = tmp_path / "stderr"
    found = check.with_progress(str.upper, list("abcdefg"), "checking images", open(bar, "w"))
    assert found == list("ABCDEFG")
    assert "checking images" in bar.read_text()
    with open(tmp_path / "short", "w") as quiet:
        assert check.with_progress(str.upper, list("abc"), "checking images", quiet) == list("ABC")
    assert (tmp_path / "short").read_text() == ""  # below PROGRESS_FROM: no bar
