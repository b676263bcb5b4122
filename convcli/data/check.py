"""Dataset checks: every problem in a folder of images that would break or mislead training.

`scan_files` runs image_check.inspect_file over the files a run will read, in
parallel, once per set of files (cached by `Files.fingerprint`); `screen` leaves the bad
ones out or refuses them. `check_dataset` is `convcli data check`: the per-file problems plus the folders' (empty or single classes, classes that
differ between splits, imbalance, files copied between or within splits, files the
loader skips) and the images' sizes.
"""

from __future__ import annotations

import json
import os
import statistics
from dataclasses import asdict, dataclass, replace
from pathlib import Path

from convcli.data.folders import IMAGE_EXTENSIONS, Files, Split, class_folders, list_images
from convcli.data.image_check import (ERROR, WARNING, Examined, Problem, examine, in_parallel,
                                      inspect_file, problem)
from convcli.errors import DataError
from convcli.files import atomic_write_text, cache_dir
from convcli.tfenv import import_tensorflow

PROGRESS_FROM, PROGRESS_CHUNK = 1000, 256  # files: when a scan shows a bar, how often it moves
SMALL_SIDE = 32  # images smaller than this on a side are counted in the size statistics
SPLIT_NAMES = ("train", "validation", "val", "test")
SPLITS = ("train", "validation", "test")  # the splits of Files
# Pillow's modes without colour; every other mode (RGB, RGBA, CMYK, P, ...) counts as rgb.
GRAY_MODES = {"1", "L", "LA", "La", "I", "I;16", "I;16B", "I;16L", "I;16N", "F"}
KINDS = ("empty_class", "single_class", "class_mismatch", "leakage", "imbalance", "corrupt",
         "truncated", "empty", "wrong_extension", "too_large", "duplicate", "unsupported",
         "appledouble", "hidden")  # the order problems are listed in, within a severity


@dataclass
class Report:
    """What `check_dataset` found: classes and counts per split, problems, image sizes."""

    directory: str
    splits: dict[str, dict[str, int]]
    problems: list[Problem]
    sizes: dict
    files_checked: int
    modes: dict[str, dict[str, int]]  # split -> {"rgb": n, "grayscale": n}

    @property
    def ok(self) -> bool:
        return not any(problem.severity == ERROR for problem in self.problems)

    def as_dict(self) -> dict:
        severities = [problem.severity for problem in self.problems]
        return {"directory": self.directory, "ok": self.ok, "files_checked": self.files_checked,
                "errors": severities.count(ERROR), "warnings": severities.count(WARNING),
                "splits": self.splits, "sizes": self.sizes, "modes": self.modes,
                "problems": [asdict(problem) for problem in self.problems]}


# --- many files -------------------------------------------------------------------------


def scan_files(files: Files) -> list[Problem]:
    """The errors that would break training in exactly the files it reads; [] when none.

    Cached per `files.fingerprint()` (paths, sizes, modification times), so a second
    scan of unchanged files only stats them; the record names the TensorFlow version
    because what it decodes decides what an error is.
    """
    try:
        cache = cache_dir() / "checks" / f"{files.fingerprint()}.json"
    except OSError as error:
        raise DataError(f"{error.filename} cannot be read ({error.strerror}); "
                        "was it removed while convcli was listing the images?") from None
    decoder = import_tensorflow().__version__  # training imports it anyway
    cached = _read_cache(cache, decoder)
    if cached is not None:
        return cached
    owners = [(path, name, files.class_names[label]) for name in SPLITS if getattr(files, name)
              for path, label in zip(getattr(files, name).paths, getattr(files, name).labels)]
    found = with_progress(inspect_file, [path for path, _, _ in owners], "checking images")
    problems = [replace(problem, split=split, class_name=class_name)
                for problem, (_, split, class_name) in zip(found, owners)
                if problem is not None and problem.severity == ERROR]
    atomic_write_text(cache, json.dumps({"tensorflow": decoder,
                                         "problems": [asdict(problem) for problem in problems]}))
    return problems


def screen(files: Files, on_bad_file: str) -> Files:
    """The files training may read: with `data.on_bad_file: skip`, the bad ones left out
    (and named in `left_out`); with `error`, the default, any bad file is a DataError
    listing them, before a run exists: never a crash in the middle of an epoch.
    """
    problems = scan_files(files)
    if not problems:
        return files
    bad = [f"{problem.path} ({problem.kind})" for problem in problems]
    if on_bad_file == "error":
        raise DataError(f"{len(problems)} image file(s) cannot be decoded: {listing(bad)}; fix or "
                        "delete them, or set data.on_bad_file: skip to leave them out "
                        "(convcli data check DIR lists every problem)")
    paths = {problem.path for problem in problems}

    def kept(split: Split | None, name: str) -> Split | None:
        if split is None:
            return None
        pairs = [(path, label) for path, label in zip(split.paths, split.labels) if path not in paths]
        present = {label for _, label in pairs}
        for label, class_name in enumerate(files.class_names):
            if label not in present:
                raise DataError(f"leaving out the files that cannot be decoded ({listing(bad)}) "
                                f"leaves class {class_name} of the {name} split with no images")
        return Split([path for path, _ in pairs], [label for _, label in pairs])

    return Files(files.class_names, kept(files.train, "train"), kept(files.validation, "validation"),
                 kept(files.test, "test"), left_out=bad)


def with_progress(inspect, paths: list[str], what: str, stream=None) -> list:
    """inspect(path) for every path, on threads (image_check.in_parallel), in chunks, with
    a progress bar on the terminal for PROGRESS_FROM files or more (issue 28: 12,500 files
    took 14 s without a sign of life).

    The bar writes to its own copy of stderr, taken before the decoders' messages are
    discarded (image_check._quiet_decoders points descriptor 2 at /dev/null meanwhile).
    """
    if len(paths) < PROGRESS_FROM or (stream is None and not os.isatty(2)):
        return in_parallel(inspect, paths)
    stream = stream or os.fdopen(os.dup(2), "w")
    from rich.console import Console
    from rich.progress import Progress

    found = []
    with stream, Progress(console=Console(file=stream, force_terminal=True), transient=True) as progress:
        task = progress.add_task(what, total=len(paths))
        for start in range(0, len(paths), PROGRESS_CHUNK):
            found += in_parallel(inspect, paths[start:start + PROGRESS_CHUNK])
            progress.update(task, completed=len(found))
    return found


def listing(items: list[str], shown: int = 3) -> str:
    """The first few items, then how many more: one line however many there are."""
    more = f" and {len(items) - shown} more" if len(items) > shown else ""
    return ", ".join(items[:shown]) + more


def _read_cache(path: Path, decoder: str) -> list[Problem] | None:
    """The cached problems, or None when there are none for this decoder or they do not read."""
    try:
        record = json.loads(path.read_text())
        if record["tensorflow"] != decoder:
            return None
        return [Problem(**problem) for problem in record["problems"]]
    except (OSError, ValueError, KeyError, TypeError):
        return None


# --- a whole dataset --------------------------------------------------------------------


def check_dataset(directory: str | os.PathLike) -> Report:
    """Everything wrong with a dataset root (train/, validation/ or val/, test/) or one split."""
    directory = Path(directory)
    splits = find_splits(directory)
    listed = {name: {class_name: _list_class(folder / class_name, name, class_name)
                     for class_name in class_folders(folder)} for name, folder in splits.items()}
    images = [(path, name, class_name) for name, classes in listed.items()
              for class_name, (paths, _) in classes.items() for path in paths]
    examined = with_progress(examine, [path for path, _, _ in images], "checking images")
    counts = {name: {class_name: len(paths) for class_name, (paths, _) in classes.items()}
              for name, classes in listed.items()}
    problems = [replace(result.problem, split=name, class_name=class_name)
                for result, (_, name, class_name) in zip(examined, images) if result.problem]
    problems += [problem for classes in listed.values() for _, skipped in classes.values()
                 for problem in skipped]
    problems += _folder_problems(splits, counts) + _same_content(images, examined)
    problems.sort(key=lambda p: (p.severity != ERROR, KINDS.index(p.kind), p.path))
    return Report(str(directory), counts, problems,
                  _size_statistics([result.size for result in examined if result.size]), len(images),
                  _color_modes(images, examined, list(splits)))


def _color_modes(images: list[tuple[str, str, str]], examined: list[Examined],
                 splits: list[str]) -> dict[str, dict[str, int]]:
    """Per split, how many images are grayscale and how many have colour (data.color_mode)."""
    modes = {name: {"rgb": 0, "grayscale": 0} for name in splits}
    for (_, split, _), result in zip(images, examined):
        if result.mode is not None:
            modes[split]["grayscale" if result.mode in GRAY_MODES else "rgb"] += 1
    return modes


def find_splits(directory: Path) -> dict[str, Path]:
    """{split name: folder}: the split folders that hold class folders, else DIR as one split."""
    if not directory.is_dir():
        raise DataError(f"{directory} {'is not a directory' if directory.exists() else 'does not exist'}")
    splits = {name: directory / name for name in SPLIT_NAMES if (directory / name).is_dir()}
    if any(class_folders(folder) for folder in splits.values()):
        return splits
    if class_folders(directory):
        return {directory.resolve().name: directory}
    raise DataError(f"{directory} has no class folders; put each class's images in its own "
                    f"subfolder ({directory}/cats/, {directory}/dogs/), or such folders in "
                    f"{directory}/train/, {directory}/validation/ and {directory}/test/")


def _list_class(folder: Path, split: str, class_name: str) -> tuple[list[str], list[Problem]]:
    """The images training reads from a class folder, and a warning per file it skips."""
    images = list_images(folder)
    read = set(images)
    skipped = sorted(p for p in folder.rglob("*") if p.is_file() and str(p) not in read)
    return images, [replace(_skipped(path), split=split, class_name=class_name) for path in skipped]


def _skipped(path: Path) -> Problem:
    if path.name.startswith("._"):
        return problem("appledouble", path, "macOS metadata (AppleDouble), not an image; training "
                                             "leaves it out; delete it (dot_clean does)", WARNING)
    if path.name.startswith("."):
        return problem("hidden", path, "a hidden file; training leaves it out", WARNING)
    return problem("unsupported", path, f"training reads only {' '.join(IMAGE_EXTENSIONS)} files and "
                    "leaves this one out; convert it if it is an image, else move it away", WARNING)


def _folder_problems(splits: dict[str, Path], counts: dict[str, dict[str, int]]) -> list[Problem]:
    """Empty and single classes, classes that differ from the first split's, imbalance."""
    problems = []
    first = next(iter(counts))
    for name, classes in counts.items():
        for class_name in (c for c, count in classes.items() if count == 0):
            problems.append(Problem("empty_class", str(splits[name] / class_name),
                                    f"holds no images ({' '.join(IMAGE_EXTENSIONS)}); training refuses "
                                    "it: add images or remove the folder", ERROR, name, class_name))
        if len(classes) == 1:
            problems.append(Problem("single_class", str(splits[name]), f"a single class folder "
                                    f"({next(iter(classes))}); a classifier needs two or more", ERROR, name))
        if set(classes) != set(counts[first]):
            problems.append(_class_mismatch(splits[name], name, set(classes), first, set(counts[first])))
        problems += _imbalance(splits[name], name, classes)
    return problems


def _class_mismatch(folder: Path, split: str, classes: set, first: str, expected: set) -> Problem:
    differences = {"missing": expected - classes, "extra": classes - expected}
    shown = "; ".join(f"{label} {', '.join(sorted(names))}" for label, names in differences.items() if names)
    return Problem("class_mismatch", str(folder), f"classes differ from {first}'s ({shown}); every "
                   "split needs the same class folders", ERROR, split)


def _imbalance(folder: Path, split: str, classes: dict[str, int]) -> list[Problem]:
    """A warning from 2:1 between the largest and smallest class, an error from 10:1."""
    filled = {name: count for name, count in classes.items() if count}
    if len(filled) < 2:
        return []
    largest, smallest = max(filled, key=filled.get), min(filled, key=filled.get)
    ratio = filled[largest] / filled[smallest]
    if ratio < 2:
        return []
    majority = filled[largest] / sum(filled.values())
    return [Problem("imbalance", str(folder), f"{largest} has {filled[largest]} images, {smallest} "
                    f"{filled[smallest]} ({ratio:.1f}:1); always answering {largest} scores "
                    f"{majority:.0%} accuracy; train.class_weight: balanced weighs the classes evenly",
                    ERROR if ratio >= 10 else WARNING, split)]


def _same_content(images: list[tuple[str, str, str]], examined: list[Examined]) -> list[Problem]:
    """Leakage (one content in two splits: an error) and duplicates inside a split (a warning).

    Files that are errors themselves are left out: they are reported already.
    """
    first_seen: dict[tuple[str, str], tuple[str, str]] = {}  # (digest, split) -> (path, class)
    splits_of: dict[str, list[str]] = {}  # digest -> splits in order of appearance
    problems = []
    for (path, split, class_name), result in zip(images, examined):
        if result.digest is None or (result.problem and result.problem.severity == ERROR):
            continue
        seen = splits_of.setdefault(result.digest, [])
        if (result.digest, split) in first_seen:
            other, other_class = first_seen[(result.digest, split)]
            problems.append(Problem("duplicate", path, f"the same content as {other}"
                                    f"{_labelled(other_class, class_name)}", WARNING, split, class_name))
            continue
        if seen:
            other, other_class = first_seen[(result.digest, seen[0])]
            problems.append(Problem("leakage", path, f"the same content as {other} in {seen[0]}"
                                    f"{_labelled(other_class, class_name)}; it inflates {split} accuracy",
                                    ERROR, split, class_name))
        first_seen[(result.digest, split)] = (path, class_name)
        seen.append(split)
    return problems


def _labelled(other_class: str, class_name: str) -> str:
    return "" if other_class == class_name else f", labelled {other_class} there"


def _size_statistics(sizes: list[tuple[int, int]]) -> dict:
    """Min, median and max width and height, and how many images are small on a side."""
    if not sizes:
        return {"images": 0}
    widths, heights = sorted(w for w, _ in sizes), sorted(h for _, h in sizes)

    def spread(values: list[int]) -> dict:
        return {"min": values[0], "median": statistics.median_low(values), "max": values[-1]}

    return {"images": len(sizes), "width": spread(widths), "height": spread(heights),
            f"smaller_than_{SMALL_SIDE}": sum(1 for w, h in sizes if min(w, h) < SMALL_SIDE)}
