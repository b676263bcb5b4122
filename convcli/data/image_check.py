"""One image file judged as training reads it: `inspect_file` names what is wrong with it.

The file is read whole, Pillow reads its header (format, size, the decompression-bomb
limit) and TensorFlow decodes it as the pipeline does (pipeline.load_image); the two
views together name the problem. `in_parallel` runs a check over many files on threads
with the decoders' own noise discarded.

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
import os
import re
import sys
import warnings
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterator

from PIL import Image

from convcli.tfenv import import_tensorflow

ERROR, WARNING = "error", "warning"
MAX_PIXELS = 89_478_485  # Pillow's decompression-bomb threshold, where it merely warns
MAX_FILE_BYTES = 512 << 20  # a file is read whole (hash, decode): larger ones are refused unread
# The format an extension promises, by Pillow's name for it (MPO: a multi-picture JPEG).
FORMATS = {".jpg": "JPEG", ".jpeg": "JPEG", ".png": "PNG", ".gif": "GIF", ".bmp": "BMP"}
ALIASES = {"MPO": "JPEG"}
# What tf.io.decode_image reads, by content whatever the name (its error message lists them).
DECODED = {"JPEG", "PNG", "GIF", "BMP", "WEBP"}
GIF_TRAILER = b";"  # the last byte of every complete GIF


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
class _Header:
    """What Pillow makes of a file's first bytes, without decoding the pixels."""

    format: str | None = None
    size: tuple[int, int] | None = None
    error: str | None = None
    too_large: str | None = None  # why decoding it would be unsafe
    mode: str | None = None  # Pillow's: RGB, L (grayscale), P (palette), ...


@dataclass
class Examined:
    """What examining a file found: its problem, sha256, (width, height) and Pillow mode."""

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
    return examine(path).problem


def examine(path: str | os.PathLike) -> Examined:
    """The file's problem, the sha256 of its bytes and its (width, height), as far as known."""
    path = Path(path)
    try:
        size = path.stat().st_size
        if size > MAX_FILE_BYTES:
            return Examined(problem("too_large", path, f"{size:,} bytes, over the {MAX_FILE_BYTES:,} "
                                      "convcli reads of one image; resize or recompress it"))
        data = path.read_bytes()
    except OSError as error:
        return Examined(problem("corrupt", path, f"cannot be read ({error.strerror or error})"))
    if not data:
        return Examined(problem("empty", path, "the file is empty (0 bytes); copy it again or delete it"))
    header = _read_header(data)
    digest = hashlib.sha256(data).hexdigest()
    if header.too_large:
        return Examined(problem("too_large", path, header.too_large), digest, header.size, header.mode)
    return Examined(_judge(path, data, header, _decode_error(data)), digest, header.size, header.mode)


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
            return problem("truncated", path, "the GIF ends early; its first frame, the one training "
                                               "uses, decodes whole, any later frame is cut", WARNING)
        if named_wrong:
            return problem("wrong_extension", path, f"a {header.format} file named {path.suffix}; "
                            f"TensorFlow decodes it by content, but {_rename_advice(header.format)}",
                            WARNING)
        return None
    pillow_error = header.error or _load_error(data)
    if pillow_error and "truncated" in pillow_error.lower():
        return problem("truncated", path, f"the file ends early; TensorFlow cannot decode it "
                                           f"({decode_error}); copy it again or delete it")
    if named_wrong and header.format not in DECODED:
        return problem("wrong_extension", path, f"a {header.format} file named {path.suffix}, which "
                        f"TensorFlow cannot decode ({decode_error}); convert it to PNG or JPEG")
    if pillow_error is None:
        return problem("corrupt", path, f"TensorFlow cannot decode this {header.format} file "
                                         f"({decode_error}); Pillow can, so re-saving it as PNG fixes it")
    return problem("corrupt", path, f"not a readable image ({decode_error}); replace or delete it")


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


def problem(kind: str, path: Path, detail: str, severity: str = ERROR) -> Problem:
    return Problem(kind, str(path), detail, severity)


def in_parallel(examine: Callable, paths: list[str]) -> list:
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
