"""Pictures from arrays: a heatmap coloured and laid over its image, and grids of tiles.

Everything here takes and returns NumPy arrays (uint8 RGB for pictures); reading and
writing files is the caller's job.
"""

from __future__ import annotations

import numpy as np
from matplotlib import colormaps
from PIL import Image


def colorize(values: np.ndarray, colormap: str = "jet") -> np.ndarray:
    """A (h, w) array of values in [0, 1] as a (h, w, 3) uint8 picture in a colour map."""
    rgba = colormaps[colormap](np.clip(values, 0.0, 1.0))
    return (rgba[..., :3] * 255).astype(np.uint8)


def overlay(image: np.ndarray, heatmap: np.ndarray, alpha: float = 0.4) -> np.ndarray:
    """The heatmap, resized to the image (bilinear) and coloured, blended over it.

    image: (H, W, 3) uint8 at its original resolution; heatmap: (h, w) in [0, 1].
    """
    height, width = image.shape[:2]
    coloured = colorize(upsample(heatmap, width, height)).astype(np.float32)
    blended = (1 - alpha) * image.astype(np.float32) + alpha * coloured
    return np.clip(blended, 0, 255).astype(np.uint8)


def upsample(heatmap: np.ndarray, width: int, height: int) -> np.ndarray:
    """A (h, w) heatmap resized (bilinear) to an image's width and height."""
    return np.asarray(Image.fromarray(np.float32(heatmap), mode="F").resize((width, height),
                                                                            Image.BILINEAR))


def tile(images, columns: int, gap: int = 2, background: int = 255) -> np.ndarray:
    """Same-sized (h, w, 3) uint8 pictures in a grid, `columns` wide, `gap` pixels apart."""
    images = [np.asarray(image) for image in images]
    height, width = images[0].shape[:2]
    columns = max(1, min(columns, len(images)))
    rows = -(-len(images) // columns)
    grid = np.full((rows * height + (rows - 1) * gap, columns * width + (columns - 1) * gap, 3),
                   background, np.uint8)
    for index, image in enumerate(images):
        top, left = (index // columns) * (height + gap), (index % columns) * (width + gap)
        grid[top:top + height, left:left + width] = image
    return grid


def fit(image: np.ndarray, size: int) -> np.ndarray:
    """A picture scaled (keeping its shape) and padded into a size x size square."""
    height, width = image.shape[:2]
    scale = size / max(height, width)
    resized = np.asarray(Image.fromarray(image).resize(
        (max(1, round(width * scale)), max(1, round(height * scale))), Image.BILINEAR))
    square = np.full((size, size, 3), 255, np.uint8)
    top, left = (size - resized.shape[0]) // 2, (size - resized.shape[1]) // 2
    square[top:top + resized.shape[0], left:left + resized.shape[1]] = resized
    return square
