"""The built-in dataset: procedural shape images, deterministic by seed.

Each image holds one object of its class at a random position, scale, rotation and
colour, over a textured background with clutter and noise. The object's bounding box is
recorded in `boxes.csv`, so later tools can check where an explanation points.

Two tasks with disjoint classes: *target*, the small-data problem of the workflow (two
classes, few images, like the book's cats vs dogs), and *source*, more classes and more
images, on which the built-in pretrained base is trained.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import os
import shutil
import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFilter, ImageStat

from convcli import cache as cache_entries
from convcli.errors import DataError

# Bump when a task's pictures change, so cached copies are regenerated. The source task
# has its own number: the built-in base's fingerprint covers it (pretraining.py),
# so a change to the target task alone keeps the shipped pretrained weights valid.
GENERATOR_VERSION = 4  # the target task
SOURCE_GENERATOR_VERSION = 3  # the source task: what pretraining reads
SPLITS = ("train", "validation", "test")
SUPERSAMPLE = 4  # draw at 4x and downsample: smooth edges without a renderer


@dataclass(frozen=True)
class Recipe:
    """What one task's images look like; the knobs that set its difficulty."""

    classes: tuple[str, ...]
    per_class: int  # training images per class
    validation_per_class: int  # validation images per class
    test_per_class: int  # test images per class
    scale: tuple[float, float]  # object radius as a fraction of the image side
    aspect: tuple[float, float]  # width / height stretch of the object
    clutter: int  # at most this many distracting strokes and blobs
    noise: float  # at most this pixel noise standard deviation (0-255 scale)
    blur: float  # at most this Gaussian blur radius, in output pixels
    occluders: int = 0  # at most this many blobs and strokes drawn over the object
    styles: tuple[str, ...] = ("solid",)  # how the object is drawn: solid | outline | striped
    inverted: float = 0.0  # the share of images drawn dark on light (negated)
    distractors: tuple[str, ...] = ()  # shapes of other classes drawn smaller beside the object
    distractor_count: int = 0  # at most this many of them
    distractor_scale: tuple[float, float] = (0.1, 0.18)


TASKS = {
    "target": Recipe(
        classes=("star4", "star6"),
        per_class=100,
        validation_per_class=200,
        test_per_class=500,
        scale=(0.25, 0.40),
        aspect=(1.0, 1.8),
        clutter=3,
        noise=14.0,
        blur=0.6,
        occluders=1,
        styles=("solid", "outline", "striped"),
        inverted=0.5,
        distractors=("triangle", "pentagon", "hexagon", "cross", "arrow", "heart", "crescent",
                     "trapezoid", "semicircle"),
        distractor_count=1,
    ),
    "source": Recipe(
        classes=("triangle", "pentagon", "hexagon", "star", "cross", "arrow", "heart", "crescent",
                 "trapezoid", "semicircle"),
        per_class=400,
        validation_per_class=60,
        test_per_class=60,
        scale=(0.18, 0.40),
        aspect=(1.0, 1.6),
        clutter=4,
        noise=14.0,
        blur=0.6,
        styles=("solid", "outline", "striped"),
        inverted=0.5,
    ),
}
DEFAULT_SEED = 0
DEFAULT_IMAGE_SIZE = 64


def _regular(n: int, inner: float | None = None) -> np.ndarray:
    """A regular n-gon (or an n-pointed star when `inner` is given), radius 1."""
    if inner is None:
        t = np.linspace(0, 2 * np.pi, n, endpoint=False) - np.pi / 2
        return np.stack([np.cos(t), np.sin(t)], axis=1)
    t = np.linspace(0, 2 * np.pi, 2 * n, endpoint=False) - np.pi / 2
    r = np.where(np.arange(2 * n) % 2 == 0, 1.0, inner)
    return np.stack([r * np.cos(t), r * np.sin(t)], axis=1)


def _outline(name: str) -> np.ndarray:
    """The polygon of a class, centred on the origin, roughly within the unit disc."""
    t = np.linspace(0, 2 * np.pi, 96, endpoint=False)
    polygons = {"triangle": 3, "square": 4, "pentagon": 5, "hexagon": 6, "heptagon": 7, "octagon": 8}
    if name in polygons:
        return _regular(polygons[name])
    if name == "star":
        return _regular(5, inner=0.45)
    if name.startswith("star") and name[4:].isdigit():  # star4 ... star8
        return _regular(int(name[4:]), inner=0.45)
    if name == "ellipse":
        return np.stack([np.cos(t), np.sin(t)], axis=1)
    if name == "rectangle":
        return np.array([[-1, -1], [1, -1], [1, 1], [-1, 1]], float) * 0.8
    if name == "trapezoid":
        return np.array([[-1, 0.6], [1, 0.6], [0.45, -0.6], [-0.45, -0.6]])
    if name == "parallelogram":
        return np.array([[-1, 0.55], [0.45, 0.55], [1, -0.55], [-0.45, -0.55]])
    if name == "semicircle":
        half = np.linspace(0, np.pi, 48)
        return np.stack([np.cos(half), np.sin(half) - 0.4], axis=1)
    if name == "cross":
        a, b = 1.0, 0.33
        return np.array([[-b, -a], [b, -a], [b, -b], [a, -b], [a, b], [b, b],
                         [b, a], [-b, a], [-b, b], [-a, b], [-a, -b], [-b, -b]])
    if name == "arrow":
        return np.array([[-1, -0.3], [0.2, -0.3], [0.2, -0.7], [1, 0],
                         [0.2, 0.7], [0.2, 0.3], [-1, 0.3]])
    if name == "heart":
        x = 16 * np.sin(t) ** 3
        y = -(13 * np.cos(t) - 5 * np.cos(2 * t) - 2 * np.cos(3 * t) - np.cos(4 * t))
        return np.stack([x, y], axis=1) / 17
    if name == "crescent":
        # the left half of the unit circle, then back along a smaller offset arc
        outer = np.linspace(np.pi / 2, 3 * np.pi / 2, 48)
        inner = np.linspace(3 * np.pi / 2, np.pi / 2, 48)
        return np.concatenate([np.stack([np.cos(outer), np.sin(outer)], axis=1),
                               np.stack([0.45 * np.cos(inner), np.sin(inner)], axis=1)])
    raise ValueError(f"unknown shape {name!r}")


def _background(rng: np.random.Generator, big: int) -> Image.Image:
    """A two-colour gradient with a random texture: stripes, blotches or a grid.

    The colours are dark (channels below 100) and the object is bright (render), so the
    object's edges have a consistent contrast; with fully random colours on both sides a
    small convnet trained from scratch hardly learns the shapes from a few hundred images.
    The blotches are dark tints of the background, so they do not pass for the object.
    """
    c0, c1 = rng.uniform(0, 100, 3), rng.uniform(0, 100, 3)
    angle = rng.uniform(0, 2 * np.pi)
    # Smooth patterns: computed at the output size and enlarged, 16 times fewer pixels.
    small = big // SUPERSAMPLE
    axis = (np.arange(small, dtype=np.float32) + 0.5) / small
    xx, yy = axis[None, :], axis[:, None]
    ramp = np.cos(angle) * xx + np.sin(angle) * yy
    ramp = (ramp - ramp.min()) / max(np.ptp(ramp), 1e-6)
    pixels = c0 + (c1 - c0) * ramp[..., None]
    kind = rng.integers(3)
    if kind == 0:  # stripes
        freq, phase, theta = rng.uniform(3, 12), rng.uniform(0, 2 * np.pi), rng.uniform(0, np.pi)
        wave = np.sin(2 * np.pi * freq * (np.cos(theta) * xx + np.sin(theta) * yy) + phase)
        pixels += rng.uniform(10, 40) * wave[..., None]
    elif kind == 1:  # checker grid
        cells = rng.integers(3, 9)
        grid = ((xx * cells).astype(int) + (yy * cells).astype(int)) % 2
        pixels += rng.uniform(10, 35) * (grid[..., None] - 0.5)
    image = Image.fromarray(np.clip(pixels, 0, 255).astype(np.uint8)).resize((big, big), Image.BILINEAR)
    if kind == 2:  # soft blotches
        draw = ImageDraw.Draw(image)
        for _ in range(rng.integers(4, 10)):
            x, y, r = rng.uniform(0, big), rng.uniform(0, big), rng.uniform(0.05, 0.2) * big
            tint = tuple(int(v) for v in np.clip(c0 + rng.normal(0, 30, 3), 0, 255))
            draw.ellipse([x - r, y - r, x + r, y + r], fill=tint)
    return image


def _clutter(rng: np.random.Generator, draw: ImageDraw.ImageDraw, big: int, count: int) -> None:
    """Lines and small dots that belong to no class: things to be distracted by."""
    for _ in range(rng.integers(0, count + 1)):
        colour = tuple(int(v) for v in rng.uniform(0, 255, 3))
        x, y = rng.uniform(0, big, 2)
        if rng.random() < 0.5:
            length, angle = rng.uniform(0.1, 0.35) * big, rng.uniform(0, 2 * np.pi)
            end = (x + length * np.cos(angle), y + length * np.sin(angle))
            draw.line([(x, y), end], fill=colour, width=int(rng.uniform(0.01, 0.03) * big) + 1)
        else:
            r = rng.uniform(0.02, 0.05) * big
            draw.ellipse([x - r, y - r, x + r, y + r], fill=colour)


def _occlude(rng: np.random.Generator, draw: ImageDraw.ImageDraw, points: np.ndarray,
             background_mean: np.ndarray, big: int, count: int) -> None:
    """Blobs and strokes over the object: they hide parts of its outline (corners, arcs).

    Each lands on a random point of the object's outline; most take a dark tint of the
    background, so they bite into the silhouette, the rest a random colour.
    """
    for _ in range(rng.integers(0, count + 1)):
        i = rng.integers(len(points))  # a random point of the outline, on edge i
        x, y = points[i] + rng.random() * (points[(i + 1) % len(points)] - points[i])
        x, y = (x, y) + rng.normal(0, 0.03 * big, 2)
        dark = rng.random() < 0.7
        colour = tuple(int(v) for v in (np.clip(background_mean + rng.normal(0, 20, 3), 0, 255)
                                         if dark else rng.uniform(0, 255, 3)))
        if rng.random() < 0.6:
            r = rng.uniform(0.04, 0.09) * big
            draw.ellipse([x - r, y - r, x + r, y + r], fill=colour)
        else:
            length, angle = rng.uniform(0.15, 0.4) * big, rng.uniform(0, 2 * np.pi)
            start = (x - 0.5 * length * np.cos(angle), y - 0.5 * length * np.sin(angle))
            end = (x + 0.5 * length * np.cos(angle), y + 0.5 * length * np.sin(angle))
            draw.line([start, end], fill=colour, width=int(rng.uniform(0.02, 0.05) * big) + 1)


def _place(rng: np.random.Generator, name: str, aspect, scale, big: int) -> np.ndarray:
    """A class's outline stretched, rotated, scaled and moved to a random spot in the frame."""
    points = _outline(name) * [rng.uniform(*aspect), 1.0]
    angle = rng.uniform(0, 2 * np.pi)
    rotation = np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
    points = points @ rotation.T
    points *= rng.uniform(*scale) * big / max(np.abs(points).max(), 1e-6)
    half = np.abs(points).max(axis=0)
    return points + rng.uniform(half, big - half)


def _paint(rng: np.random.Generator, image: Image.Image, points: np.ndarray, style: str,
           background_mean: np.ndarray, big: int) -> None:
    """Draw a shape in one style: solid, outline only, or filled with stripes."""
    colour = rng.uniform(160, 255, 3)  # bright, over the dark background
    while np.abs(colour - background_mean).sum() < 150:  # keep the object visible
        colour = rng.uniform(160, 255, 3)
    fill = tuple(int(v) for v in colour)
    polygon = [tuple(p) for p in points]
    draw = ImageDraw.Draw(image)
    if style == "solid":
        draw.polygon(polygon, fill=fill)
    elif style == "outline":
        draw.polygon(polygon, outline=fill, width=int(rng.uniform(0.025, 0.045) * big) + 1)
    elif style == "striped":  # stripes of the colour and a darker one, at a random angle
        mask = Image.new("L", image.size)
        ImageDraw.Draw(mask).polygon(polygon, fill=255)
        axis = np.arange(big, dtype=np.float32) / big
        theta, freq = rng.uniform(0, np.pi), rng.uniform(6, 12)
        wave = np.sin(2 * np.pi * freq * (np.cos(theta) * axis[None, :] + np.sin(theta) * axis[:, None])) > 0
        stripes = np.where(wave[..., None], colour, colour * rng.uniform(0.3, 0.6))
        image.paste(Image.fromarray(stripes.astype(np.uint8)), mask=mask)
        draw.polygon(polygon, outline=fill, width=max(1, big // 64))
    else:
        raise ValueError(f"unknown style {style!r}")


def render(recipe: Recipe, label: int, rng: np.random.Generator, size: int):
    """One image of class `label` and the object's box (x_min, y_min, x_max, y_max)."""
    big = size * SUPERSAMPLE
    image = _background(rng, big)
    background_mean = np.array(ImageStat.Stat(image).mean)
    _clutter(rng, ImageDraw.Draw(image), big, recipe.clutter)
    # Smaller shapes of other classes first, so the object is drawn over them.
    for _ in range(rng.integers(0, recipe.distractor_count + 1)):
        name = recipe.distractors[rng.integers(len(recipe.distractors))]
        other = _place(rng, name, recipe.aspect, recipe.distractor_scale, big)
        _paint(rng, image, other, recipe.styles[rng.integers(len(recipe.styles))], background_mean, big)

    points = _place(rng, recipe.classes[label], recipe.aspect, recipe.scale, big)
    _paint(rng, image, points, recipe.styles[rng.integers(len(recipe.styles))], background_mean, big)
    if recipe.occluders:
        _occlude(rng, ImageDraw.Draw(image), points, background_mean, big, recipe.occluders)

    image = image.resize((size, size), Image.LANCZOS)
    image = image.filter(ImageFilter.GaussianBlur(rng.uniform(0, recipe.blur)))
    pixels = np.asarray(image, float) + rng.normal(0, rng.uniform(0, recipe.noise), (size, size, 3))
    if rng.random() < recipe.inverted:  # dark on light: every edge changes sign
        pixels = 255 - pixels
    box = np.concatenate([points.min(axis=0), points.max(axis=0)]) / SUPERSAMPLE
    return Image.fromarray(np.clip(pixels, 0, 255).astype(np.uint8)), np.round(box, 1)


def _encode_jpeg(image: Image.Image) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format="JPEG", quality=92)
    return buffer.getvalue()


def generate(directory: str | os.PathLike, task: str = "target", seed: int = DEFAULT_SEED,
             per_class: int | None = None, image_size: int = DEFAULT_IMAGE_SIZE) -> Path:
    """Write `directory/{train,validation,test}/<class>/*.jpg`, boxes.csv, dataset.json.

    The directory must not exist yet; it appears whole (built aside, then renamed), so
    an interrupted run never leaves half a dataset. The same arguments give the same
    bytes.
    """
    target = Path(directory)
    if task not in TASKS:
        raise DataError(f"unknown task {task!r}; choose one of: {', '.join(TASKS)}")
    if target.exists():
        raise DataError(f"{target} already exists; choose a new directory (nothing is overwritten)")
    if image_size < 16 or (per_class is not None and per_class < 1):
        raise DataError(f"need image_size >= 16 and per_class >= 1. "
                        f"Received: image_size={image_size}, per_class={per_class}")
    recipe = TASKS[task]
    counts = {"train": per_class or recipe.per_class,
              "validation": per_class or recipe.validation_per_class,
              "test": per_class or recipe.test_per_class}
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise DataError(f"cannot create {target}: {error.strerror or error} ({error.filename})") from None
    staging = Path(tempfile.mkdtemp(prefix=f".{target.name}.", dir=target.parent))
    try:
        rows = []
        for split_index, split in enumerate(SPLITS):
            for label, name in enumerate(recipe.classes):
                folder = staging / split / name
                folder.mkdir(parents=True)
                for i in range(counts[split]):
                    # One generator per image: any image can be regenerated on its own.
                    rng = np.random.default_rng([seed, list(TASKS).index(task), split_index, label, i])
                    image, box = render(recipe, label, rng, image_size)
                    relative = f"{split}/{name}/{name}_{i:04d}.jpg"
                    (staging / relative).write_bytes(_encode_jpeg(image))
                    rows.append([relative, name, *box.tolist()])
        with open(staging / "boxes.csv", "w", newline="") as handle:
            writer = csv.writer(handle)
            writer.writerow(["path", "class", "x_min", "y_min", "x_max", "y_max"])
            writer.writerows(rows)
        info = {"task": task, "seed": seed, "image_size": image_size, "counts": counts,
                "generator_version": generator_version(task), "recipe": asdict(recipe)}
        (staging / "dataset.json").write_text(json.dumps(info, indent=2) + "\n")
        try:
            os.replace(staging, target)
        except OSError:
            if target.exists():  # made meanwhile by another process (parallel sweep trials)
                raise DataError(f"{target} already exists; choose a new directory "
                                "(nothing is overwritten)") from None
            raise
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return target


def generator_version(task: str) -> int:
    """The version of the code that draws `task`'s pictures."""
    return SOURCE_GENERATOR_VERSION if task == "source" else GENERATOR_VERSION


def builtin_dataset(cache_root: Path, task: str = "target") -> Path:
    """The built-in dataset of `task`, generated once into the cache and reused."""
    recipe = TASKS[task]
    key = json.dumps([generator_version(task), task, DEFAULT_SEED, DEFAULT_IMAGE_SIZE, asdict(recipe)])
    fingerprint = hashlib.sha256(key.encode()).hexdigest()[:12]
    path = cache_root / "data" / f"{task}-{fingerprint}"
    cache_entries.hold(path)  # read all through the run: `convcli cache prune` keeps it
    if not (path / "dataset.json").is_file():
        try:
            generate(path, task=task)
        except DataError:
            if not (path / "dataset.json").is_file():  # not a concurrent run's copy
                raise
    return path
