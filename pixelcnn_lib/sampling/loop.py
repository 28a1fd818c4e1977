"""What every sampler shares: the raster-order fill loop, step seeds, the channel update, writing a pixel.

A sampler is anything with ``start()``, ``row(canvas, i)`` and
``step(canvas, i, j, update, seed) -> canvas``; ``fill`` drives it over the
image in raster order, pixel by pixel and, for heads that draw the channels
of a pixel one pass at a time, pass by pass. The naive sampler
(``sampling/api.py``) and the cached one (``sampling/cached.py``) both run
through ``fill``, so they make the same draws from the same seeds.
"""

from __future__ import annotations

import numpy as np
from keras import ops

from .. import backend
from ..progress import rows


def channel_update(todo, channels, passes, p):
    """bool (B, C): the sub-pixels that pass ``p`` of a pixel draws, for the images in ``todo`` (B,).

    With one pass per pixel every channel is drawn at once; otherwise pass p
    draws channel p, given the channels drawn before it.
    """
    if passes == 1:
        return np.repeat(todo[:, None], channels, axis=1)
    update = np.zeros((len(todo), channels), bool)
    update[:, p] = todo
    return update


def step_seeds(base, count):
    """The seeds of the first ``count`` steps, a list: step k = position * passes + p gets (base0, base1 + k + 1).

    Pass ``p`` at raster ``position`` has the same seed in naive and cached sampling.
    """
    k = ops.arange(count, dtype="int32")
    return ops.unstack(ops.stack([ops.full((count,), base[0], dtype="int32"), base[1] + k + 1], axis=1))


def fill(sampler, canvas, unknown, seed, passes, progress=None):
    """Sample every unknown pixel of ``canvas`` in raster order with ``sampler``.

    canvas: uint8 numpy (B, H, W, C); unknown: bool numpy (B, H, W); passes:
    the head's passes per pixel. A sampler whose ``skips_known`` is true is
    not called at pixels known in every image (the naive one: its state is the
    canvas alone); a cached sampler sees every pixel, to store it.
    """
    _, h, w, c = canvas.shape
    seeds = step_seeds(backend.seed_pair(seed), h * w * passes)
    canvas = ops.convert_to_tensor(canvas)
    updates = {}  # one tensor per distinct update mask: most pixels share one
    sampler.start()
    for i in rows(h, "sampling", progress):
        sampler.row(canvas, i)
        for j in range(w):
            todo = unknown[:, i, j]
            if sampler.skips_known and not todo.any():
                continue
            for p in range(passes):
                key = (todo.tobytes(), p)
                if key not in updates:
                    updates[key] = ops.convert_to_tensor(channel_update(todo, c, passes, p))
                canvas = sampler.step(canvas, i, j, updates[key], seeds[(i * w + j) * passes + p])
    return ops.convert_to_numpy(canvas)
