"""Cached sampling must make the draws naive sampling makes (TensorFlow: its speed path), up to a bin-edge rounding
(see ``helpers.assert_same_draws``)."""

import keras
import numpy as np
import pytest
from helpers import assert_same_draws

import pixelcnn_lib as pl
from pixelcnn_lib import nn as L
from pixelcnn_lib.nn import caches as sampling_caches

CASES = [
    ("pixelsnail", (8, 8, 3), dict(filters=16, depth=2, resnets_per_block=1)),
    ("pixelsnail", (8, 8, 1), dict(filters=16, depth=1, resnets_per_block=2, variant="multihead", num_heads=4)),
    ("pixelsnail", (8, 8, 3), dict(filters=16, depth=1, resnets_per_block=1, background=False, image_keys=False)),
    ("gated_pixelcnn", (8, 8, 3), dict(filters=12, depth=3, head_filters=24)),
    ("gated_pixelcnn", (8, 8, 1), dict(filters=12, depth=3, head_filters=24, kernel=3)),
    ("pixelcnn_pp", (8, 8, 3), dict(filters=16, depth=1, levels=2, num_mixtures=3)),
    ("pixelcnn_pp", (8, 8, 1), dict(filters=8, depth=2, levels=3, num_mixtures=2)),
]

ON_TENSORFLOW = keras.backend.backend() == "tensorflow"
#: the cached = naive part of the contract holds where cached sampling exists (TensorFlow)
NEEDS_TENSORFLOW = pytest.mark.skipif(not ON_TENSORFLOW, reason="cached sampling is TensorFlow's speed path")


def half_known(n, shape):
    """``n`` random images and a mask that knows their top halves, and in image 1 also a pixel after unknown ones."""
    h, w, c = shape
    images = np.random.default_rng(1).integers(0, 256, (n, h, w, c), dtype=np.uint8)
    known = np.zeros((n, h, w), bool)
    known[:, : h // 2] = True
    known[1, h - 2, 3] = True
    return images, known


@pytest.fixture(scope="module", params=CASES,
                ids=lambda c: f"{c[0]}-{c[1][-1]}ch-{c[2].get('variant', '')}{c[2].get('levels', '')}"
                              f"{'-bare' if 'image_keys' in c[2] else ''}")
def model(request):
    name, shape, hparams = request.param
    model = pl.build_model(name, shape, **hparams)
    # data-dependent init gives the untrained model outputs of a realistic scale
    pl.data_dependent_init(model, np.random.default_rng(0).integers(0, 256, (8, *shape), dtype=np.uint8))
    return model


@pytest.mark.slow
@pytest.mark.contract
@NEEDS_TENSORFLOW
def test_cached_sample_equals_naive(model):
    naive = pl.sample(model, 3, seed=5, method="naive")
    cached = pl.sample(model, 3, seed=5, method="cached")
    assert_same_draws(cached, naive)
    # and the images are not trivially constant
    assert len(np.unique(cached)) > 10
    # the check tells another sampler's draws apart
    with pytest.raises(AssertionError):
        assert_same_draws(pl.sample(model, 3, seed=6, method="cached"), naive)


@pytest.mark.slow
@pytest.mark.contract
@NEEDS_TENSORFLOW
def test_cached_complete_equals_naive_and_keeps_known(model):
    images, known = half_known(3, model.image_shape)
    naive = pl.complete(model, images, known, seed=2, method="naive")
    cached = pl.complete(model, images, known, seed=2, method="cached")
    assert_same_draws(cached, naive)
    np.testing.assert_array_equal(cached[known], images[known])
    assert (cached[~known] != images[~known]).any()


@pytest.mark.slow
@pytest.mark.contract
@NEEDS_TENSORFLOW
def test_cached_equals_naive_for_a_batch_of_one(model):
    assert_same_draws(pl.sample(model, 1, seed=4, method="cached"), pl.sample(model, 1, seed=4, method="naive"))
    h, w, c = model.image_shape
    image = np.random.default_rng(3).integers(0, 256, (1, h, w, c), dtype=np.uint8)
    known = np.zeros((1, h, w), bool)
    known[0, : h // 2 + 1, : w // 2] = True  # known pixels on both sides of unknown ones
    cached = pl.complete(model, image, known, seed=6, method="cached")
    assert_same_draws(cached, pl.complete(model, image, known, seed=6, method="naive"))
    np.testing.assert_array_equal(cached[known], image[known])


@pytest.mark.slow
@pytest.mark.contract
@NEEDS_TENSORFLOW
def test_cached_sampler_is_reusable_and_seeded(model):
    a = pl.sample(model, 2, seed=9, method="cached")
    b = pl.sample(model, 2, seed=9, method="cached")
    c = pl.sample(model, 2, seed=10, method="cached")
    np.testing.assert_array_equal(a, b)
    assert (a != c).any()


@pytest.mark.contract
@pytest.mark.skipif(ON_TENSORFLOW, reason="cached sampling exists on TensorFlow")
def test_cached_sampling_elsewhere_is_a_clear_error():
    model = pl.build_model("pixelsnail", (8, 8, 1), filters=8, depth=1, resnets_per_block=1)
    with pytest.raises(ValueError, match="cached sampling runs on the TensorFlow backend.*use method='naive'"):
        pl.sample(model, 1, method="cached")


def test_models_declare_their_sampler():
    assert {name for name, cls in pl.MODELS.items() if cls.cached_sampling} == {
        "pixelsnail", "gated_pixelcnn", "pixelcnn_pp"}


def test_unsupported_model_and_method():
    model = pl.build_model("pixelcnn", (8, 8, 1), filters=8, depth=1)
    with pytest.raises(ValueError, match="cached sampling is available for"):
        pl.sample(model, 1, method="cached")
    with pytest.raises(ValueError, match="method must be one of"):
        pl.sample(model, 1, method="fast")


CONVOLUTIONS = {  # windows that end at the current position (a down-shifted one is stepped by rows, below)
    "down-right-shifted": lambda: L.DownRightShiftedConv2D(5, (2, 2)),
    "masked-rgb": lambda: L.MaskedConv2D(6, 3, "B", colour_groups=3),
}


@pytest.mark.parametrize("make", CONVOLUTIONS.values(), ids=CONVOLUTIONS.keys())
def test_a_convolution_step_is_its_call_at_one_position(make):
    conv = make()
    x = np.random.default_rng(0).normal(size=(2, 5, 6, 3)).astype(np.float32)
    full = conv(x).numpy()
    caches = sampling_caches.Caches()
    conv.start_cache(caches, 2, 5, 6)
    caches.reset()
    for i in range(5):
        for j in range(6):
            np.testing.assert_allclose(conv.step(caches, x[:, i, j], i, j), full[:, i, j], atol=1e-5)


def test_a_row_step_and_a_block_step_are_their_calls():
    rng = np.random.default_rng(1)
    x = rng.normal(size=(2, 5, 6, 4)).astype(np.float32)
    aux = rng.normal(size=(2, 5, 6, 4)).astype(np.float32)
    conv = L.DownShiftedConv2D(4, (2, 3))
    block = L.GatedResidualBlock(4, L.DownRightShiftedConv2D, has_aux=True)
    full_conv, full_block = conv(x).numpy(), block(x, aux=aux).numpy()
    caches = sampling_caches.Caches()
    conv.start_cache(caches, 2, 5, 6, by="row")
    block.start_cache(caches, 2, 5, 6)
    caches.reset()
    for i in range(5):
        np.testing.assert_allclose(conv.step(caches, x[:, i], i), full_conv[:, i], atol=1e-5)
        for j in range(6):
            step = block.step(caches, x[:, i, j], i, j, aux=aux[:, i, j])
            np.testing.assert_allclose(step, full_block[:, i, j], atol=1e-5)
