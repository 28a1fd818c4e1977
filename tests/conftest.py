"""Shared fixtures: small models of every kind, built once per test session; a browser and the built book.

Tests marked ``contract`` (causality, normalisation, loss = sampler, cached =
naive) are backend-neutral: ``tests/test_backends.py`` runs them again on JAX.

Every model is built at a size that runs in milliseconds on a CPU (8x8 images,
12 filters, one or two blocks) but keeps all of its structure: masks with
colour groups, both streams, the up/down passes of PixelCNN++, attention.
Models with dropout are built with dropout 0.5 and always called with
``training=False``, so the tests also check that dropout is off there.

``browser`` is headless Chromium (``browser_support.Browser``) and ``site`` the
built website (``make book``) served on 127.0.0.1; tests that use them skip
when either is missing, except in CI (``CI=true``), where they fail.
"""

from __future__ import annotations

import shutil
import tempfile

import keras
import numpy as np
import pytest
from browser_support import SITE, Browser, Site, find_chromium, require

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


@pytest.fixture(scope="session")
def small_model():
    """``small_model(key, channels)`` -> a model shared by the session (do not change its weights)."""
    cache = {}

    def get(key, channels):
        if (key, channels) not in cache:
            cache[key, channels] = build_small(key, channels)
        return cache[key, channels]

    return get


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


@pytest.fixture(scope="module")
def site():
    """The built website, served on 127.0.0.1 (``site.url``; failed requests in ``site.failures``)."""
    require(SITE.is_dir() and (SITE / "index.html").exists(), f"no built site at {SITE}: run `make book` first")
    served = Site(SITE)
    yield served
    served.close()


@pytest.fixture(scope="module")
def browser():
    """Headless Chromium with one page, driven over the DevTools protocol (``browser_support.Browser``)."""
    require(find_chromium() is not None, "Chromium is not installed (apt-get install chromium)")
    pytest.importorskip("websocket")
    profile = tempfile.mkdtemp(prefix="book-chromium-")
    try:
        opened = Browser(find_chromium(), profile)
        yield opened
        opened.close()
    finally:
        shutil.rmtree(profile, ignore_errors=True)  # Chromium may still be writing to it as it exits
