"""The first-run scan: convcli's threads against one thread, on JPEGs like Kaggle's.

`data.check.with_progress` (the scan before training and `convcli data check`) runs
`image_check.examine` over every file on image_check.in_parallel's thread pool;
TensorFlow's decoders and hashlib release the GIL, so threads can use every core
without fork (TensorFlow is imported by then). Baseline: the same examine, one file
after another, in the same process. Files: random-noise JPEGs of 300-500 px a side
(quality 40, ~20-40 KB), read once before timing so both sides read the page cache.

    python benchmarks/scan_speed.py [--files 1000]
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

import numpy as np

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def make_jpegs(folder: Path, count: int) -> list[str]:
    from PIL import Image

    rng = np.random.default_rng(0)
    paths = []
    for i in range(count):
        side = rng.integers(300, 501, 2)
        pixels = rng.integers(0, 256, (side[0] // 8, side[1] // 8, 3), np.uint8)
        image = Image.fromarray(pixels).resize((int(side[1]), int(side[0])))
        path = folder / f"{i:05d}.jpg"
        image.save(path, quality=40)
        paths.append(str(path))
    return paths


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--files", type=int, default=1000)
    args = parser.parse_args()
    from convcli.data.check import with_progress
    from convcli.data.image_check import _quiet_decoders, examine, in_parallel

    with tempfile.TemporaryDirectory(prefix="scan-speed-") as temp:
        paths = make_jpegs(Path(temp), args.files)
        for path in paths:
            Path(path).read_bytes()
        in_parallel(examine, paths[:10])  # TensorFlow imported and warmed on both sides
        began = time.perf_counter()
        with _quiet_decoders():
            one = [examine(path) for path in paths]
        single = time.perf_counter() - began
        began = time.perf_counter()
        threaded = with_progress(examine, paths, "scanning")
        threads = time.perf_counter() - began
    assert [e.digest for e in one] == [e.digest for e in threaded]
    print(f"{args.files} JPEGs: one thread {single:.2f} s ({args.files / single:.0f} files/s), "
          f"convcli's threads {threads:.2f} s ({args.files / threads:.0f} files/s): "
          f"{single / threads:.2f}x on {os.cpu_count()} cores")


if __name__ == "__main__":
    main()
