"""Runaway measures and the fill-loop check (``pixelcnn_lib.sampling.checks``), and temperature in the heads.

The fill-loop check is a test of the whole sampler: it passes for the
library's sampler and fails for one that draws at another temperature than
it claims. The heads' ``log_prob(..., temperature)`` describes what
``sample(..., temperature)`` draws.
"""

from __future__ import annotations

import keras
import numpy as np
import pytest
from helpers import random_images, to_numpy, total_variation

import pixelcnn_lib as pl
from pixelcnn_lib.data import load_digits
from pixelcnn_lib.sampling import checks as sample_checks


@pytest.fixture(scope="module")
def digits_model():
    """A small grey PixelSNAIL fitted for two epochs on the digits (so its conditionals are far from uniform)."""
    keras.utils.set_random_seed(0)
    images = load_digits("train")
    model = pl.build_model("pixelsnail", (8, 8, 1), filters=16, depth=1, resnets_per_block=1, num_mixtures=3,
                           dropout=0.0)
    pl.data_dependent_init(model, images[:64])
    model.compile(optimizer=keras.optimizers.Adam(3e-3))
    model.fit(images, epochs=2, batch_size=32, verbose=0)
    return model


@pytest.mark.slow
@pytest.mark.parametrize("temperature", [1.0, 0.7])
def test_drawn_bits_equal_the_entropy_they_were_drawn_from(digits_model, temperature):
    check = sample_checks.fill_loop_check(digits_model, 128, seed=1, temperature=temperature)
    gap = check["drawn_bits_per_dim"] - check["entropy_bits_per_dim"]
    assert abs(gap) < 4 * check["standard_error"], check
    assert check["standard_error"] < 0.05  # the check is sharp enough to see a wrong temperature (below)


@pytest.mark.slow
def test_the_check_catches_a_sampler_that_draws_at_another_temperature(digits_model, monkeypatch):
    true_sample = sample_checks.sample

    def colder(model, num_images, **kwargs):  # claims the requested temperature, draws at 0.6
        return true_sample(model, num_images, **{**kwargs, "temperature": 0.6})

    monkeypatch.setattr(sample_checks, "sample", colder)
    check = sample_checks.fill_loop_check(digits_model, 128, seed=1, temperature=1.0)
    gap = check["entropy_bits_per_dim"] - check["drawn_bits_per_dim"]
    assert gap > 8 * check["standard_error"], check


@pytest.mark.parametrize("head", [pl.DiscretizedLogisticMixture(3, 1), pl.Categorical(1)], ids=["mixture", "softmax"])
@pytest.mark.parametrize("temperature", [0.5, 1.7])
def test_tempered_log_prob_describes_the_tempered_sampler(head, temperature):
    rng = np.random.default_rng(3)
    if isinstance(head, pl.Categorical):
        params = rng.normal(0.0, 2.0, 256)
    else:  # K logits, K means inside the range, K log-scales of a few bins (where the temperature shows)
        k = head.num_mixtures
        params = np.concatenate([rng.normal(size=k), rng.uniform(-0.5, 0.5, k), rng.normal(-3.5, 0.3, k)])
    params = params.astype(np.float32).reshape(1, 1, 1, -1)
    values = np.arange(256, dtype=np.uint8).reshape(256, 1, 1, 1)
    probs = np.exp(to_numpy(head.log_prob(values, np.repeat(to_numpy(params), 256, axis=0), temperature)))[:, 0, 0]
    assert probs.sum() == pytest.approx(1.0, abs=1e-4)
    n = 100_000
    draws = to_numpy(head.sample(np.repeat(to_numpy(params), n, axis=0), seed=5, temperature=temperature))
    histogram = np.bincount(draws.ravel(), minlength=256)
    noise = 0.5 * np.sum(np.sqrt(2 * probs / (np.pi * n)))  # the expected distance of n exact draws
    assert total_variation(histogram, probs) < 1.5 * noise + 0.002
    model_probs = np.exp(to_numpy(head.log_prob(values, np.repeat(to_numpy(params), 256, axis=0))))[:, 0, 0]
    assert total_variation(model_probs, probs) > 5 * noise  # the temperature changed the distribution


def test_temperature_one_draws_exactly_the_default_samples():
    head = pl.DiscretizedLogisticMixture(4, 3)
    params = keras.random.normal((2, 4, 4, head.num_params), seed=1)
    assert np.array_equal(to_numpy(head.sample(params, seed=7)), to_numpy(head.sample(params, seed=7, temperature=1.0)))


@pytest.mark.parametrize("bad", [0.0, -1.0, float("inf"), float("nan")])
def test_temperature_must_be_a_positive_number(bad):
    with pytest.raises(ValueError, match="temperature"):
        pl.DiscretizedLogisticMixture(2, 1).sample(np.zeros((1, 1, 1, 6), np.float32), temperature=bad)


def test_runaway_share_counts_samples_far_above_the_held_out_figure():
    assert sample_checks.runaway_share([3.0, 3.9, 4.2, 6.0], reference_bpd=3.0, margin=1.0) == 0.5
    with pytest.raises(ValueError, match="non-empty"):
        sample_checks.runaway_share([], 3.0)


def test_vivid_share_finds_saturated_colours_not_greys():
    grey = np.full((1, 2, 2, 3), 200, np.uint8)
    vivid = np.zeros((1, 2, 2, 3), np.uint8)
    vivid[..., 0] = 230  # pure red
    dark_red = vivid // 10  # saturated but dark
    assert sample_checks.vivid_share(grey) == 0.0
    assert sample_checks.vivid_share(vivid) == 1.0
    assert sample_checks.vivid_share(dark_red) == 0.0
    assert sample_checks.vivid_share(np.concatenate([grey, vivid])) == 0.5
    with pytest.raises(ValueError, match="RGB"):
        sample_checks.vivid_share(random_images(1, (2, 2, 1)))


def test_sample_bits_per_dim_is_log_prob_per_image(digits_model):
    images = load_digits("test")[:5]
    expected = [pl.bits_per_dim(-n, (8, 8, 1)) for n in pl.log_prob(digits_model, images)]
    assert np.allclose(sample_checks.sample_bits_per_dim(digits_model, images), expected)
