"""Helpers that tests share: the small models of every kind, random images, checks on arrays and draws, and a
child process on another Keras backend (``run_on``).

The fixtures that build on them (``small_model``, the browser and the built site) are in ``conftest.py``.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import keras
import numpy as np

import pixelcnn_lib as pl

IMAGE_SIZE = 8

#: key -> (model name, hyper-parameters); the two PixelSNAIL variants are separate keys
SMALL_CONFIGS = {
    "pixelcnn": ("pixelcnn", dict(filters=12, depth=2, head_filters=24)),
    "pixelcnn_mixture": ("pixelcnn", dict(filters=12, depth=2, head_filters=24, num_mixtures=2)),
    "gated_pixelcnn": ("gated_pixelcnn", dict(filters=12, depth=2, head_filters=24)),
    "pixelcnn_pp": ("pixelcnn_pp", dict(filters=12, depth=1, num_mixtures=2, dropout=0.5)),
    "pixelsnail_original": ("pixelsnail", dict(
        filters=12, depth=2, resnets_per_block=1, num_mixtures=2, dropout=0.5, variant="original", key_dim=8)),
    "pixelsnail_multihead": ("pixelsnail", dict(
        filters=12, depth=2, resnets_per_block=1, num_mixtures=2, dropout=0.5, variant="multihead", num_heads=3)),
}
MODEL_KEYS = list(SMALL_CONFIGS)
CHANNELS = [1, 3]


def build_small(key, channels, seed=0, **classes):
    """A fresh small model of kind ``key`` for (8, 8, channels) images, seeded weights; ``classes``
    (``num_classes``, ``class_names``) make it class-conditional."""
    name, hparams = SMALL_CONFIGS[key]
    keras.utils.set_random_seed(seed)
    return pl.build_model(name, image_shape=(IMAGE_SIZE, IMAGE_SIZE, channels), **hparams, **classes)


def random_images(n, shape, seed=0):
    """uint8 images (n, *shape) with uniform random values."""
    return np.random.default_rng(seed).integers(0, 256, size=(n, *shape), dtype=np.uint8)


def assert_same_draws(cached, naive, min_share=0.95):
    """Cached sampling made the naive sampler's draws.

    The two paths compute each pixel's parameters with the same weights but different kernels (a whole-image
    convolution against one position's window), so their float sums differ in the last bits, and a continuous draw
    that lands within that difference of a bin edge rounds to neighbouring values: on some CPUs this happens to a
    handful of sub-pixels in a few hundred. Before an image's first difference both samplers saw the same pixels, so
    only such rounding can explain it: it must be one level. After it, the images condition on different pixels and
    may drift apart a little, but a sampler that used the wrong cache, weights or seed differs almost everywhere.
    """
    cached, naive = np.asarray(cached), np.asarray(naive)
    assert cached.shape == naive.shape and cached.dtype == naive.dtype
    same = cached == naive
    assert same.mean() >= min_share, f"only {same.mean():.1%} of the sub-pixels agree"
    gap = np.abs(cached.astype(int) - naive.astype(int)).reshape(len(cached), -1)
    for i, row in enumerate(gap):  # raster order, channels innermost
        first = np.flatnonzero(row)
        assert not first.size or row[first[0]] == 1, f"image {i} first differs by {row[first[0]]}, not a bin edge"


def total_variation(p, q):
    """Total-variation distance between two probability vectors (any shape, same size)."""
    p = np.asarray(p, np.float64).ravel()
    q = np.asarray(q, np.float64).ravel()
    return 0.5 * np.abs(p / p.sum() - q / q.sum()).sum()


def to_numpy(t):
    """A tensor of any Keras backend (or an array) as a numpy array."""
    return keras.ops.convert_to_numpy(t)


def finite(t):
    return bool(np.all(np.isfinite(to_numpy(t))))


def grads_finite(grads):
    return all(g is not None and finite(g) for g in grads)


def run_on(backend, args, timeout=1200):
    """Run ``python *args`` from the repository's root on the Keras ``backend``; its standard output."""
    env = {**os.environ, "KERAS_BACKEND": backend}
    if backend == "torch":  # PyTorch's OpenMP threads spin while another test worker holds a core: 20 s became 110 s
        env.setdefault("OMP_NUM_THREADS", "1")
    done = subprocess.run([sys.executable, *args], cwd=Path(__file__).resolve().parents[1], env=env,
                          capture_output=True, text=True, timeout=timeout)
    assert done.returncode == 0, f"on {backend}: exit {done.returncode}\n{done.stdout[-6000:]}\n{done.stderr[-6000:]}"
    return done.stdout
