"""Likelihood, ancestral sampling and completion with any model of the family.

Sampling is sequential: pixel by pixel in raster order and, for heads whose
channels are coupled inside the network (the 256-way softmax of PixelCNN),
channel by channel. ``method="naive"`` runs the whole model on the current
canvas at each step and draws only the next (sub-)pixel from the head;
``method="cached"`` (PixelSNAIL, Gated PixelCNN, PixelCNN++) keeps every layer's earlier
results and computes only the new position (``cached_sampling.py``). Both make
the same draws from the same seed, from parameters that agree up to float
rounding (which, very rarely, moves a draw sitting on a bin boundary by one level).
"""

from __future__ import annotations

import numpy as np
import tensorflow as tf

from .distributions import _seed_pair, to_unit_range
from .progress import rows
from .validation import check_images


def _check_model(model):
    if not hasattr(model, "head") or not hasattr(model, "image_shape"):
        raise TypeError(f"expected a model made by pl.build_model, got {type(model).__name__}")


def log_prob(model, images, per_pixel=False, batch_size=64):
    """Log-likelihood of uint8 images under ``model`` (dropout off).

    images: uint8 (B, H, W, C) matching ``model.image_shape``.
    Returns float32 numpy (B,) nats per image, or (B, H, W) with ``per_pixel``
    (channels summed).
    """
    _check_model(model)
    images = check_images(images, model.image_shape[-1])
    if tuple(images.shape[1:]) != model.image_shape:
        raise ValueError(f"images of shape {tuple(images.shape[1:])} do not match the model's {model.image_shape}")
    out = []
    for start in range(0, int(images.shape[0]), batch_size):
        chunk = images[start : start + batch_size]
        params = model(to_unit_range(chunk), training=False)
        out.append(model.head.log_prob(chunk, params))
    lp = tf.concat(out, axis=0) if out else tf.zeros((0, *model.image_shape[:2]))
    return (lp if per_pixel else tf.reduce_sum(lp, axis=[1, 2])).numpy()


def _sampling_step(model):
    """A compiled function: canvas, position, update mask, seed -> new canvas."""
    cached = getattr(model, "_pl_sampling_step", None)
    if cached is not None:
        return cached
    head = model.head

    @tf.function(reduce_retracing=True)
    def step(canvas, row, col, update, seed):
        # canvas uint8 (B,H,W,C); update bool (B,C): which sub-pixels of (row, col) to overwrite
        params = model(to_unit_range(canvas), training=False)
        pixel_params = params[:, row : row + 1, col : col + 1, :]
        drawn = head.sample(pixel_params, seed)[:, 0, 0, :]  # (B, C)
        current = canvas[:, row, col, :]
        new_pixel = tf.where(update, drawn, current)
        b = tf.shape(canvas)[0]
        indices = tf.stack([tf.range(b), tf.fill([b], row), tf.fill([b], col)], axis=1)
        return tf.tensor_scatter_nd_update(canvas, indices, new_pixel)

    model._pl_sampling_step = step
    return step


METHODS = ("naive", "cached")


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


def step_seed(base, position, passes, p):
    """The seed of pass ``p`` at raster ``position``: the same for naive and cached sampling."""
    return tf.stack([base[0], base[1] + position * passes + p + 1])


def _fill(model, canvas, unknown, seed, method="naive", progress=None):
    """Sample every unknown pixel of ``canvas`` in raster order.

    canvas: uint8 numpy (B, H, W, C); unknown: bool numpy (B, H, W).
    progress: a bar per row (see ``pixelcnn_lib.progress``).
    """
    if method not in METHODS:
        raise ValueError(f"method must be one of {METHODS}, got {method!r}")
    if method == "cached":
        from .cached_sampling import cached_sampler

        return cached_sampler(model, canvas.shape[0]).fill(canvas, unknown, seed, progress)
    step = _sampling_step(model)
    h, w, c = model.image_shape
    passes = model.head.passes_per_pixel
    base = _seed_pair(seed)
    canvas = tf.constant(canvas)
    for i in rows(h, "sampling", progress):
        for j in range(w):
            todo = unknown[:, i, j]
            if not todo.any():
                continue
            for p in range(passes):
                update = channel_update(todo, c, passes, p)
                seed_p = step_seed(base, i * w + j, passes, p)
                canvas = step(canvas, tf.constant(i), tf.constant(j), tf.constant(update), seed_p)
    return canvas.numpy()


def sample(model, num_images, seed=0, method="naive", progress=None):
    """Draw ``num_images`` new images, pixel by pixel. Returns uint8 (N, H, W, C).

    The same seed gives the same images for the same model and weights, with
    either ``method`` ("naive" or "cached"). ``progress``: a bar per row (True,
    False, or None for the default of ``pixelcnn_lib.progress``).
    """
    _check_model(model)
    if not isinstance(num_images, (int, np.integer)) or num_images < 1:
        raise ValueError(f"num_images must be a positive int, got {num_images!r}")
    h, w, c = model.image_shape
    canvas = np.zeros((num_images, h, w, c), np.uint8)
    return _fill(model, canvas, np.ones((num_images, h, w), bool), seed, method, progress)


def complete(model, images, known, seed=0, method="naive", progress=None):
    """Fill in the unknown pixels of ``images``, keeping every known pixel exactly.

    images: uint8 (B, H, W, C); known: bool (B, H, W), True where the pixel is
    given. Unknown pixels are sampled in raster order, each conditioned on all
    pixels before it (known or already sampled). Returns uint8 (B, H, W, C).
    ``progress`` as for ``sample``.
    """
    _check_model(model)
    images = check_images(images, model.image_shape[-1])
    if tuple(images.shape[1:]) != model.image_shape:
        raise ValueError(f"images of shape {tuple(images.shape[1:])} do not match the model's {model.image_shape}")
    known = np.asarray(known)
    if known.dtype != bool:
        raise TypeError(f"known must be a bool array (True = pixel is given), got dtype {known.dtype}")
    if known.shape != tuple(images.shape[:3]):
        raise ValueError(f"known must have shape (B, H, W) = {tuple(images.shape[:3])}, got {known.shape}")
    canvas = np.array(images, dtype=np.uint8)
    return _fill(model, canvas, ~known, seed, method, progress)
