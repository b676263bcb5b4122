"""Image files: the images a user hands in, read safely, and the PNGs made from them.

Every image convcli reads for a person (gradcam, activations) is checked first: it
exists, Pillow recognises it, it is a format training reads too, and it is not a
decompression bomb (Pillow only warns at its own limit; TensorFlow's decoders have
none). The model sees it through the pipeline's resize path, the same as in training;
overlays are drawn on the original, at its own resolution. Files are written atomically.
"""

from __future__ import annotations

import csv
import warnings
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, UnidentifiedImageError

from convcli.data.image_check import MAX_PIXELS
from convcli.data.folders import list_images
from convcli.data.pipeline import load_image
from convcli.errors import ConfigError, DataError
from convcli.explain.gradcam import GradCam, feature_map_layers, pointing_game
from convcli.explain.overlay import fit, overlay, tile
from convcli.files import atomic_path

READABLE = {"JPEG": "jpeg", "PNG": "png", "GIF": "gif", "BMP": "bmp"}  # what training decodes


def expand(arguments: list[Path]) -> list[Path]:
    """Image files from the command line: files as given, folders by their images."""
    paths = []
    for argument in arguments:
        if argument.is_dir():
            found = [Path(p) for p in list_images(argument)]
            if not found:
                raise DataError(f"folder {argument} holds no images ({', '.join(READABLE.values())})")
            paths += found
        elif not argument.exists():
            raise DataError(f"image {argument} does not exist")
        else:
            paths.append(argument)
    return paths


def one_image(argument: Path) -> Path:
    """The one image file a command takes (a folder is a DataError, not the first image)."""
    if argument.is_dir():
        raise DataError(f"{argument} is a folder; this command takes one image file")
    return expand([argument])[0]


def read_image(path: Path) -> np.ndarray:
    """The image as (height, width, 3) uint8 at its own resolution, or a DataError."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            with Image.open(path) as image:
                if image.format not in READABLE:
                    raise DataError(f"{path} is a {image.format} image; convcli reads "
                                    f"{', '.join(READABLE.values())}, as training does")
                width, height = image.size
                if width * height > MAX_PIXELS:
                    raise DataError(f"{path} is too large to decode safely ({width}x{height} "
                                    f"pixels; the limit is {MAX_PIXELS:,})")
                return np.asarray(image.convert("RGB"))
    except Image.DecompressionBombError as error:  # Pillow's own refusal, at twice its limit
        raise DataError(f"{path} is too large to decode safely ({error})") from None
    except UnidentifiedImageError:
        raise DataError(f"{path} is not an image convcli can read") from None
    except OSError as error:  # truncated or damaged data
        raise DataError(f"{path} is damaged and cannot be decoded ({error})") from None


def check_layer(model, name: str, option: str) -> None:
    """A ConfigError naming the candidates unless `name` is a 4-D feature map of the model."""
    candidates = feature_map_layers(model)
    if name not in candidates:
        shown = ", ".join(candidates[-20:]) + (f" (and {len(candidates) - 20} earlier)"
                                                if len(candidates) > 20 else "")
        raise ConfigError(f"{option} {name!r} names no layer with a 4-D feature map in model "
                          f"{model.name}; candidates: {shown}")


def model_inputs(paths: list[Path], image_size: tuple[int, int], channels: int = 3) -> np.ndarray:
    """The images as the model sees them: decoded, resized and (1 channel) made gray as in
    training, [0, 255], with the model's channels (3, or 1 for a grayscale model)."""
    return np.stack([load_image(str(path), image_size, channels).numpy() for path in paths])


def input_channels(model) -> int:
    """The channels of a model's input images: 3 (colour) or 1 (grayscale)."""
    return int(model.inputs[0].shape[-1])


def save_png(picture: np.ndarray, path: Path) -> None:
    with atomic_path(path) as temp:
        Image.fromarray(picture).save(temp, format="PNG")


def write_gradcam(cam: GradCam, paths: list[Path], image_size: tuple[int, int], out: Path,
                  alpha: float = 0.4, class_index: int | None = None, batch_size: int = 32,
                  keep_overlays: bool = False) -> list[dict]:
    """For every image: `<stem>.png` (the heatmap over the original) and `<stem>.npy`.

    Returns per image: its path, the class explained, the probabilities, the heatmap
    and (keep_overlays) the overlay picture. Images are read a batch at a time, so a
    folder of large photos never sits in memory whole.
    """
    for path in paths:
        read_image(path)  # every file checked before any is explained or written
    results, taken = [], set()
    for start in range(0, len(paths), batch_size):
        chunk = paths[start:start + batch_size]
        heatmaps, probabilities = cam(model_inputs(chunk, image_size, input_channels(cam.tapped)),
                                      None if class_index is None else [class_index] * len(chunk))
        for path, heatmap, probability in zip(chunk, heatmaps, probabilities):
            stem, picture = _unique(path.stem, taken), overlay(read_image(path), heatmap, alpha)
            save_png(picture, out / f"{stem}.png")
            with atomic_path(out / f"{stem}.npy") as temp:
                np.save(temp, heatmap)
            results.append({"path": path, "heatmap": heatmap, "probabilities": probability,
                            "class": int(np.argmax(probability)) if class_index is None else class_index,
                            **({"overlay": picture} if keep_overlays else {})})
    return results


def _unique(stem: str, taken: set) -> str:
    name, number = stem, 2
    while name in taken:
        name, number = f"{stem}-{number}", number + 1
    taken.add(name)
    return name


def contact_sheet(results: list[dict], class_names: list[str], path: Path, size: int = 128,
                  labels: list[str] | None = None) -> None:
    """One PNG of every overlay, captioned `true -> predicted p` (or `predicted p`)."""
    tiles = []
    for index, result in enumerate(results):
        picture = Image.new("RGB", (size, size + 14), "white")
        picture.paste(Image.fromarray(fit(result["overlay"], size)), (0, 0))
        predicted = int(np.argmax(result["probabilities"]))
        caption = f"{class_names[predicted]} {result['probabilities'][predicted]:.2f}"
        if labels:
            caption = f"{labels[index]} -> {caption}"
        ImageDraw.Draw(picture).text((2, size + 1), caption, fill="black")
        tiles.append(np.asarray(picture))
    save_png(tile(tiles, columns=4, gap=4), path)


def object_boxes(paths: list[Path]) -> dict[Path, tuple] | None:
    """The objects' boxes of built-in images (boxes.csv at the dataset's root), if any."""
    root = Path(paths[0]).parents[2] if paths else None  # root/split/class/image.jpg
    if root is None or not (root / "boxes.csv").is_file():
        return None
    with open(root / "boxes.csv", newline="") as handle:
        boxes = {root / row["path"]: tuple(float(row[k]) for k in ("x_min", "y_min", "x_max", "y_max"))
                 for row in csv.DictReader(handle)}
    return boxes if all(Path(p) in boxes for p in paths) else None


POINTING_IMAGES = 300  # a standard error of ~3 points; bigger folders are sampled (seeded)
HARDEST = 6  # the hardest examples a run page shows, from the same scored sample


def pointing_score(cam: GradCam, paths: list[Path], heatmaps: np.ndarray) -> dict | None:
    """Where Grad-CAM points, on images whose object boxes are known: the pointing game."""
    boxes = object_boxes(paths)
    if boxes is None:
        return None
    sizes = []
    for path in paths:
        with Image.open(path) as image:  # reads the header only
            sizes.append(image.size)
    chosen = [boxes[Path(p)] for p in paths]
    score = pointing_game(heatmaps, sizes, chosen)
    # What pointing at a random pixel would score: the boxes' mean share of the image.
    chance = np.mean([(x1 - x0) * (y1 - y0) / (w * h) for (x0, y0, x1, y1), (w, h) in zip(chosen, sizes)])
    return {"score": round(score, 4), "chance": round(float(chance), 4), "images": len(paths),
            "layer": cam.layer}


def image_entry(path: Path, probabilities: np.ndarray, true: int, class_names: list[str]) -> dict:
    """What a page captions an image with: `true → predicted (probability)`, and its loss."""
    predicted = int(np.argmax(probabilities))
    loss = -float(np.log(max(float(probabilities[true]), 1e-7)))  # the cross-entropy of this image
    return {"image": Path(path).name, "true": class_names[true], "predicted": class_names[predicted],
            "probability": round(float(probabilities[predicted]), 4), "loss": round(loss, 4)}


def write_hardest(paths: list[Path], labels: list[int], heatmaps: np.ndarray, probabilities: np.ndarray,
                  class_names: list[str], out: Path) -> list[dict]:
    """The HARDEST highest-loss images' overlays into `out` (fastai's top losses), hardest first."""
    entries = [image_entry(p, q, t, class_names) for p, q, t in zip(paths, probabilities, labels)]
    order = sorted(range(len(entries)), key=lambda i: -entries[i]["loss"])[:HARDEST]
    out.mkdir(parents=True, exist_ok=True)
    taken: set = set()
    for i in order:
        stem = _unique(paths[i].stem, taken)
        entries[i]["image"] = f"{stem}{paths[i].suffix}"
        save_png(overlay(read_image(paths[i]), heatmaps[i]), out / f"{stem}.png")
        with atomic_path(out / f"{stem}.npy") as temp:
            np.save(temp, heatmaps[i])
    return [entries[i] for i in order]


def explain_validation(model, files, image_size: tuple[int, int], out: Path, count: int,
                       layer: str | None, seed: int) -> dict:
    """The end of a run: Grad-CAM of `count` sampled validation images into `out`, a
    contact sheet of them; then one Grad-CAM pass over (up to POINTING_IMAGES of) the
    validation images for the pointing game (images with boxes) and the hardest examples."""
    cam = GradCam(model, layer)
    split, names = files.validation, files.class_names
    chosen = sorted(np.random.default_rng(seed).choice(len(split), min(count, len(split)), replace=False))
    paths = [Path(split.paths[i]) for i in chosen]
    results = write_gradcam(cam, paths, image_size, out, keep_overlays=True)
    contact_sheet(results, names, out / "contact_sheet.png", labels=[names[split.labels[i]] for i in chosen])
    record = {"layer": cam.layer, "images": [
        image_entry(r["path"], r["probabilities"], split.labels[i], names) | {"image": f"{r['path'].name}"}
        for r, i in zip(results, chosen)]}
    scored = sorted(np.random.default_rng(seed).permutation(len(split))[:POINTING_IMAGES])
    scored_paths = [Path(split.paths[i]) for i in scored]
    heatmaps, probabilities = cam(model_inputs(scored_paths, image_size, input_channels(cam.tapped)))
    pointing = pointing_score(cam, scored_paths, heatmaps)
    if pointing is not None:
        record["pointing_game"] = pointing
    record["hardest"] = write_hardest(scored_paths, [split.labels[i] for i in scored], heatmaps,
                                      probabilities, names, out / "hardest")
    record["hardest_pool"] = len(scored_paths)
    return record
