"""One pixel at a time: the index tensors of a compiled step, drawing a pixel from a head, writing it to the canvas.

What every sampling step is made of, naive or cached: the models' ``sample_step`` and the samplers of
``pixelcnn_lib.sampling`` both use these.
"""

from __future__ import annotations

import functools

import numpy as np
from keras import ops


@functools.lru_cache(maxsize=4096)
def index(k):
    """The int32 scalar tensor ``k``, made once: a row or column index for a compiled step."""
    return ops.convert_to_tensor(np.int32(k))


def draw_pixel(head, params, canvas, i, j, update, seed, temperature=1.0):
    """The new pixel (i, j): drawn from ``params`` (B, P) at ``temperature`` where ``update`` (B, C) is set, else
    kept. (B, C) uint8."""
    drawn = head.sample(params[:, None, None, :], seed, temperature)[:, 0, 0, :]
    return ops.where(update, drawn, canvas[:, i, j, :])


def write_pixel(canvas, i, j, pixel):
    """The canvas (B, H, W, C) with ``pixel`` (B, C) written at (i, j)."""
    b = ops.shape(canvas)[0]  # a tensor under TensorFlow's relaxed shapes
    index = ops.stack([ops.arange(b, dtype="int32"), ops.full((b,), i, dtype="int32"),
                       ops.full((b,), j, dtype="int32")], axis=1)
    return ops.scatter_update(canvas, index, pixel)
