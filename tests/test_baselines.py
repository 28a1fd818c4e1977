"""The histogram baselines: exact scores on images whose answer is known, the choice of pseudo-count, bad input."""

from __future__ import annotations

import math

import numpy as np
import pytest

from pixelcnn_lib.baselines import histogram_bits_per_dim


def test_a_value_seen_everywhere_costs_almost_nothing():
    images = np.zeros((50, 4, 4, 3), np.uint8)
    bits, alpha = histogram_bits_per_dim(images, images, "per_pixel", alphas=(1.0, 0.01))
    assert alpha == 0.01, "less smoothing fits a data set of one value better"
    n = 50 * 4 * 4 * 3
    assert bits == pytest.approx(-math.log2((n + 0.01) / (n + 256 * 0.01)))


def test_per_position_knows_what_each_position_holds():
    # every position has its own fixed value: per position the values are certain, over all positions they are not
    rng = np.random.default_rng(0)
    pattern = rng.choice(256, size=(1, 4, 4, 1), replace=False).astype(np.uint8)
    images = np.repeat(pattern, 40, axis=0)
    per_pixel, _ = histogram_bits_per_dim(images, images, "per_pixel")
    per_position, _ = histogram_bits_per_dim(images, images, "per_position")
    assert per_pixel == pytest.approx(math.log2(16), abs=0.01)  # 16 values, equally often
    assert per_position < 0.01


def test_the_pseudo_count_is_chosen_on_the_training_images_only():
    rng = np.random.default_rng(1)
    train = rng.integers(0, 256, size=(200, 2, 2, 1)).astype(np.uint8)  # values spread over all 256 bins
    test = np.zeros((10, 2, 2, 1), np.uint8)
    bits, alpha = histogram_bits_per_dim(train, test, "per_position", alphas=(10.0, 0.001))
    assert alpha == 10.0, "with 160 images spread over 256 bins, heavy smoothing predicts unseen values better"
    again, _ = histogram_bits_per_dim(train, rng.integers(0, 256, size=(10, 2, 2, 1)).astype(np.uint8),
                                      "per_position", alphas=(10.0, 0.001))
    assert again != bits  # the test images are scored, but the choice did not depend on them
    assert bits == pytest.approx(np.mean([-math.log2((np.bincount(train[:, i, j, 0], minlength=256)[0] + 10.0)
                                                     / (200 + 2560.0)) for i in range(2) for j in range(2)]))


@pytest.mark.parametrize("call, message", [
    (lambda ok: histogram_bits_per_dim(ok.astype(np.float32), ok), "uint8"),
    (lambda ok: histogram_bits_per_dim(ok, ok[:, :2]), "cannot score another"),
    (lambda ok: histogram_bits_per_dim(ok, ok, "per_row"), "kind must be one of"),
    (lambda ok: histogram_bits_per_dim(ok, ok, alphas=(0.0,)), "positive pseudo-counts"),
    (lambda ok: histogram_bits_per_dim(ok[:3], ok), "at least 5 training images"),
    (lambda ok: histogram_bits_per_dim(ok[0], ok), "shape \\(N, H, W, C\\)"),
])
def test_bad_input_is_named(call, message):
    ok = np.zeros((10, 4, 4, 3), np.uint8)
    with pytest.raises((TypeError, ValueError), match=message):
        call(ok)
