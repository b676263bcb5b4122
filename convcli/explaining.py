"""The commands that show what a network learned: from what the user names to files.

Each function takes the command line's values, resolves the model (resolve.py), does
the work with `explain/` through `pictures.py`, and returns what the CLI prints.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from convcli.config import load_config
from convcli.errors import ConfigError
from convcli.explain.gradcam import GradCam
from convcli.explain.overlay import tile
from convcli.pictures import check_layer, expand, model_inputs, read_image, save_png, write_gradcam
from convcli.resolve import class_index, explained_model


def gradcam(images: list[Path], run: str | None, model_file: Path | None, layer: str | None,
            class_: str | None, alpha: float, out: Path, runs_dir: Path):
    """Heatmaps for every image into `out`; (results, class names, model title)."""
    paths = expand(images)
    model, class_names, image_size, title = explained_model(run, model_file, runs_dir)
    chosen = class_index(class_, class_names)
    if layer is not None:
        check_layer(model, layer, "--layer")
    results = write_gradcam(GradCam(model, layer), paths, image_size, out, alpha, chosen)
    return results, class_names, title


def augment_preview(config: Path, image: Path, count: int, out: Path, overrides=()) -> Path:
    """A grid: the image as the model sees it, then `count` augmented versions of it."""
    from convcli.data.pipeline import make_augmenter

    cfg = load_config(config, overrides)
    if cfg.augment is None:
        raise ConfigError(f"{config} has no augment section: training with it sees the images "
                          "as they are; add one (augment: {} takes the book's values)")
    [path] = expand([image])
    read_image(path)  # checked before decoding: exists, a readable format, not a bomb
    original = model_inputs([path], cfg.data.image_size)
    augmenter = make_augmenter(cfg.augment, cfg.seed)
    augmented = np.asarray(augmenter(np.repeat(original, count, axis=0), training=True))
    pictures = [np.clip(p, 0, 255).astype(np.uint8) for p in np.concatenate([original, augmented])]
    target = out / f"{path.stem}_augmented.png"
    save_png(tile(pictures, columns=min(8, count + 1), gap=2), target)
    return target
