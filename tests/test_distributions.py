"""The output distributions ("heads"): normalisation, agreement with an independent
float64 reference, sampler = log-prob, numerics at the extremes, clear errors.
"""

from __future__ import annotations

import math

import keras
import numpy as np
import pytest
import tensorflow as tf
from helpers import finite, to_numpy, total_variation

import pixelcnn_lib as pl
from pixelcnn_lib.backend import compile_function
from pixelcnn_lib.nn.heads import _log_bin_mass, from_unit_range, head_from_config, to_unit_range

VALUES = np.arange(256)
NUM_SAMPLES = 100_000


# --------------------------------------------------------------------------
# helpers
# --------------------------------------------------------------------------


def mixture_vector(logits, means, log_scales, coeffs=None):
    """Pack one pixel's mixture parameters in the documented layout.

    logits (K,); means, log_scales, coeffs (C, K). Layout: K logits, then per
    channel c: K means, K log-scales and (RGB only) K coupling coefficients
    (raw, before tanh). Coefficient block 0 couples G to R, block 1 B to R,
    block 2 B to G.
    """
    means = np.atleast_2d(means)
    log_scales = np.atleast_2d(log_scales)
    blocks = [np.asarray(logits, np.float64)]
    for c in range(means.shape[0]):
        blocks += [means[c], log_scales[c]]
        if coeffs is not None:
            blocks.append(np.atleast_2d(coeffs)[c])
    return np.concatenate(blocks).astype(np.float32)


def grey_table(head, params):
    """params (M, P) -> log-probs (M, 256) of every grey value, from ``head.log_prob``."""
    params = np.asarray(params, np.float32)
    m = params.shape[0]
    images = np.broadcast_to(VALUES.astype(np.uint8)[None, None, :, None], (m, 1, 256, 1))
    grid = np.broadcast_to(params[:, None, None, :], (m, 1, 256, params.shape[-1]))
    return to_numpy(head.log_prob(np.ascontiguousarray(images), np.ascontiguousarray(grid)))[:, 0, :]


def rgb_table(head, params_vector, rows_per_chunk=1):
    """One parameter vector -> log-probs (256, 256, 256) of every (R, G, B), from ``head.log_prob``.

    Evaluated one R value at a time (a few MB per chunk).
    """
    p = head.num_params
    gb = np.stack(np.meshgrid(VALUES, VALUES, indexing="ij"), -1).astype(np.uint8)  # (256, 256, 2): G, B

    log_prob = compile_function(head.log_prob)
    params = np.broadcast_to(np.asarray(params_vector, np.float32), (rows_per_chunk, 256, 256, p))
    params = keras.ops.convert_to_tensor(params)

    def chunk(r0):
        r = np.arange(r0, r0 + rows_per_chunk).astype(np.uint8)
        images = np.concatenate([np.broadcast_to(r[:, None, None, None], (rows_per_chunk, 256, 256, 1)),
                                 np.broadcast_to(gb[None], (rows_per_chunk, 256, 256, 2))], -1)
        return to_numpy(log_prob(keras.ops.convert_to_tensor(images), params))

    return np.concatenate([chunk(r0) for r0 in range(0, 256, rows_per_chunk)])


def logsumexp64(a, axis=None):
    a = np.asarray(a, np.float64)
    top = np.max(a, axis=axis, keepdims=True)
    return np.squeeze(top, axis=axis) + np.log(np.sum(np.exp(a - top), axis=axis))


# --- an independent float64 reference, written from the formulas --------------


def log_sigmoid64(z):
    return -np.logaddexp(0.0, -z)


def ref_log_bin_mass(x, mean, scale_log):
    """float64 log P(bin centred at x) of a logistic(mean, exp(scale_log)) cut into 256 bins.

    P = sigmoid((x - mu + 1/255)/s) - sigmoid((x - mu - 1/255)/s) for interior
    bins; x = -1 takes everything below -1 + 1/255, x = +1 everything above
    1 - 1/255. When the bin is tiny compared to the scale the difference is
    evaluated as density at the centre times the bin width (exact to O(width^2)).
    """
    x, mean, scale_log = np.broadcast_arrays(*(np.asarray(a, np.float64) for a in (x, mean, scale_log)))
    s = np.exp(scale_log)
    upper = (x - mean + 1 / 255) / s
    lower = (x - mean - 1 / 255) / s
    log_upper, log_lower = log_sigmoid64(upper), log_sigmoid64(lower)
    with np.errstate(divide="ignore", invalid="ignore"):
        # log(sigmoid(u) - sigmoid(l)) = log sigmoid(u) + log(1 - exp(log sigmoid(l) - log sigmoid(u)))
        diff = log_upper + np.log(-np.expm1(log_lower - log_upper))
        # mirrored form, accurate when both CDF values are close to 1
        diff_right = log_sigmoid64(-lower) + np.log(-np.expm1(log_sigmoid64(-upper) - log_sigmoid64(-lower)))
    z = (x - mean) / s
    density = -z - 2 * np.logaddexp(0.0, -z) - scale_log + math.log(2 / 255)
    interior = np.where(mean < x, diff_right, diff)
    interior = np.where((2 / 255) / s < 1e-6, density, interior)
    left_edge = log_upper
    right_edge = log_sigmoid64(-lower)
    return np.where(x < -0.999, left_edge, np.where(x > 0.999, right_edge, interior))


def ref_mixture_log_prob(pixels, params, num_mixtures, channels, log_scale_min=-7.0):
    """float64 log P(pixel) for pixels (N, C) in 0..255 and params (N, P), from the formulas."""
    k = num_mixtures
    params = np.asarray(params, np.float64)
    x = np.asarray(pixels, np.float64) / 127.5 - 1.0  # bin centres in [-1, 1]
    logits = params[:, :k]
    per_channel = 3 if channels == 3 else 2
    log_weights = logits - logsumexp64(logits, axis=1)[:, None]
    total = log_weights.copy()
    for c in range(channels):
        block = params[:, k + c * per_channel * k: k + (c + 1) * per_channel * k]
        mean = block[:, :k].copy()
        log_scale = np.maximum(block[:, k: 2 * k], log_scale_min)
        if channels == 3:
            coeff = np.tanh(params[:, k:].reshape(-1, 3, 3 * k)[:, :, 2 * k:])  # (N, 3, K)
            if c == 1:
                mean = mean + coeff[:, 0] * x[:, 0:1]
            elif c == 2:
                mean = mean + coeff[:, 1] * x[:, 0:1] + coeff[:, 2] * x[:, 1:2]
        total = total + ref_log_bin_mass(x[:, c: c + 1], mean, log_scale)
    return logsumexp64(total, axis=1)


# --------------------------------------------------------------------------
# basic facts
# --------------------------------------------------------------------------


def test_num_params_and_config_round_trip():
    assert pl.DiscretizedLogisticMixture(10, 3).num_params == 100
    assert pl.DiscretizedLogisticMixture(5, 1).num_params == 15
    assert pl.Categorical(1).num_params == 256
    assert pl.Categorical(3).num_params == 768
    assert pl.Categorical(3).passes_per_pixel == 3
    assert pl.DiscretizedLogisticMixture(4, 3).passes_per_pixel == 1
    for head in (pl.DiscretizedLogisticMixture(4, 3), pl.Categorical(3), pl.Categorical(1)):
        again = head_from_config(head.get_config())
        assert type(again) is type(head) and again.get_config() == head.get_config()


def test_unit_range_round_trip_and_bin_edges():
    values = np.arange(256, dtype=np.uint8)
    x = to_unit_range(values).numpy()
    assert x[0] == -1.0 and x[255] == 1.0
    np.testing.assert_allclose(np.diff(x), 2 / 255, rtol=1e-5)
    np.testing.assert_array_equal(from_unit_range(x).numpy(), values)
    # anything within half a bin goes to that bin; beyond the ends goes to the edge bins
    np.testing.assert_array_equal(from_unit_range(x + 0.99 / 255).numpy()[:-1], values[:-1])
    np.testing.assert_array_equal(from_unit_range(x - 0.99 / 255).numpy()[1:], values[1:])
    np.testing.assert_array_equal(from_unit_range(np.array([-7.0, -1.003, 1.003, 7.0])).numpy(), [0, 0, 255, 255])


def test_bits_per_dim():
    shape = (8, 8, 3)
    assert pl.bits_per_dim(math.log(2) * 192, shape) == pytest.approx(1.0)
    assert pl.bits_per_dim([math.log(2) * 192 * 2, 0.0], shape) == pytest.approx(1.0)  # averaged
    with pytest.raises(ValueError, match=r"\(H, W, C\)"):
        pl.bits_per_dim(1.0, (8, 8))


# --------------------------------------------------------------------------
# normalisation
# --------------------------------------------------------------------------


def grey_mixture_cases():
    """(K=1 parameter vectors covering the extremes, name)."""
    vectors = []
    for mean in (-1e3, -30.0, -1.5, -1.0, -0.99, -0.3, 0.0, 0.004, 0.7, 1.0, 1.2, 30.0, 1e3):
        for log_scale in (-100.0, -20.0, -7.5, -7.0, -6.0, -4.0, -1.0, 0.0, 3.0, 10.0, 50.0, 68.0, 90.0, 200.0):
            vectors.append(mixture_vector([0.0], [mean], [log_scale]))
    return np.stack(vectors)


@pytest.mark.contract
def test_grey_mixture_normalised_random_params():
    head = pl.DiscretizedLogisticMixture(5, 1)
    params = np.random.default_rng(0).normal(size=(200, head.num_params)).astype(np.float32)
    params[:, 5:10] *= 1.5  # means spread over and beyond [-1, 1]
    params[:, 10:] = params[:, 10:] * 2.5 - 3.0  # log-scales from about -10 to +4
    total = logsumexp64(grey_table(head, params), axis=1)
    np.testing.assert_allclose(total, 0.0, atol=1e-4)


@pytest.mark.contract
def test_grey_mixture_normalised_extreme_params():
    head = pl.DiscretizedLogisticMixture(1, 1)
    params = grey_mixture_cases()
    table = grey_table(head, params)
    assert finite(table), "log-probabilities must stay finite at extreme parameters"
    np.testing.assert_allclose(logsumexp64(table, axis=1), 0.0, atol=1e-4)


@pytest.mark.contract
def test_grey_mixture_normalised_with_huge_logits():
    head = pl.DiscretizedLogisticMixture(3, 1)
    params = np.stack([
        mixture_vector([1e4, 1e4 - 1.0, 1e4 + 2.0], [[-0.5, 0.2, 0.9]], [[-7.0, -3.0, -20.0]]),
        mixture_vector([1e4, -1e4, 0.0], [[0.0, 5.0, -5.0]], [[-2.0, -2.0, 10.0]]),
        mixture_vector([-1e4, -1e4, -1e4 + 3], [[-1.0, 1.0, 0.0]], [[50.0, -9.0, -7.0]]),
        mixture_vector([3e4, -3e4, 0.0], [[1e3, -1e3, 0.0]], [[-1.0, 1.0, 0.0]]),
    ])
    table = grey_table(head, params)
    assert finite(table)
    np.testing.assert_allclose(logsumexp64(table, axis=1), 0.0, atol=1e-4)


@pytest.mark.contract
def test_categorical_grey_normalised():
    head = pl.Categorical(1)
    rng = np.random.default_rng(1)
    params = np.concatenate([
        rng.normal(scale=3.0, size=(20, 256)),
        rng.normal(scale=1e4, size=(5, 256)),  # huge logits
        np.full((1, 256), 1e4), np.full((1, 256), -1e4),
    ]).astype(np.float32)
    params[-1, 17] = 1e4  # one value takes (almost) everything
    table = grey_table(head, params)
    assert finite(table)
    np.testing.assert_allclose(logsumexp64(table, axis=1), 0.0, atol=1e-4)
    assert table[-1, 17] == pytest.approx(0.0, abs=1e-6)


@pytest.mark.contract
def test_categorical_rgb_normalised_over_all_colours():
    """The 256-way head treats channels as independent given the parameters, so
    the sum over all 256^3 colours is the product of the three channel sums.
    Check that the head's joint log-prob is the sum of three float64 softmaxes
    (on random colours) and that each channel, varied over all 256 values with
    the other two fixed, sums to one."""
    head = pl.Categorical(3)
    rng = np.random.default_rng(2)
    for scale in (3.0, 1e4):
        logits = rng.normal(scale=scale, size=(3, 256))
        vector = logits.reshape(-1).astype(np.float32)
        ref = logits.astype(np.float32).astype(np.float64)
        ref = ref - logsumexp64(ref, axis=1)[:, None]  # (3, 256) log P_c(v)
        colours = rng.integers(0, 256, size=(4096, 3)).astype(np.uint8)
        joint = to_numpy(head.log_prob(colours[:, None, None, :], np.tile(vector, (4096, 1, 1, 1))))[:, 0, 0]
        want = sum(ref[c][colours[:, c]] for c in range(3))
        np.testing.assert_allclose(joint, want, rtol=1e-6, atol=1e-3)
        fixed = np.argmax(ref, axis=1).astype(np.uint8)  # the other channels at their likeliest values
        channel_sums = []
        for c in range(3):
            images = np.tile(fixed, (256, 1, 1, 1))
            images[:, 0, 0, c] = VALUES
            lp = to_numpy(head.log_prob(images, np.tile(vector, (256, 1, 1, 1))))[:, 0, 0]
            others = sum(ref[o][fixed[o]] for o in range(3) if o != c)
            channel_sums.append(logsumexp64(lp - others))
        np.testing.assert_allclose(channel_sums, 0.0, atol=1e-4)
        assert sum(channel_sums) == pytest.approx(0.0, abs=1e-4)  # log of the sum over all 256^3 colours


#: a moderate random RGB mixture: used for normalisation and for the sampler test
RGB_MODERATE = mixture_vector(
    logits=[0.3, -0.2],
    means=[[-0.3, 0.4], [0.1, -0.5], [0.6, -0.1]],
    log_scales=[[-3.0, -2.6], [-3.2, -2.8], [-2.9, -3.1]],
    coeffs=[[0.9, -1.3], [-0.8, 1.0], [1.2, 0.6]],
)

#: every component in a different extreme regime, with huge (but close) mixture logits
RGB_EXTREME = mixture_vector(
    logits=[1e4, 1e4 - 1.0, 1e4 + 1.0],
    # component 0: scales at and far below the clamp, saturated coupling
    # component 1: very broad components, means far outside [-1, 1]
    # component 2: means far outside, saturated coupling of the opposite sign
    means=[[0.3, 5.0, 30.0], [-0.2, -5.0, -30.0], [0.1, 0.5, 3.0]],
    log_scales=[[-7.0, 10.0, -3.0], [-20.0, 50.0, -5.0], [-9.0, 3.0, 1.0]],
    coeffs=[[50.0, 8.0, -20.0], [-50.0, -8.0, 20.0], [30.0, 8.0, 20.0]],
)


@pytest.fixture(scope="module")
def rgb_moderate_table():
    return rgb_table(pl.DiscretizedLogisticMixture(2, 3), RGB_MODERATE)


@pytest.mark.slow
@pytest.mark.contract
def test_rgb_mixture_normalised_over_all_colours(rgb_moderate_table):
    assert rgb_moderate_table.shape == (256, 256, 256)
    assert finite(rgb_moderate_table)
    assert logsumexp64(rgb_moderate_table) == pytest.approx(0.0, abs=1e-4)


@pytest.mark.slow
def test_rgb_mixture_normalised_over_all_colours_extreme_params():
    table = rgb_table(pl.DiscretizedLogisticMixture(3, 3), RGB_EXTREME)
    assert finite(table)
    assert logsumexp64(table) == pytest.approx(0.0, abs=1e-4)


# --------------------------------------------------------------------------
# agreement with the float64 reference
# --------------------------------------------------------------------------


@pytest.mark.contract
@pytest.mark.parametrize("channels", [1, 3])
def test_mixture_matches_float64_reference(channels):
    k = 4
    head = pl.DiscretizedLogisticMixture(k, channels)
    rng = np.random.default_rng(3 + channels)
    n = 4096
    per_channel = 3 if channels == 3 else 2
    params = np.empty((n, head.num_params), np.float32)
    params[:, :k] = rng.normal(size=(n, k))
    blocks = params[:, k:].reshape(n, channels, per_channel, k)
    blocks[:, :, 0] = rng.uniform(-1.2, 1.2, size=(n, channels, k))  # means
    blocks[:, :, 1] = rng.uniform(-5.0, 0.5, size=(n, channels, k))  # log-scales
    if channels == 3:
        blocks[:, :, 2] = rng.normal(size=(n, channels, k))  # coefficients
    params[:, k:] = blocks.reshape(n, -1)
    pixels = rng.integers(0, 256, size=(n, channels)).astype(np.uint8)
    pixels[:200] = 0  # plenty of edge bins
    pixels[200:400] = 255
    got = to_numpy(head.log_prob(pixels[:, None, None, :], params[:, None, None, :]))[:, 0, 0]
    want = ref_mixture_log_prob(pixels, params, k, channels)
    assert np.max(np.abs(got - want)) < 1e-3


@pytest.mark.contract
def test_log_bin_mass_matches_reference_in_every_regime():
    """Edge tails, interior bins deep in either tail, tiny scales and the
    density fallback for scales so large that the bin mass underflows."""
    x = to_numpy(to_unit_range(np.array([0, 1, 2, 60, 127, 128, 200, 253, 254, 255])))
    means = np.array([-1e3, -3.0, -1.0, -0.5, 0.0, 0.001, 0.7, 1.0, 3.0, 1e3], np.float32)
    log_scales = np.array([-7.0, -5.0, -2.0, 0.0, 2.0, 10.0, 40.0, 66.0, 70.0, 85.0], np.float32)
    xx, mm, ss = (a.astype(np.float32) for a in np.meshgrid(x, means, log_scales, indexing="ij"))
    got = to_numpy(_log_bin_mass(*(keras.ops.convert_to_tensor(a) for a in (xx, mm, ss))))
    want = ref_log_bin_mass(xx, mm, ss)
    assert finite(got)
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-3)
    # the density fallback region is really exercised: a bin 2/255 wide at scale e^70
    narrow = (2 / 255) * np.exp(-ss.astype(np.float64)) < 1e-30
    assert (narrow & (np.abs(xx) < 0.999)).any()


# --------------------------------------------------------------------------
# sampler = log-prob
# --------------------------------------------------------------------------


def sample_many(head, vector, seed=1, chunks=4):
    """NUM_SAMPLES draws from one parameter vector, in a few chunks (each its own seed)."""
    params = keras.ops.convert_to_tensor(np.broadcast_to(vector, (NUM_SAMPLES // chunks, 1, 1, vector.shape[-1])))
    draws = [to_numpy(head.sample(params, seed=seed * 1000 + i))[:, 0, 0, :] for i in range(chunks)]
    return np.concatenate(draws)


def assert_close_to_exact(samples_hist, probs, exact_hist, margin=0.003):
    tv_head = total_variation(samples_hist, probs)
    tv_exact = total_variation(exact_hist, probs)
    assert tv_head < 1.5 * tv_exact + margin, (tv_head, tv_exact)
    return tv_head


GREY_MIXTURE = mixture_vector([0.5, 0.0, -0.3], [[-0.97, -0.2, 0.55]], [[-4.6, -4.4, -4.8]])


@pytest.mark.contract
def test_grey_mixture_sampler_matches_log_prob():
    head = pl.DiscretizedLogisticMixture(3, 1)
    probs = np.exp(grey_table(head, GREY_MIXTURE[None])[0].astype(np.float64))
    probs /= probs.sum()
    assert probs[0] > 0.02, "the test needs real mass in the left edge bin"
    samples = sample_many(head, GREY_MIXTURE)[:, 0]
    assert samples.dtype == np.uint8
    hist = np.bincount(samples, minlength=256)
    exact = np.bincount(np.random.default_rng(7).choice(256, NUM_SAMPLES, p=probs), minlength=256)
    tv = assert_close_to_exact(hist, probs, exact)
    assert tv < 0.01
    # the comparison has power: a sampler off by one bin would fail it
    shifted = np.roll(probs, 1)
    assert total_variation(shifted, probs) > 0.1


@pytest.mark.contract
def test_categorical_sampler_matches_log_prob():
    head = pl.Categorical(1)
    vector = np.random.default_rng(4).normal(scale=3.0, size=256).astype(np.float32)
    probs = np.exp(grey_table(head, vector[None])[0].astype(np.float64))
    probs /= probs.sum()
    samples = sample_many(head, vector)[:, 0]
    hist = np.bincount(samples, minlength=256)
    exact = np.bincount(np.random.default_rng(8).choice(256, NUM_SAMPLES, p=probs), minlength=256)
    assert assert_close_to_exact(hist, probs, exact) < 0.02


@pytest.mark.contract
def test_categorical_rgb_sampler_matches_log_prob_per_channel():
    head = pl.Categorical(3)
    logits = np.random.default_rng(5).normal(scale=3.0, size=(3, 256)).astype(np.float32)
    samples = sample_many(head, logits.reshape(-1))
    rng = np.random.default_rng(9)
    for c in range(3):
        images = np.zeros((256, 1, 1, 3), np.uint8)
        images[:, 0, 0, c] = VALUES
        lp = to_numpy(head.log_prob(images, np.tile(logits.reshape(-1), (256, 1, 1, 1))))[:, 0, 0]
        probs = np.exp(lp - logsumexp64(lp))
        hist = np.bincount(samples[:, c], minlength=256)
        exact = np.bincount(rng.choice(256, NUM_SAMPLES, p=probs), minlength=256)
        assert_close_to_exact(hist, probs, exact)


@pytest.mark.contract
def test_rgb_mixture_sampler_matches_log_prob_with_coupling(rgb_moderate_table):
    head = pl.DiscretizedLogisticMixture(2, 3)
    joint = np.exp(rgb_moderate_table.astype(np.float64))
    joint /= joint.sum()
    samples = sample_many(head, RGB_MODERATE).astype(np.int64)
    flat = np.random.default_rng(10).choice(joint.size, NUM_SAMPLES, p=joint.ravel())
    exact = np.stack(np.unravel_index(flat, joint.shape), axis=1)

    def coarse_hist(s, bins_per_axis, axes):
        width = 256 // bins_per_axis
        idx = np.ravel_multi_index(tuple(s[:, a] // width for a in axes), (bins_per_axis,) * len(axes))
        return np.bincount(idx, minlength=bins_per_axis ** len(axes))

    def coarse_probs(bins_per_axis, axes):
        width = 256 // bins_per_axis
        summed = joint.sum(axis=tuple(a for a in range(3) if a not in axes))
        shape = []
        for _ in axes:
            shape += [bins_per_axis, width]
        return summed.reshape(shape).sum(axis=tuple(range(1, 2 * len(axes), 2)))

    # R marginal at full resolution, G and B marginals, then the couplings:
    # (R, G) on a 16x16 grid (G given R) and (R, G, B) on an 8x8x8 grid (B given R, G)
    for bins, axes in [(256, (0,)), (256, (1,)), (256, (2,)), (16, (0, 1)), (8, (0, 1, 2))]:
        probs = coarse_probs(bins, axes)
        assert_close_to_exact(coarse_hist(samples, bins, axes), probs, coarse_hist(exact, bins, axes))
    # the coupling is strong enough that a sampler ignoring it would fail
    rg = coarse_probs(16, (0, 1))
    assert total_variation(np.outer(rg.sum(1), rg.sum(0)), rg) > 0.1
    rgb = coarse_probs(8, (0, 1, 2))
    b_ignoring_rg = rgb.sum(axis=2, keepdims=True) * rgb.sum(axis=(0, 1), keepdims=True)
    assert total_variation(b_ignoring_rg, rgb) > 0.1


@pytest.mark.contract
def test_sampler_puts_far_means_in_edge_bins():
    head = pl.DiscretizedLogisticMixture(1, 3)
    vectors = np.stack([
        mixture_vector([0.0], [[1e3], [-1e3], [30.0]], [[-7.0], [-100.0], [0.0]], [[0.0], [0.0], [0.0]]),
        mixture_vector([0.0], [[-50.0], [0.0], [0.0]], [[-7.0], [-7.0], [-7.0]], [[50.0], [50.0], [50.0]]),
    ])
    s = to_numpy(head.sample(vectors[:, None, None, :], seed=3))[:, 0, 0]
    np.testing.assert_array_equal(s[0], [255, 0, 255])
    # R is 0 (x = -1); G = 0 + tanh(50) * (-1) -> 0; B = 0 + 1 * (-1) + 1 * (-1) -> 0
    np.testing.assert_array_equal(s[1], [0, 0, 0])


# --------------------------------------------------------------------------
# numerics: finite loss and gradients at the extremes
# --------------------------------------------------------------------------


def extreme_mixture_batch(k, channels, rng):
    """(N, P) parameter vectors mixing extreme logits, means, log-scales, coefficients."""
    head = pl.DiscretizedLogisticMixture(k, channels)
    n = 64
    per_channel = 3 if channels == 3 else 2
    params = np.empty((n, head.num_params), np.float32)
    params[:, :k] = rng.choice([-3e4, -1e4, -5.0, 0.0, 5.0, 1e4, 3e4], size=(n, k))
    blocks = params[:, k:].reshape(n, channels, per_channel, k)
    blocks[:, :, 0] = rng.choice([-1e4, -30.0, -1.0, 0.0, 1.0, 30.0, 1e4], size=(n, channels, k))
    blocks[:, :, 1] = rng.choice([-1e3, -20.0, -7.0, -3.0, 0.0, 10.0, 50.0, 90.0, 1e3], size=(n, channels, k))
    if channels == 3:
        blocks[:, :, 2] = rng.choice([-1e4, -50.0, 0.0, 50.0, 1e4], size=(n, channels, k))
    params[:, k:] = blocks.reshape(n, -1)
    return head, params


@pytest.mark.parametrize("channels", [1, 3])
def test_mixture_loss_and_gradients_finite_at_extremes(channels):
    rng = np.random.default_rng(11 + channels)
    head, params = extreme_mixture_batch(3, channels, rng)
    n = params.shape[0]
    pixels = rng.choice([0, 1, 127, 254, 255], size=(n, 1, 1, channels)).astype(np.uint8)
    pixels[:8] = 0
    pixels[8:16] = 255
    variable = tf.Variable(params[:, None, None, :])
    with tf.GradientTape() as tape:
        lp = head.log_prob(pixels, variable)
        loss = -tf.reduce_sum(lp)
    grad = tape.gradient(loss, variable)
    assert finite(lp) and finite(loss)
    assert finite(grad)


@pytest.mark.parametrize("channels", [1, 3])
def test_categorical_loss_and_gradients_finite_at_extremes(channels):
    rng = np.random.default_rng(13)
    head = pl.Categorical(channels)
    params = rng.choice([-1e30, -1e4, 0.0, 1e4, 1e30], size=(16, 1, 1, head.num_params)).astype(np.float32)
    params[0] = 1e4
    pixels = rng.choice([0, 255], size=(16, 1, 1, channels)).astype(np.uint8)
    variable = tf.Variable(params)
    with tf.GradientTape() as tape:
        loss = -tf.reduce_sum(head.log_prob(pixels, variable))
    assert finite(loss)
    assert finite(tape.gradient(loss, variable))


def test_log_scale_clamp_is_applied():
    """Log-scales below the clamp give exactly the clamped distribution (and zero gradient)."""
    head = pl.DiscretizedLogisticMixture(1, 1)
    vectors = np.stack([mixture_vector([0.0], [[0.1]], [[s]]) for s in (-7.0, -9.0, -40.0)])
    table = grey_table(head, vectors)
    np.testing.assert_allclose(table[1], table[0], atol=1e-6)
    np.testing.assert_allclose(table[2], table[0], atol=1e-6)
    variable = tf.Variable(vectors[1:2, None, None, :])
    with tf.GradientTape() as tape:
        loss = -tf.reduce_sum(head.log_prob(np.full((1, 1, 1, 1), 140, np.uint8), variable))
    assert tape.gradient(loss, variable).numpy()[0, 0, 0, 2] == 0.0


# --------------------------------------------------------------------------
# determinism and errors
# --------------------------------------------------------------------------


@pytest.mark.contract
@pytest.mark.parametrize("head", [pl.DiscretizedLogisticMixture(3, 3), pl.DiscretizedLogisticMixture(2, 1),
                                  pl.Categorical(3), pl.Categorical(1)], ids=repr)
def test_head_sample_deterministic_for_a_seed(head):
    params = np.random.default_rng(6).normal(size=(4, 5, 5, head.num_params)).astype(np.float32)
    a = to_numpy(head.sample(params, seed=42))
    b = to_numpy(head.sample(params, seed=42))
    c = to_numpy(head.sample(params, seed=43))
    assert a.dtype == np.uint8 and a.shape == (4, 5, 5, head.channels)
    np.testing.assert_array_equal(a, b)
    assert (a != c).any()
    np.testing.assert_array_equal(to_numpy(head.sample(params, seed=keras.ops.convert_to_tensor([42, 0]))), a)


def test_head_errors_name_the_problem():
    mix = pl.DiscretizedLogisticMixture(2, 3)
    cat = pl.Categorical(1)
    images = np.zeros((2, 4, 4, 3), np.uint8)
    params = np.zeros((2, 4, 4, mix.num_params), np.float32)
    with pytest.raises(ValueError, match="expects 20 parameters per pixel on the last axis, got 21"):
        mix.log_prob(images, np.zeros((2, 4, 4, 21), np.float32))
    with pytest.raises(ValueError, match="expects 20 parameters"):
        mix.sample(np.zeros((2, 4, 4, 19), np.float32))
    with pytest.raises(ValueError, match="expects 256 parameters per pixel"):
        cat.log_prob(images[..., :1], np.zeros((2, 4, 4, 255), np.float32))
    with pytest.raises(ValueError, match="expects 256 parameters per pixel"):
        cat.sample(np.zeros((2, 4, 4, 768), np.float32))
    with pytest.raises(ValueError, match="1 channels but 3 are expected"):
        mix.log_prob(images[..., :1], params)
    with pytest.raises(ValueError, match="3 channels but 1 are expected"):
        cat.log_prob(images, np.zeros((2, 4, 4, 256), np.float32))
    with pytest.raises(ValueError, match=r"shape \(batch, height, width, channels\)"):
        mix.log_prob(images[0], params[0])
    with pytest.raises(TypeError, match="uint8"):
        mix.log_prob(images.astype(np.float32), params)
    with pytest.raises(ValueError, match="0..255"):
        mix.log_prob(images.astype(np.int32) + 300, params)
    with pytest.raises(ValueError, match="0..255"):
        mix.log_prob(images.astype(np.int16) - 1, params)
    with pytest.raises(ValueError, match="does not match params grid"):
        mix.log_prob(images, params[:, :3])
    with pytest.raises(TypeError, match="floating point"):
        mix.log_prob(images, params.astype(np.int32))
    with pytest.raises(ValueError, match="num_mixtures"):
        pl.DiscretizedLogisticMixture(0, 3)
    with pytest.raises(ValueError, match="channels must be 1"):
        pl.DiscretizedLogisticMixture(2, 2)
    with pytest.raises(ValueError, match="channels must be 1"):
        pl.Categorical(4)
    with pytest.raises(ValueError, match="seed"):
        cat.sample(np.zeros((1, 1, 1, 256), np.float32), seed=[1, 2, 3])
    # integer images of another dtype but in range are accepted and mean the same
    np.testing.assert_allclose(
        mix.log_prob(images.astype(np.int64) + 7, params).numpy(), mix.log_prob(images + 7, params).numpy())
