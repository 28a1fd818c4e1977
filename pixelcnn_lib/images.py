"""Image grids as arrays and PNG files: what the command line writes, and the pictures the book draws start from.

PIL only: no plotting library.
"""

from __future__ import annotations

import numpy as np
from PIL import Image


def image_grid(images, columns=None, pad=1, pad_value=255, scale=1):
    """uint8 (N, H, W, C) -> one uint8 (rows*(H+pad)-pad, cols*(W+pad)-pad, C) mosaic.

    ``scale`` repeats every pixel (nearest neighbour) so small images stay crisp.
    """
    images = np.asarray(images)
    if images.ndim != 4:
        raise ValueError(f"images must be (N, H, W, C), got shape {images.shape}")
    n, h, w, c = images.shape
    columns = columns or int(np.ceil(np.sqrt(n)))
    rows = int(np.ceil(n / columns))
    grid = np.full((rows * (h + pad) - pad, columns * (w + pad) - pad, c), pad_value, np.uint8)
    for k in range(n):
        r, col = divmod(k, columns)
        grid[r * (h + pad): r * (h + pad) + h, col * (w + pad): col * (w + pad) + w] = images[k]
    if scale > 1:
        grid = grid.repeat(scale, axis=0).repeat(scale, axis=1)
    return grid


def hide(images, known, fill=128):
    """Grey out the unknown pixels, for showing what a completion was given."""
    images = np.array(images, copy=True)
    images[~np.asarray(known)] = fill
    return images


def save_image_grid(path, images, scale=4):
    """Save uint8 (N, H, W, C) images as one PNG grid."""
    grid = image_grid(images, scale=scale)
    Image.fromarray(grid.squeeze(-1) if grid.shape[-1] == 1 else grid).save(path)


def save_labelled_rows(path, rows, labels, scale=4, pad=2):
    """Save a PNG with one row of images per entry of ``rows``, each with its label on the left.

    rows: list of uint8 (N, H, W, C) arrays, all of the same shape; labels: one string per row.
    """
    from PIL import ImageDraw, ImageFont

    if len(rows) != len(labels):
        raise ValueError(f"give one label per row: {len(rows)} rows, {len(labels)} labels")
    if not rows:
        raise ValueError("give at least one row of images")
    shapes = {tuple(np.shape(row)) for row in rows}
    if len(shapes) != 1:
        raise ValueError(f"all rows must have the same shape (N, H, W, C), got {sorted(shapes)}")
    strips = [image_grid(row, columns=len(row), scale=scale) for row in rows]
    font = ImageFont.load_default()
    draw = ImageDraw.Draw(Image.new("RGB", (1, 1)))
    margin = max(int(draw.textlength(str(label), font=font)) for label in labels) + 3 * pad
    height, width = strips[0].shape[0], strips[0].shape[1]
    picture = Image.new("RGB", (margin + width, len(strips) * (height + pad) - pad), "white")
    draw = ImageDraw.Draw(picture)
    for k, (strip, label) in enumerate(zip(strips, labels)):
        top = k * (height + pad)
        picture.paste(Image.fromarray(strip.squeeze(-1) if strip.shape[-1] == 1 else strip), (margin, top))
        draw.text((pad, top + height // 2), str(label), fill="black", font=font, anchor="lm")
    picture.save(path)
