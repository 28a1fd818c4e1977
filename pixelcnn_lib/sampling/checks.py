"""Runaway samples, measured, and a check of the whole fill loop.

A sample "runs away" when one draw lands in a tail of its distribution and
every later pixel, conditioned on it, follows it into images the data never
shows (saturated confetti). The draws are still what the model predicts, so
this is the model's failure, not the sampler's; these functions tell the two
apart:

* ``sample_bits_per_dim``: each sample's own bits/dim under the model;
  ``runaway_share``: the share of samples whose own bits/dim exceeds the
  held-out figure by a margin (images the model itself finds unlikely);
* ``vivid_share``: the share of pixels of strongly saturated colour, to hold
  against the same share in real images;
* ``fill_loop_check``: averaged over many samples, the bits of each drawn
  value equal the entropy of the distribution it was drawn from, if and only
  if the fill loop draws every pixel from the model's conditional at that
  pixel (the right position, the right prefix, the right temperature).
"""

from __future__ import annotations

import math

import numpy as np
from keras import ops

from ..models.base import model_labels
from ..nn.heads import bits_per_dim, to_unit_range
from .api import log_prob, sample


def sample_bits_per_dim(model, images, labels=None, batch_size=64):
    """Bits/dim of each image under ``model``: float numpy (B,). ``labels`` as for ``pl.log_prob``."""
    nats = log_prob(model, images, batch_size=batch_size, labels=labels)
    return np.array([bits_per_dim(-n, model.image_shape) for n in nats])


def runaway_share(sample_bpd, reference_bpd, margin=1.0):
    """The share of samples whose own bits/dim exceeds ``reference_bpd`` (the model's held-out figure) by more
    than ``margin`` bits/dim: images the model itself finds far less likely than real ones."""
    sample_bpd = np.asarray(sample_bpd, np.float64)
    if sample_bpd.ndim != 1 or not len(sample_bpd):
        raise ValueError(f"sample_bpd must be a non-empty 1-D array, got shape {sample_bpd.shape}")
    return float(np.mean(sample_bpd > reference_bpd + margin))


def vivid_share(images, saturation=0.9, value=0.4):
    """The share of pixels of vivid colour: HSV saturation >= ``saturation`` and value >= ``value``.

    images: uint8 (B, H, W, 3). Saturation is (max - min) / max of a pixel's
    channels, value is max / 255: pure reds, yellows, blues and greens score
    high, greys, whites and blacks zero. Compare a sample set's share with
    real images'.
    """
    images = np.asarray(images)
    if images.ndim != 4 or images.shape[-1] != 3:
        raise ValueError(f"vivid_share needs RGB images (B, H, W, 3), got shape {images.shape}")
    top = images.max(axis=-1).astype(np.float64)
    spread = top - images.min(axis=-1)
    sat = np.divide(spread, top, out=np.zeros_like(top), where=top > 0)
    return float(np.mean((sat >= saturation) & (top >= value * 255)))


def _entropy(head, params, temperature, draws, seed):
    """Entropy in nats of the head's distribution at every pixel of ``params`` (B, H, W, P): (B, H, W).

    Exact for grey (a sum over the 256 values); for RGB, the mean of -log p
    over ``draws`` values drawn from the same parameters (the 256^3 joint
    values are too many to sum).
    """
    if head.channels == 1:
        b, h, w, _ = params.shape
        logs = ops.stack([head.log_prob(np.full((b, h, w, 1), v, np.uint8), params, temperature)
                          for v in range(256)], axis=0)
        return -ops.sum(ops.exp(logs) * logs, axis=0)
    total = 0.0
    for k in range(draws):
        values = head.sample(params, seed=[seed, 1000 + k], temperature=temperature)
        total = total - head.log_prob(values, params, temperature)
    return total / draws


def fill_loop_check(model, num_images, seed=0, labels=None, temperature=1.0, method="naive", draws=16):
    """Draw ``num_images`` samples; compare the bits of every drawn value with the entropy it was drawn from.

    Each sample's parameters at pixel i, computed from the sample itself, are
    those of the distribution the sampler drew pixel i from (the model is
    causal, so they depend on the pixels before i only). If the loop draws
    each pixel from them, the mean over samples of -log2 p(drawn value)
    equals the mean entropy of those distributions: the two figures returned
    agree within a few ``standard_error``. A sampler that draws at the wrong
    position, from the wrong prefix or at the wrong temperature makes them
    differ.

    Returns a dict: ``drawn_bits_per_dim``, ``entropy_bits_per_dim`` (means
    over samples) and ``standard_error`` of their difference, all in bits per
    sub-pixel, and the ``samples``.
    """
    images = sample(model, num_images, seed=seed, labels=labels, temperature=temperature, method=method,
                    progress=False)
    labels = model_labels(model, labels, num_images)
    params = model(model.inputs_for(to_unit_range(images), labels), training=False)
    drawn = -model.head.log_prob(images, params, temperature)  # (B, H, W) nats
    entropy = _entropy(model.head, params, temperature, draws, seed)
    per_dim = math.log(2.0) * float(np.prod(model.image_shape))
    drawn = np.sum(ops.convert_to_numpy(drawn), axis=(1, 2)) / per_dim
    entropy = np.sum(ops.convert_to_numpy(entropy), axis=(1, 2)) / per_dim
    difference = drawn - entropy
    return {"drawn_bits_per_dim": float(drawn.mean()), "entropy_bits_per_dim": float(entropy.mean()),
            "standard_error": float(difference.std(ddof=1) / np.sqrt(len(difference))), "samples": images}
