"""Shared fixtures: small models of every kind, built once per test session.

Every model is built at a size that runs in milliseconds on a CPU (8x8 images,
12 filters, one or two blocks) but keeps all of its structure: masks with
colour groups, both streams, the up/down passes of PixelCNN++, attention.
Models with dropout are built with dropout 0.5 and always called with
``training=False``, so the tests also check that dropout is off there.
"""

from __future__ import annotations

import keras
import numpy as np
import pytest
import tensorflow as tf

import pixelcnn_lib as pl

IMAGE_SIZE = 8

#: key -> (model name, hyper-parameters); the two PixelSNAIL variants are separate keys
SMALL_CONFIGS = {
    "pixelcnn": ("pixelcnn", dict(filters=12, depth=2, head_filters=24)),
    "gated_pixelcnn": ("gated_pixelcnn", dict(filters=12, depth=2, head_filters=24)),
    "pixelcnn_pp": ("pixelcnn_pp", dict(filters=12, depth=1, num_mixtures=2, dropout=0.5)),
    "pixelsnail_original": ("pixelsnail", dict(
        filters=12, depth=2, resnets_per_block=1, num_mixtures=2, dropout=0.5, variant="original", key_dim=8)),
    "pixelsnail_multihead": ("pixelsnail", dict(
        filters=12, depth=2, resnets_per_block=1, num_mixtures=2, dropout=0.5, variant="multihead", num_heads=3)),
}
MODEL_KEYS = list(SMALL_CONFIGS)
CHANNELS = [1, 3]


def build_small(key, channels, seed=0):
    """A fresh small model of kind ``key`` for (8, 8, channels) images, seeded weights."""
    name, hparams = SMALL_CONFIGS[key]
    keras.utils.set_random_seed(seed)
    return pl.build_model(name, image_shape=(IMAGE_SIZE, IMAGE_SIZE, channels), **hparams)


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


def total_variation(p, q):
    """Total-variation distance between two probability vectors (any shape, same size)."""
    p = np.asarray(p, np.float64).ravel()
    q = np.asarray(q, np.float64).ravel()
    return 0.5 * np.abs(p / p.sum() - q / q.sum()).sum()


def finite(t):
    return bool(np.all(np.isfinite(np.asarray(t))))


def grads_finite(grads):
    return all(g is not None and finite(tf.convert_to_tensor(g)) for g in grads)
