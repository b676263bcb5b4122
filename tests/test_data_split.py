"""convcli data split: flat folders, class folders and CSV labels into train/validation/test."""

import csv
import errno
import os
import re
import shutil

import numpy as np
import pytest
from PIL import Image

from conftest import invoke

BOOK = ["--per-class", "2000", "--validation", "0.25", "--test", "0.25"]


def noise_images(folder, names, seed=0, side=8):
    """Tiny JPEGs of random pixels: every file a different image (no leakage to report)."""
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    for name in names:
        Image.fromarray(rng.integers(0, 256, (side, side, 3), dtype=np.uint8)).save(folder / name)


@pytest.fixture(scope="module")
def kaggle(tmp_path_factory):
    """The book's download, in miniature: one flat folder of cat.N.jpg and dog.N.jpg."""
    folder = tmp_path_factory.mktemp("kaggle") / "train"
    noise_images(folder, [f"{kind}.{i}.jpg" for kind in ("cat", "dog") for i in range(2100)])
    return folder


def rows(destination):
    with open(destination / "split.csv", newline="") as handle:
        return list(csv.DictReader(handle))


def test_the_books_subset_from_a_flat_folder(kaggle, tmp_path, monkeypatch):
    monkeypatch.setenv("COLUMNS", "80")
    destination = tmp_path / "cats_and_dogs_small"
    result = invoke("data", "split", kaggle, destination, *BOOK)
    assert result.exit_code == 0, result.output
    for split, count in (("train", 1000), ("validation", 500), ("test", 500)):
        for kind in ("cat", "dog"):
            files = list((destination / split / kind).iterdir())
            assert len(files) == count, (split, kind)
            assert all(f.name.startswith(f"{kind}.") for f in files)  # labelled by the name
    written = rows(destination)
    assert len(written) == 4000 and len({row["source"] for row in written}) == 4000  # no image twice
    first = written[0]
    assert os.path.samefile(destination / first["file"], first["source"])  # a hard link
    assert re.search(r"│ cat +│ +1,000 │ +500 │ +500 │", result.stdout), result.stdout
    assert "ready to train" in result.stdout
    assert "4,000 hard links, 0 copies" in result.stdout
    assert max(len(line) for line in result.stdout.splitlines() if "│" in line) <= 80  # the tables


def test_same_seed_same_split_other_seed_other_split(kaggle, tmp_path):
    def split(name, seed):
        result = invoke("data", "split", kaggle, tmp_path / name, "--per-class", "50", "--seed", seed)
        assert result.exit_code == 0, result.output
        return [(row["file"], row["split"]) for row in rows(tmp_path / name)]

    first, again, other = split("a", "7"), split("b", "7"), split("c", "8")
    assert first == again
    assert first != other
    counts = {name: sum(1 for _, split in first if split == name) for name in ("train", "validation", "test")}
    assert counts == {"train": 60, "validation": 20, "test": 20}  # 50 per class: 30/10/10


def test_labels_from_a_csv_with_or_without_header(tmp_path):
    images = tmp_path / "pics"
    names = [f"img{i:02d}.png" for i in range(20)]
    noise_images(images, names)
    lines = [f"pics/{name},{'yes' if i % 2 else 'no'}" for i, name in enumerate(names)]
    for header in ("file,label\n", ""):
        labels = tmp_path / f"labels{len(header)}.csv"
        labels.write_text(header + "\n".join(lines) + "\n")
        destination = tmp_path / f"out{len(header)}"  # beside the CSV: it reads no folder
        # SRC the folder and --csv FILE, or SRC the CSV itself
        args = [images, destination, "--csv", labels] if header else [labels, destination]
        result = invoke("data", "split", *args, "--test", "0")
        assert result.exit_code == 0, result.output
        assert "labels from csv" in result.stdout
        assert sorted(p.name for p in destination.iterdir()) == ["split.csv", "train", "validation"]
        written = rows(destination)
        assert len(written) == 20 and {row["split"] for row in written} == {"train", "validation"}
        for row in written:  # odd images are yes, even ones no
            assert (int(row["source"].split("img")[1][:2]) % 2 == 1) == (row["label"] == "yes")


def test_a_csv_of_missing_files_is_read_no_further_than_the_limit(tmp_path):
    """A CSV costs no more than the images it names: after 1,000 files that do not exist
    the reader stops (row 1,002 is malformed and never read), and says so."""
    from convcli.data.labels import MAX_MISSING

    lines = [f"nowhere/{i}.jpg,cat" for i in range(MAX_MISSING + 1)] + ["nowhere/last.jpg,"]
    (tmp_path / "labels.csv").write_text("file,label\n" + "\n".join(lines) + "\n")
    result = invoke("data", "split", tmp_path / "labels.csv", tmp_path / "out")
    assert result.exit_code == 1
    assert "names more than 1,000 (read no further) file(s) that do not exist: nowhere/0.jpg" in result.stderr
    assert not (tmp_path / "out").exists()


def test_class_folders_copied(tmp_path, monkeypatch):
    monkeypatch.setenv("COLUMNS", "80")
    source = tmp_path / "animals"
    long_name = "western_honey_bee_" * 4 + "apis_mellifera"  # 86 characters
    noise_images(source / "ant", [f"{i}.png" for i in range(10)], seed=1)
    noise_images(source / long_name, [f"{i}.png" for i in range(10)], seed=2)
    result = invoke("data", "split", source, tmp_path / "out", "--copy")
    assert result.exit_code == 0, result.output
    assert "labels from folders; 0 hard links, 20 copies" in result.stdout
    table = [line for line in result.stdout.splitlines() if "│" in line]
    assert max(map(len, table)) <= 80 and "…" not in result.stdout  # the name folds, whole
    assert long_name in result.stdout.replace("\n", "")  # wider than 80: folded, every character kept
    copied = sorted((tmp_path / "out" / "train" / "ant").iterdir())[0]
    assert copied.stat().st_nlink == 1 and copied.read_bytes() == (source / "ant" / copied.name).read_bytes()


def test_links_fall_back_to_copies_across_filesystems(tmp_path, monkeypatch):
    from convcli.data.split import split_dataset

    source = tmp_path / "flat"
    noise_images(source, [f"{kind}_{i}.png" for kind in ("ant", "bee") for i in range(10)])

    def cross_device(src, dst, **kwargs):
        raise OSError(errno.EXDEV, "Invalid cross-device link")

    monkeypatch.setattr(os, "link", cross_device)
    result = split_dataset(source, tmp_path / "out")
    assert (result.linked, result.copied) == (0, 20)
    assert result.counts == {"train": {"ant": 6, "bee": 6}, "validation": {"ant": 2, "bee": 2},
                             "test": {"ant": 2, "bee": 2}}


def test_a_failure_midway_leaves_nothing(tmp_path, monkeypatch):
    from convcli.data.split import split_dataset

    source = tmp_path / "flat"
    noise_images(source, [f"{kind}_{i}.png" for kind in ("ant", "bee") for i in range(10)])
    calls = []

    def failing_copy(src, dst, **kwargs):
        calls.append(src)
        if len(calls) == 5:
            raise OSError(errno.EIO, "Input/output error")
        return shutil.copyfile(src, dst)

    monkeypatch.setattr(shutil, "copy2", failing_copy)
    with pytest.raises(OSError):
        split_dataset(source, tmp_path / "out", link=False)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["flat"]  # no DST, no temporary folder
