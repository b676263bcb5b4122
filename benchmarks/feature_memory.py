"""Memory of the extract stage's features: peak anonymous memory at 1x and 10x images.

Features as large as ResNet50's at 150x150 (5x5x2048 floats, 200 KiB an image) go
through convcli's own path: `data.features.cached_features` runs a stand-in base over a
folder of tiny PNGs (one 6x6 convolution of 2048 filters on 10x10 images, so no
ImageNet weights are needed and the base costs little) and writes its outputs to the
cache batch by batch, then the book's dense head (Flatten, Dense 256, Dropout 0.5, the
output: `models.heads.dense_head`) trains for one epoch on `data.features.feature_batches`,
shuffled, as stage extract trains it.

Each size runs in a fresh process; this script samples the child's /proc/PID/status
every 20 ms and keeps the peak of RssAnon (anonymous memory: the heap, TensorFlow's
buffers) and of VmRSS (which also counts the memory-mapped feature pages, which the
page cache can drop, docs/notes: keras-notes "Measured for the third round").
Targets (issue 28): peak RssAnon at 10x <= 1.3 x at 1x; 10x = 25,000 ResNet50-sized
vectors trainable in <= 4 GB.

    python benchmarks/feature_memory.py [--images 2500] [--json out.json]

About 3 minutes on 2 cores with the defaults; 5.6 GB of disk for the 10x features.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

TARGET_RATIO, TARGET_BYTES = 1.3, 4 << 30
SIDE, FEATURES = 10, (5, 5, 2048)  # a 6x6 valid convolution of 10x10 gives 5x5


def make_images(folder: Path, count: int) -> None:
    """`count` tiny random PNGs in two class folders (a/ and b/)."""
    from PIL import Image

    rng = np.random.default_rng(0)
    for i in range(count):
        path = folder / "ab"[i % 2] / f"{i:06d}.png"
        path.parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(rng.integers(0, 256, (SIDE, SIDE, 3), np.uint8)).save(path)


def child(folder: Path, count: int, cache: Path) -> None:
    """Extract the features of the first `count` images, then train the head one epoch."""
    os.environ["CONVCLI_CACHE"] = str(cache)
    from convcli.tfenv import import_tensorflow

    import_tensorflow()
    import keras

    from convcli.config import Train
    from convcli.data.features import cached_features, feature_batches
    from convcli.data.folders import Files, Split
    from convcli.models.heads import dense_head
    from convcli.training import compile_model

    paths = sorted(str(p) for p in folder.glob("*/*.png"))[:count]
    train = Split(paths, [int(Path(p).parent.name == "b") for p in paths])
    files = Files(["a", "b"], train, Split(paths[:64], train.labels[:64]), None)
    keras.utils.set_random_seed(1)
    image = keras.Input((SIDE, SIDE, 3))
    base = keras.Model(image, keras.layers.Conv2D(FEATURES[-1], 6)(image), name="standin")
    features, _ = cached_features(cache / "features", f"bench-{count}", base, files,
                                  (SIDE, SIDE), 32, about={"base": "standin"})
    x = inputs = keras.Input(FEATURES)
    for layer in dense_head(256, 0.5, 2):
        x = layer(x)
    head = keras.Model(inputs, x)
    compile_model(head, Train(), 2)
    head.fit(feature_batches(features["train"], train.labels, 2, 32, seed=1), epochs=1, verbose=0)


def peak_memory(folder: Path, count: int, cache: Path) -> dict:
    """The child's peak RssAnon and VmRSS in bytes, and its wall time."""
    began = time.perf_counter()
    process = subprocess.Popen([sys.executable, __file__, "--child", str(folder), str(count),
                                str(cache)], env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"})
    peaks = {"RssAnon": 0, "VmRSS": 0}
    while process.poll() is None:
        for key, value in status(process.pid).items():
            peaks[key] = max(peaks[key], value)
        time.sleep(0.02)
    if process.returncode:
        raise SystemExit(f"the {count}-image run failed (exit {process.returncode})")
    return {**peaks, "images": count, "seconds": round(time.perf_counter() - began, 1),
            "feature_bytes": count * int(np.prod(FEATURES)) * 4}


def status(pid: int) -> dict:
    """RssAnon and VmRSS of a process, in bytes ({} once it is gone)."""
    try:
        lines = Path(f"/proc/{pid}/status").read_text().splitlines()
    except OSError:
        return {}
    fields = dict(line.split(":", 1) for line in lines if ":" in line)
    return {key: int(fields[key].split()[0]) * 1024 for key in ("RssAnon", "VmRSS") if key in fields}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--images", type=int, default=2500, help="the 1x size (10x is ten times it)")
    parser.add_argument("--json", type=Path, help="also write every number here")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="feature-memory-") as temp:
        folder, cache = Path(temp) / "images", Path(temp) / "cache"
        make_images(folder, args.images * 10)
        small = peak_memory(folder, args.images, cache)
        large = peak_memory(folder, args.images * 10, cache)
    ratio = large["RssAnon"] / small["RssAnon"]
    mb = 1 << 20
    print(f"{'images':>8} {'features':>10} {'peak RssAnon':>13} {'peak VmRSS':>11} {'seconds':>8}")
    for row in (small, large):
        print(f"{row['images']:>8,} {row['feature_bytes'] / mb:>7.0f} MB {row['RssAnon'] / mb:>10.0f} MB "
              f"{row['VmRSS'] / mb:>8.0f} MB {row['seconds']:>8.1f}")
    print(f"RssAnon 10x / 1x: {ratio:.3f}x (target <= {TARGET_RATIO}x: "
          f"{'pass' if ratio <= TARGET_RATIO else 'miss'}); {large['images']:,} vectors in "
          f"{large['RssAnon'] / mb:.0f} MB anonymous (target <= {TARGET_BYTES / mb:.0f} MB: "
          f"{'pass' if large['RssAnon'] <= TARGET_BYTES else 'miss'})")
    if args.json:
        args.json.write_text(json.dumps({"small": small, "large": large, "ratio": ratio}, indent=1))


if __name__ == "__main__":
    if sys.argv[1:2] == ["--child"]:
        child(Path(sys.argv[2]), int(sys.argv[3]), Path(sys.argv[4]))
    else:
        main()
