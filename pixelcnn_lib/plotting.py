"""Image grids, generation animations and mixture plots for the book and the command line."""

from __future__ import annotations

import numpy as np


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


def save_labelled_rows(path, rows, labels, scale=4):
    """Save a PNG with one labelled row of images per entry of ``rows``.

    rows: list of uint8 (N, H, W, C) arrays, all of the same N and shape.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    if len(rows) != len(labels):
        raise ValueError("give one label per row")
    fig, axes = plt.subplots(len(rows), 1, figsize=(max(4, rows[0].shape[0] * 0.9), 1.3 * len(rows) + 0.3),
                             squeeze=False)
    for ax, row, label in zip(axes[:, 0], rows, labels):
        grid = image_grid(row, columns=len(row), scale=1)
        ax.imshow(grid.squeeze(-1) if grid.shape[-1] == 1 else grid, cmap="gray", vmin=0, vmax=255,
                  interpolation="nearest")
        ax.set_ylabel(label, rotation=0, ha="right", va="center")
        ax.set_xticks([])
        ax.set_yticks([])
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def save_image_grid(path, images, scale=4):
    """Save uint8 (N, H, W, C) images as one PNG grid."""
    from PIL import Image

    grid = image_grid(images, scale=scale)
    Image.fromarray(grid.squeeze(-1) if grid.shape[-1] == 1 else grid).save(path)
