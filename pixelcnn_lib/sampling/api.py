"""Likelihood, ancestral sampling and completion with any model of the family.

Sampling is sequential: pixel by pixel in raster order and, for heads whose
channels are coupled inside the network (the 256-way softmax of PixelCNN),
channel by channel. ``method="naive"`` runs the whole model on the current
canvas at each step and draws only the next (sub-)pixel from the head;
``method="cached"`` (PixelSNAIL, Gated PixelCNN, PixelCNN++) keeps every layer's earlier
results and computes only the new position (``cached.py``). Both run
through the one fill loop of ``loop.py`` and make
the same draws from the same seed, from parameters that agree up to float
rounding (which, very rarely, moves a draw sitting on a bin boundary by one level).
"""

from __future__ import annotations

import numpy as np
from keras import ops

from .. import backend
from ..compiled import per_model
from ..models.base import _inputs, model_labels
from ..nn.heads import check_temperature, to_unit_range
from ..nn.pixels import draw_pixel, index, write_pixel
from ..validation import check_images
from .cached import cached_sampler
from .loop import fill


def _check_model(model):
    if not hasattr(model, "head") or not hasattr(model, "image_shape"):
        raise TypeError(f"expected a model made by pl.build_model, got {type(model).__name__}")


def log_prob(model, images, per_pixel=False, batch_size=64, labels=None):
    """Log-likelihood of uint8 images under ``model`` (dropout off).

    images: uint8 (B, H, W, C) matching ``model.image_shape``. ``labels``:
    for a class-conditional model, the class of every image, int (B,) or
    class names, or one class for all (see ``model_labels``). Returns
    float32 numpy (B,) nats per image, or (B, H, W) with ``per_pixel``
    (channels summed).
    """
    _check_model(model)
    images = check_images(images, model.image_shape[-1])
    if tuple(images.shape[1:]) != model.image_shape:
        raise ValueError(f"images of shape {tuple(images.shape[1:])} do not match the model's {model.image_shape}")
    labels = model_labels(model, labels, int(images.shape[0]))
    out = []
    for start in range(0, int(images.shape[0]), batch_size):
        chunk = images[start : start + batch_size]
        chunk_labels = None if labels is None else labels[start : start + batch_size]
        params = model(_inputs(to_unit_range(chunk), chunk_labels), training=False)
        out.append(model.head.log_prob(chunk, params))
    lp = ops.concatenate(out, axis=0) if out else ops.zeros((0, *model.image_shape[:2]))
    return ops.convert_to_numpy(lp if per_pixel else ops.sum(lp, axis=[1, 2]))


def class_log_probs(model, images, batch_size=64):
    """log p(x | class) of every image under every class of a class-conditional model: float numpy (B, K) nats.

    Bayes' rule turns it into a classifier: with equal priors, the most
    likely class of x is the argmax over the row; the class summed out,
    log p(x) = logsumexp over the row - log K.
    """
    _check_model(model)
    if not getattr(model, "conditional", False):
        raise ValueError(f"class_log_probs needs a class-conditional model; this {model.model_name} is unconditional")
    images = np.asarray(check_images(images, model.image_shape[-1]))
    count = len(images)
    return np.stack([log_prob(model, images, batch_size=batch_size, labels=np.full(count, k))
                     for k in range(model.num_classes)], axis=1)


def _sampling_step(model):
    """A compiled function: canvas, position, update mask, seed -> new canvas."""
    head = model.head

    def step(model_call, canvas, row, col, update, seed, labels, temperature):
        # canvas uint8 (B,H,W,C); update bool (B,C): which sub-pixels of (row, col) to overwrite; labels (B,) or None
        params = model_call(_inputs(to_unit_range(canvas), labels))
        pixel = draw_pixel(head, params[:, row, col, :], canvas, row, col, update, seed, temperature)
        return write_pixel(canvas, row, col, pixel)

    return per_model(model, "sampling step", lambda: backend.stateless_model_function(model, step))


class NaiveSampler:
    """The whole model on the whole canvas at every step; only the next (sub-)pixel is drawn."""

    skips_known = True  # the canvas is its only state

    def __init__(self, model, labels=None, temperature=1.0):
        self._step = _sampling_step(model)
        self.labels = None if labels is None else ops.convert_to_tensor(labels)
        self.temperature = check_temperature(temperature)

    def start(self):
        pass

    def row(self, canvas, i):
        pass

    def step(self, canvas, i, j, update, seed):
        return self._step(canvas, index(i), index(j), update, seed, self.labels, self.temperature)


METHODS = ("naive", "cached")


def _fill(model, canvas, unknown, seed, method="naive", progress=None, labels=None, temperature=1.0):
    """Sample every unknown pixel of ``canvas`` in raster order.

    canvas: uint8 numpy (B, H, W, C); unknown: bool numpy (B, H, W); labels:
    int32 numpy (B,) or None; progress: a bar per row (see ``pixelcnn_lib.progress``).
    """
    if method not in METHODS:
        raise ValueError(f"method must be one of {METHODS}, got {method!r}")
    check_temperature(temperature)
    if method == "cached":
        return cached_sampler(model, canvas.shape[0]).fill(canvas, unknown, seed, progress, labels, temperature)
    sampler = NaiveSampler(model, labels, temperature)
    return fill(sampler, canvas, unknown, seed, model.head.passes_per_pixel, progress)


def sample(model, num_images, seed=0, method="naive", progress=None, labels=None, temperature=1.0):
    """Draw ``num_images`` new images, pixel by pixel. Returns uint8 (N, H, W, C).

    The same seed gives the same images for the same model and weights, with
    either ``method`` ("naive" or "cached"). ``labels``: for a class-
    conditional model, the class of every image (int (N,) or class names), or
    one class (an int or a name) for all. ``temperature``: see the head's
    ``sample`` (the logistic mixture divides its logits by T and multiplies
    its scales by T; the softmax divides its logits by T); 1 draws from the
    model itself. ``progress``: a bar per row (True, False, or None for the
    default of ``pixelcnn_lib.progress``).
    """
    _check_model(model)
    if isinstance(num_images, bool) or not isinstance(num_images, (int, np.integer)) or num_images < 1:
        raise ValueError(f"num_images must be a positive int, got {num_images!r}")
    labels = model_labels(model, labels, int(num_images))
    h, w, c = model.image_shape
    canvas = np.zeros((num_images, h, w, c), np.uint8)
    return _fill(model, canvas, np.ones((num_images, h, w), bool), seed, method, progress, labels, temperature)


def complete(model, images, known, seed=0, method="naive", progress=None, labels=None, temperature=1.0):
    """Fill in the unknown pixels of ``images``, keeping every known pixel exactly.

    images: uint8 (B, H, W, C); known: bool (B, H, W), True where the pixel is
    given. Unknown pixels are sampled in raster order, each conditioned on all
    pixels before it (known or already sampled). Returns uint8 (B, H, W, C).
    ``labels``, ``temperature`` and ``progress`` as for ``sample``.
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
    labels = model_labels(model, labels, int(images.shape[0]))
    canvas = np.array(images, dtype=np.uint8)
    return _fill(model, canvas, ~known, seed, method, progress, labels, temperature)
