"""Dataset checks: every problem in a folder of images that would break or mislead training.

`inspect_file` decodes one file the way training does (TensorFlow, after a Pillow
header read for its format, size and the decompression-bomb limit) and names what is
wrong with it. `scan_files` runs it over the files a run will read, in parallel, once
per set of files (cached by `Files.fingerprint`). `check_dataset` is `convcli data
check`: the per-file problems plus the folders' (empty or single classes, classes that
differ between splits, imbalance, files copied between or within splits, files the
loader skips) and the images' sizes.

What TensorFlow 2.21's decoder does, measured: it reads WEBP and JPEG XL besides JPEG,
PNG, GIF and BMP, by content whatever the extension; it fails on every truncated JPEG
(a missing end marker included), PNG (a missing IEND chunk included), BMP and
single-frame GIF, but decodes an animated GIF cut after its first frame; it fails on
RLE-compressed BMPs and TIFFs; CMYK JPEGs decode to the right colours.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import os
import re
import statistics
import sys
import warnings
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Callable, Iterator

from PIL import Image

from convcli.files import atomic_write_text, cache_dir
from convcli.data.folders import IMAGE_EXTENSIONS, Files, Split, class_folders, list_images
from convcli.errors import DataError
from convcli.tfenv import import_tensorflow

ERROR, WARNING = "error", "warning"
MAX_PIXELS = 89_478_485  # Pillow's decompression-bomb threshold, where it merely warns
MAX_FILE_BYTES = 512 << 20  # a file is read whole (hash, decode): larger ones are refused unread
SMALL_SIDE = 32  # images smaller than this on a side are counted in the size statistics
SPLIT_NAMES = ("train", "validation", "val", "test")
# The format an extension promises, by Pillow's name for it (MPO: a multi-picture JPEG).
FORMATS = {".jpg": "JPEG", ".jpeg": "JPEG", ".png": "PNG", ".gif": "GIF", ".bmp": "BMP"}
ALIASES = {"MPO": "JPEG"}
# What tf.io.decode_image reads, by content whatever the name (its error message lists them).
DECODED = {"JPEG", "PNG", "GIF", "BMP", "WEBP"}
GIF_TRAILER = b";"  # the last byte of every complete GIF
SPLITS = ("train", "validation", "test")  # the splits of Files
# Pillow's modes without colour; every other mode (RGB, RGBA, CMYK, P, ...) counts as rgb.
GRAY_MODES = {"1", "L", "LA", "La", "I", "I;16", "I;16B", "I;16L", "I;16N", "F"}
KINDS = ("empty_class", "single_class", "class_mismatch", "leakage", "imbalance", "corrupt",
         "truncated", "empty", "wrong_extension", "too_large", "duplicate", "unsupported",
         "appledouble", "hidden")  # the order problems are listed in, within a severity


@dataclass
class Problem:
    """One thing wrong with a file or a folder; errors break or invalidate training."""

    kind: str
    path: str
    detail: str
    severity: str
    split: str | None = None
    class_name: str | None = None


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


# --- one file ---------------------------------------------------------------------------


@dataclass
class _Header:
    """What Pillow makes of a file's first bytes, without decoding the pixels."""

    format: str | None = None
    size: tuple[int, int] | None = None
    error: str | None = None
    too_large: str | None = None  # why decoding it would be unsafe
    mode: str | None = None  # Pillow's: RGB, L (grayscale), P (palette), ...


@dataclass
class _Examined:
    problem: Problem | None
    digest: str | None = None
    size: tuple[int, int] | None = None
    mode: str | None = None


def inspect_file(path: str | os.PathLike) -> Problem | None:
    """The problem training would have with this image file, or None. Never raises.

    Alone, it lets the decoders' own warnings through (Pillow's DecompressionBombWarning
    before a too_large, libjpeg's lines on stderr); `scan_files` and `check_dataset`
    discard them.
    """
    return _examine(path).problem


def _examine(path: str | os.PathLike) -> _Examined:
    """The file's problem, the sha256 of its bytes and its (width, height), as far as known."""
    path = Path(path)
    try:
        size = path.stat().st_size
        if size > MAX_FILE_BYTES:
            return _Examined(_problem("too_large", path, f"{size:,} bytes, over the {MAX_FILE_BYTES:,} "
                                      "convcli reads of one image; resize or recompress it"))
        data = path.read_bytes()
    except OSError as error:
        return _Examined(_problem("corrupt", path, f"cannot be read ({error.strerror or error})"))
    if not data:
        return _Examined(_problem("empty", path, "the file is empty (0 bytes); copy it again or delete it"))
    header = _read_header(data)
    digest = hashlib.sha256(data).hexdigest()
    if header.too_large:
        return _Examined(_problem("too_large", path, header.too_large), digest, header.size, header.mode)
    return _Examined(_judge(path, data, header, _decode_error(data)), digest, header.size, header.mode)


def _read_header(data: bytes) -> _Header:
    try:
        with Image.open(io.BytesIO(data)) as image:
            header = _Header(ALIASES.get(image.format, image.format), image.size, mode=image.mode)
    except Image.DecompressionBombError as error:  # Pillow's own refusal, at twice MAX_PIXELS
        return _Header(too_large=f"too large to decode safely ({error}); resize it")
    except Exception as error:  # Pillow's plugins raise many kinds on hostile bytes
        return _Header(error=str(error))
    width, height = header.size
    if width * height > MAX_PIXELS:
        header.too_large = (f"{width}x{height} is {width * height:,} pixels, over the {MAX_PIXELS:,} "
                            "limit against decompression bombs; resize it")
    return header


def _decode_error(data: bytes) -> str | None:
    """TensorFlow's complaint about these bytes, decoded as pipeline.load_image does."""
    tf = import_tensorflow()
    try:
        tf.io.decode_image(data, channels=3, expand_animations=False)
    except tf.errors.OpError as error:
        # "{{function_node __wrapped__DecodeImage...}} Invalid PNG data, size 6210 [Op:DecodeImage]"
        return re.sub(r"^\{\{.*?\}\}\s*|\s*\[Op:.*$", "", error.message, flags=re.S)
    return None


def _judge(path: Path, data: bytes, header: _Header, decode_error: str | None) -> Problem | None:
    """Name the problem from Pillow's view of the file and TensorFlow's decode of it."""
    promised = FORMATS.get(path.suffix.lower())  # None: an extension training leaves out
    named_wrong = None not in (header.format, promised) and header.format != promised
    if decode_error is None:
        # TensorFlow decodes a GIF cut after its first frame (measured), the frame training uses.
        if header.format == "GIF" and not data.rstrip(b"\0").endswith(GIF_TRAILER):
            return _problem("truncated", path, "the GIF ends early; its first frame, the one training "
                                               "uses, decodes whole, any later frame is cut", WARNING)
        if named_wrong:
            return _problem("wrong_extension", path, f"a {header.format} file named {path.suffix}; "
                            f"TensorFlow decodes it by content, but {_rename_advice(header.format)}",
                            WARNING)
        return None
    pillow_error = header.error or _load_error(data)
    if pillow_error and "truncated" in pillow_error.lower():
        return _problem("truncated", path, f"the file ends early; TensorFlow cannot decode it "
                                           f"({decode_error}); copy it again or delete it")
    if named_wrong and header.format not in DECODED:
        return _problem("wrong_extension", path, f"a {header.format} file named {path.suffix}, which "
                        f"TensorFlow cannot decode ({decode_error}); convert it to PNG or JPEG")
    if pillow_error is None:
        return _problem("corrupt", path, f"TensorFlow cannot decode this {header.format} file "
                                         f"({decode_error}); Pillow can, so re-saving it as PNG fixes it")
    return _problem("corrupt", path, f"not a readable image ({decode_error}); replace or delete it")


def _rename_advice(image_format: str) -> str:
    right = [suffix for suffix, promised in FORMATS.items() if promised == image_format]
    if right:
        return f"other tools go by the name: rename it to {right[0]}"
    return f"named .{image_format.lower()} training would leave it out: convert it to PNG or JPEG"


def _load_error(data: bytes) -> str | None:
    """Pillow's complaint when it decodes all the pixels (it says "truncated" when it is)."""
    try:
        with Image.open(io.BytesIO(data)) as image:
            image.load()
    except Exception as error:  # as in _read_header
        return str(error)
    return None


def _problem(kind: str, path: Path, detail: str, severity: str = ERROR) -> Problem:
    return Problem(kind, str(path), detail, severity)


# --- many files -------------------------------------------------------------------------


def _in_parallel(examine: Callable, paths: list[str]) -> list:
    """examine(path) for every path, in order, on threads (TensorFlow's decoders release the GIL)."""
    import_tensorflow()
    with _quiet_decoders(), ThreadPoolExecutor() as pool:
        return list(pool.map(examine, paths))


@contextlib.contextmanager
def _quiet_decoders() -> Iterator[None]:
    """Discard what the decoders print, which the problems say better.

    A cut JPEG makes libjpeg and TensorFlow's C++ log write "Premature end of JPEG data"
    and "Improper call to JPEG library" to file descriptor 2, past any log level
    (measured); Pillow warns about files over MAX_PIXELS and damaged EXIF data. Both
    outlets are shared by the whole process, so this wraps a whole parallel pass.
    """
    with warnings.catch_warnings(), open(os.devnull, "wb") as sink:
        warnings.simplefilter("ignore")
        sys.stderr.flush()
        saved = os.dup(2)
        os.dup2(sink.fileno(), 2)
        try:
            yield
        finally:
            sys.stderr.flush()
            os.dup2(saved, 2)
            os.close(saved)


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
    found = _in_parallel(inspect_file, [path for path, _, _ in owners])
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
    examined = _in_parallel(_examine, [path for path, _, _ in images])
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


def _color_modes(images: list[tuple[str, str, str]], examined: list[_Examined],
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
        return _problem("appledouble", path, "macOS metadata (AppleDouble), not an image; training "
                                             "leaves it out; delete it (dot_clean does)", WARNING)
    if path.name.startswith("."):
        return _problem("hidden", path, "a hidden file; training leaves it out", WARNING)
    return _problem("unsupported", path, f"training reads only {' '.join(IMAGE_EXTENSIONS)} files and "
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


def _same_content(images: list[tuple[str, str, str]], examined: list[_Examined]) -> list[Problem]:
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
