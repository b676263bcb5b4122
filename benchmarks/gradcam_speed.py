"""Grad-CAM speed: convcli's batched, compiled heatmaps against one image at a time.

Three ways over the same images and model, in one process:
  batched    convcli's GradCam, 32 images per call of one tf.function
  one-by-one convcli's GradCam called with one image at a time
  textbook   the keras-io / book computation: eager GradientTape, one image at a time
Prints images per second and the ratios, and writes them as JSON.

    python benchmarks/gradcam_speed.py [--base vgg16] [--size 150] [--images 32] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import os
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

from convcli.explain.gradcam import GradCam  # noqa: E402
from convcli.explain.taps import tap_model  # noqa: E402
from convcli.models.pretrained import build_base, transfer_model  # noqa: E402

TARGET = 4.0


def textbook(tapped, image):
    """One image, eagerly: gradient of the class probability w.r.t. the feature map."""
    with tf.GradientTape() as tape:
        feature_map, probabilities = tapped(image[None])
        score = probabilities[0, 0]
    gradients = tape.gradient(score, feature_map)[0]
    heatmap = tf.nn.relu(tf.reduce_sum(feature_map[0] * tf.reduce_mean(gradients, axis=(0, 1)), -1))
    return heatmap / (tf.reduce_max(heatmap) + 1e-12)


def rate(function, count: int, repeats: int = 3) -> float:
    """Images per second, the best of `repeats` timed runs after one warm-up."""
    function()
    best = min(_timed(function) for _ in range(repeats))
    return count / best


def _timed(function) -> float:
    began = time.perf_counter()
    function()
    return time.perf_counter() - began


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--base", default="vgg16")
    parser.add_argument("--size", type=int, default=150)
    parser.add_argument("--images", type=int, default=32)
    parser.add_argument("--json")
    args = parser.parse_args()

    base = build_base(args.base, "none", (args.size, args.size))
    model = transfer_model(base, args.base, (args.size, args.size), 256, 0.5, 2)
    images = np.random.default_rng(0).uniform(0, 255, (args.images, args.size, args.size, 3)).astype("float32")
    cam = GradCam(model)
    tapped = tap_model(model, [cam.layer])

    rates = {"batched": rate(lambda: cam(images, batch_size=32), len(images)),
             "one_by_one": rate(lambda: [cam(images[i:i + 1]) for i in range(len(images))], len(images)),
             "textbook": rate(lambda: [textbook(tapped, image) for image in images], len(images))}
    result = {"base": args.base, "image_size": args.size, "images": args.images, "layer": cam.layer,
              "images_per_second": {k: round(v, 2) for k, v in rates.items()},
              "batched_vs_textbook": round(rates["batched"] / rates["textbook"], 2),
              "batched_vs_one_by_one": round(rates["batched"] / rates["one_by_one"], 2)}
    print(json.dumps(result, indent=2))
    ratio = result["batched_vs_textbook"]
    print(f"batched vs textbook: {ratio:.2f}x (target >= {TARGET}x): {'PASS' if ratio >= TARGET else 'MISS'}")
    if args.json:
        with open(args.json, "w") as handle:
            json.dump(result, handle, indent=2)


if __name__ == "__main__":
    main()
