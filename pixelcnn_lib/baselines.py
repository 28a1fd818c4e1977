"""Histogram baselines: what a model scores without looking at any other pixel.

A model's held-out bits/dim means something only beside what costs nothing to
fit. Two baselines, both fitted on the training images and scored on the
held-out ones, in bits per dimension:

* ``"per_pixel"``: one histogram of the 256 values over every sub-pixel of the
  training images: the bits of a sub-pixel when nothing about it is known;
* ``"per_position"``: one histogram per position and channel, 256 values
  each: knows, say, that the corners of digits are black, but nothing about a
  sub-pixel's neighbours.

A value a histogram never saw would cost infinitely many bits, so both add a
pseudo-count ``alpha`` to every bin. How much is a real choice (add-one
smoothing of 256 bins fitted on 300 images puts 46% of the mass on the
pseudo-counts), so ``histogram_bits_per_dim`` chooses it on held-out data of its
own: it fits on the first 80% of the training images, keeps the ``alpha`` that
scores best on the other 20%, and refits on all of them.
"""

from __future__ import annotations

import numpy as np

KINDS = ("per_pixel", "per_position")
ALPHAS = (1.0, 0.3, 0.1, 0.03, 0.01, 0.003, 0.001)


def _check_images(name, images):
    images = np.asarray(images)
    if images.dtype != np.uint8:
        raise TypeError(f"{name} must be uint8 images (N, H, W, C), got dtype {images.dtype}")
    if images.ndim != 4 or len(images) == 0:
        raise ValueError(f"{name} must be a non-empty batch of shape (N, H, W, C), got shape {images.shape}")
    return images


def _fit(train, kind, alpha):
    """Bin probabilities: (256,) for per_pixel, (H * W * C, 256) for per_position."""
    flat = train.reshape(len(train), -1)
    if kind == "per_pixel":
        counts = np.bincount(flat.ravel(), minlength=256).astype(np.float64)
    else:
        bins = np.arange(flat.shape[1]) * 256 + flat  # (position, value) as one index
        counts = np.bincount(bins.ravel(), minlength=flat.shape[1] * 256).reshape(-1, 256).astype(np.float64)
    return (counts + alpha) / (counts.sum(axis=-1, keepdims=True) + 256 * alpha)


def _score(probs, test, kind):
    flat = test.reshape(len(test), -1)
    picked = probs[flat] if kind == "per_pixel" else probs[np.arange(flat.shape[1]), flat]
    return float(-np.mean(np.log2(picked)))


def histogram_bits_per_dim(train_images, test_images, kind="per_position", alphas=ALPHAS):
    """Held-out bits/dim of a histogram baseline, and the pseudo-count it chose.

    train_images, test_images: uint8 (N, H, W, C) of the same image shape.
    kind: ``"per_pixel"`` (one histogram for all sub-pixels) or
    ``"per_position"`` (one per position and channel).
    alphas: the pseudo-counts to choose from, on the last 20% of the training
    images (fitted on the first 80%); the chosen one is then refitted on all
    training images and scored on ``test_images``.

    Returns ``(bits_per_dim, alpha)``.
    """
    train = _check_images("train_images", train_images)
    test = _check_images("test_images", test_images)
    if kind not in KINDS:
        raise ValueError(f"kind must be one of {KINDS}, got {kind!r}")
    if train.shape[1:] != test.shape[1:]:
        raise ValueError(f"train_images are {train.shape[1:]} and test_images {test.shape[1:]}: the histograms of "
                         "one image shape cannot score another")
    alphas = tuple(alphas)
    if not alphas or any(not a > 0 for a in alphas):
        raise ValueError(f"alphas must be positive pseudo-counts, got {alphas}")
    if len(train) < 5:
        raise ValueError(f"choosing the pseudo-count needs at least 5 training images, got {len(train)}")
    cut = int(len(train) * 0.8)
    validation = {a: _score(_fit(train[:cut], kind, a), train[cut:], kind) for a in alphas}
    alpha = min(validation, key=validation.get)
    return _score(_fit(train, kind, alpha), test, kind), alpha
