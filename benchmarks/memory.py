"""Memory: peak RSS of `convcli train` on a folder ten times larger, with `data.cache: auto`.

Makes a built-in dataset folder (`convcli data synth`), then one ten times larger from
it: every image plus nine distinct variants (the seven flips and quarter turns, and two
brightness changes), so no file is a duplicate. Trains the same small convnet for a few
epochs on each, in fresh processes, and reads each process's own peak RSS (os.wait4).
With `cache: auto` the small folder's decoded images are kept in memory and the large
one is streamed from disk; a third run on the large folder with `cache: memory` shows
what streaming saves. Target: large / small at most 1.2x.

    python benchmarks/memory.py [--per-class 200] [--image-size 224] [--epochs 2] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import yaml
from PIL import Image, ImageEnhance

TARGET = 1.2
VARIANTS = [lambda im, t=t: im.transpose(t) for t in Image.Transpose] + [
    lambda im: ImageEnhance.Brightness(im).enhance(0.85),
    lambda im: ImageEnhance.Brightness(im).enhance(1.15)]  # 7 transposes + 2 + the original = 10


def tenfold(small: Path, large: Path) -> None:
    """Each image of `small` and its nine variants, in the same split and class folder."""
    for path in small.glob("*/*/*.jpg"):
        folder = large / path.parent.relative_to(small)
        folder.mkdir(parents=True, exist_ok=True)
        with Image.open(path) as image:
            image.save(folder / path.name, quality=95)
            for i, variant in enumerate(VARIANTS[:9]):
                variant(image).save(folder / f"{path.stem}_v{i}.jpg", quality=95)


def write_config(data: Path, image_size: int, epochs: int, cache: str, path: Path) -> Path:
    config = {"stage": "scratch", "seed": 1,
              "data": {"train_dir": str(data / "train"), "validation_dir": str(data / "validation"),
                       "test_dir": str(data / "test"), "image_size": [image_size, image_size],
                       "batch_size": 32, "cache": cache},
              "model": {"conv_filters": [16, 32, 64], "dense_units": 64},
              "train": {"epochs": epochs}, "explain": {"gradcam_images": 2}}
    path.write_text(yaml.safe_dump(config))
    return path


def peak_rss_mb(config: Path, runs: Path) -> tuple[float, dict]:
    """Peak resident memory of one `convcli train` process, and its run's dataset record."""
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"}
    process = subprocess.Popen([sys.executable, "-m", "convcli", "train", str(config),
                                "--runs-dir", str(runs)], env=env,
                               stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    stderr = process.stderr.read()
    _, status, usage = os.wait4(process.pid, 0)  # this child's own rusage, not all children's
    if status != 0:
        sys.exit(f"convcli train failed:\n{stderr.decode()[-3000:]}")
    [run] = sorted(runs.iterdir(), key=lambda p: p.stat().st_mtime)[-1:]
    return usage.ru_maxrss / 1024, json.loads((run / "meta.json").read_text())["dataset"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--per-class", type=int, default=200, help="small folder: images per class and split")
    parser.add_argument("--image-size", type=int, default=224, help="training image size")
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--no-contrast", action="store_true", help="skip the cache: memory run")
    parser.add_argument("--json")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder)
        subprocess.run([sys.executable, "-m", "convcli", "data", "synth", str(root / "small"),
                        "--per-class", str(args.per_class), "--image-size", "160"], check=True)
        tenfold(root / "small", root / "large")
        runs = {"small, auto": ("small", "auto"), "large, auto": ("large", "auto")}
        if not args.no_contrast:
            runs["large, memory"] = ("large", "memory")
        result = {}
        for name, (data, cache) in runs.items():
            config = write_config(root / data, args.image_size, args.epochs, cache,
                                  root / f"{data}-{cache}.yaml")
            rss, dataset = peak_rss_mb(config, root / "runs")
            result[name] = {"peak_rss_mb": round(rss), "images": sum(dataset["counts"].values()),
                            "cache": dataset["cache"]}
            print(f"{name:14s} {result[name]['images']:6d} images  cache {dataset['cache']:6s}  "
                  f"peak RSS {rss:7.0f} MB", flush=True)
    ratio = result["large, auto"]["peak_rss_mb"] / result["small, auto"]["peak_rss_mb"]
    print(f"large / small with cache: auto: {ratio:.2f}x (target <= {TARGET}x): "
          f"{'PASS' if ratio <= TARGET else 'MISS'}")
    if args.json:
        with open(args.json, "w") as handle:
            json.dump({"runs": result, "ratio": round(ratio, 3), "target": TARGET, **vars(args)},
                      handle, indent=2)


if __name__ == "__main__":
    main()
