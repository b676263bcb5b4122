"""Agreement: an export's predictions beside best.keras's on the same images, and the verdict.

Both models see the same batches of the check split; the numbers are the share of
images on whose most probable class they agree, the largest probability difference,
each one's accuracy, file sizes and the median latency per image at batch 1. Float32
exports must agree on every image to 1e-4; quantized ones must keep 99 % agreement and
their accuracy within a point of the Keras model's.
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
from rich.table import Table
from rich.text import Text

from convcli.evaluation import class_probabilities
from convcli.exporting.record import Check
from convcli.formats import Fitted, percent, size

FLOAT_MAX_DIFFERENCE = 1e-4
FLOAT16_MAX_DIFFERENCE = 1e-2  # float16 weights keep ~3 decimal digits
INT8_MIN_AGREEMENT = 0.99
INT8_MAX_ACCURACY_CHANGE = 0.01
LATENCY_IMAGES, WARM_UP = 30, 3


def compare(keras_model, runtime, dataset) -> tuple[np.ndarray, np.ndarray, np.ndarray, list]:
    """(Keras probabilities, export probabilities, true labels, the first images) on batches."""
    import tensorflow as tf

    forward = tf.function(lambda images: keras_model(images, training=False), reduce_retracing=True)
    expected, exported, labels, kept = [], [], [], []
    for images, batch_labels in dataset:
        expected.append(class_probabilities(forward(images)))
        exported.append(np.asarray(runtime(images.numpy()), dtype=np.float32))
        labels.append(batch_labels.numpy().reshape(-1).astype(int))
        kept.extend(images.numpy()[:max(0, LATENCY_IMAGES - len(kept))])
    return np.concatenate(expected), np.concatenate(exported), np.concatenate(labels), kept


def latency_ms(call, images: list[np.ndarray]) -> float:
    """Median milliseconds of `call` on one image (batch 1), after a few warm-up calls."""
    for image in images[:WARM_UP]:
        call(image[None])
    times = []
    for image in images:
        began = time.perf_counter()
        np.asarray(call(image[None]))
        times.append(1000 * (time.perf_counter() - began))
    return float(np.median(times))


def verdict(quantize: str, agreement: float, difference: float, accuracy_keras: float,
            accuracy_export: float) -> tuple[str, list[str]]:
    """(the rule the export had to meet, what it missed)."""
    failures = []
    if quantize in ("none", "float16"):
        limit = FLOAT_MAX_DIFFERENCE if quantize == "none" else FLOAT16_MAX_DIFFERENCE
        rule = f"top-1 agreement 100% and max |dp| <= {limit:g}"
        if agreement < 1:
            failures.append(f"top-1 agreement {percent(agreement, 2)} < 100%")
        if difference > limit:
            failures.append(f"max |dp| {difference:.3g} > {limit:g}")
        return rule, failures
    rule = (f"top-1 agreement >= {100 * INT8_MIN_AGREEMENT:g}% and accuracy within "
            f"{100 * INT8_MAX_ACCURACY_CHANGE:g} point of best.keras")
    if agreement < INT8_MIN_AGREEMENT:
        failures.append(f"top-1 agreement {percent(agreement, 2)} < {100 * INT8_MIN_AGREEMENT:g}%")
    change = accuracy_export - accuracy_keras
    if abs(change) > INT8_MAX_ACCURACY_CHANGE + 1e-9:
        failures.append(f"accuracy {percent(accuracy_export, 2)} vs {percent(accuracy_keras, 2)} "
                        f"({100 * change:+.2f} points)")
    return rule, failures


def check(keras_model, runtime, dataset, quantize: str, split: str,
          sizes: tuple[int, int]) -> Check:
    """The export in `runtime` against `keras_model` on `dataset` (batches of the split)."""
    import tensorflow as tf

    expected, exported, labels, images = compare(keras_model, runtime, dataset)
    agreement = float(np.mean(np.argmax(expected, -1) == np.argmax(exported, -1)))
    difference = float(np.max(np.abs(expected - exported)))
    accuracy_keras = float(np.mean(np.argmax(expected, -1) == labels))
    accuracy_export = float(np.mean(np.argmax(exported, -1) == labels))
    rule, failures = verdict(quantize, agreement, difference, accuracy_keras, accuracy_export)
    # Keras at its fastest for one image: the model's call compiled, as evaluation runs it.
    forward = tf.function(lambda image: keras_model(image, training=False))
    return Check(split=split, images=len(labels), runtime=runtime.name, top1_agreement=agreement,
                 max_abs_difference=difference, accuracy_keras=accuracy_keras,
                 accuracy_export=accuracy_export, size_bytes_keras=sizes[0], size_bytes=sizes[1],
                 latency_ms_keras=latency_ms(forward, images), latency_ms=latency_ms(runtime, images),
                 rule=rule, failures=failures, passed=not failures)


def size_bytes(path: Path) -> int:
    """A file's size, or everything in a folder (a SavedModel)."""
    if path.is_file():
        return path.stat().st_size
    return sum(item.stat().st_size for item in path.rglob("*") if item.is_file())


# --- what a person sees ---------------------------------------------------------------


def check_table(check: Check, format: str, quantize: str, mixed_policy: str | None = None,
                source: str = "best.keras") -> Fitted:
    """The Keras model (`source`: best.keras, or a model file's name) and the export side by
    side; fits 80 columns."""
    name = format if quantize == "none" else f"{format} {quantize}"
    computed = (f"; {source} computed in float32 (it trained in {mixed_policy})"
                if mixed_policy else "")
    split = f"the {check.split} split" if source == "best.keras" else check.split
    table = Table(title=f"{name} against {source} on {split} ({check.images} images)",
                  title_justify="left",
                  caption=f"top-1: images whose most probable class is {source}'s; max |dp|: "
                          f"the largest probability difference; latency: median per image at batch "
                          f"1; runtime: {check.runtime}{computed}", caption_justify="left")
    for column in ("model", "accuracy", "top-1", "max |dp|", "size", "latency"):
        table.add_column(column, justify="left" if column == "model" else "right", no_wrap=True)
    table.add_row(Text(source), percent(check.accuracy_keras, 2), "", "",
                  size(check.size_bytes_keras), f"{check.latency_ms_keras:.2f} ms")
    table.add_row(Text(name), percent(check.accuracy_export, 2),
                  percent(check.top1_agreement, 2),
                  f"{check.max_abs_difference:.2g}", size(check.size_bytes),
                  f"{check.latency_ms:.2f} ms")
    return Fitted(table)
