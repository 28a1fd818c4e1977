"""The four models: causality (by log-prob and by gradient), the blind spot,
per-pixel normalisation, finite loss and gradients, shapes, configs and errors.

Raster order: pixel (i, j) has index i * W + j. Every model is checked in grey
and RGB at a small size (see conftest.py), with dropout off (training=False).
"""

from __future__ import annotations

import numpy as np
import pytest
import tensorflow as tf
from helpers import CHANNELS, IMAGE_SIZE, MODEL_KEYS, SMALL_CONFIGS, finite, grads_finite, random_images, to_numpy

import pixelcnn_lib as pl
from pixelcnn_lib.nn.heads import to_unit_range

H = W = IMAGE_SIZE
N_PIXELS = H * W
#: first, last, row starts and ends, and a few in the middle
POSITIONS = [(0, 0), (0, 7), (1, 0), (2, 7), (3, 4), (4, 1), (5, 6), (7, 0), (7, 7)]
ALL_MODELS = pytest.mark.parametrize("key,channels", [(k, c) for k in MODEL_KEYS for c in CHANNELS],
                                     ids=[f"{k}-{'grey' if c == 1 else 'rgb'}" for k in MODEL_KEYS for c in CHANNELS])


def index(i, j):
    return i * W + j


def probe_batch(channels, seed):
    """A random image followed by its copies with one pixel of ``POSITIONS`` changed each (``change_pixel``)."""
    base = random_images(1, (H, W, channels), seed=seed)[0]
    return np.stack([base] + [change_pixel(base, index(i, j)) for i, j in POSITIONS])


def assert_causal(lp, what=""):
    """``lp``: per-pixel log-probabilities (1 + len(POSITIONS), N_PIXELS) of a ``probe_batch``. Changing pixel k
    leaves every earlier pixel's unchanged, and changes its own or a later one's (else the check is vacuous)."""
    for n, k in enumerate((index(i, j) for i, j in POSITIONS), start=1):
        diff = np.abs(lp[n] - lp[0])
        if k > 0:
            assert diff[:k].max() <= 1e-5, f"{what}pixel {k} changed the log-prob of pixel {np.argmax(diff[:k])}"
        assert diff[k:].max() > 1e-3, f"{what}changing pixel {k} changed nothing (the test would be vacuous)"
        if k < N_PIXELS - 1:
            assert diff[k + 1:].max() > 1e-6, f"{what}no later pixel depends on pixel {k}"


def change_pixel(image, k):
    """A copy of ``image`` (H, W, C) with every channel of pixel k moved by 128 grey levels."""
    out = image.copy()
    i, j = divmod(k, W)
    out[i, j] = (out[i, j].astype(np.int32) + 128) % 256
    return out


# --------------------------------------------------------------------------
# causality by log-probabilities
# --------------------------------------------------------------------------


@pytest.mark.contract
@ALL_MODELS
def test_changing_a_pixel_leaves_earlier_log_probs_unchanged(small_model, key, channels):
    model = small_model(key, channels)
    batch = probe_batch(channels, seed=21)
    assert_causal(pl.log_prob(model, batch, per_pixel=True).reshape(len(batch), N_PIXELS))


# --------------------------------------------------------------------------
# causality by gradient
# --------------------------------------------------------------------------


def output_blocks(model):
    """Parameter blocks that must be checked separately: one per colour for the
    256-way RGB head (R, G, B logits), one block of everything otherwise."""
    p = model.head.num_params
    if isinstance(model.head, pl.Categorical) and model.head.channels == 3:
        return [slice(0, 256), slice(256, 512), slice(512, 768)]
    return [slice(0, p)]


def input_gradients(model, channels, num_images=4, seed=22):
    """|d (random projection of the params of block b at pixel p) / d input|.

    Returns an array (N_PIXELS, blocks, N_PIXELS, channels): [p, b, q, c] is
    the largest gradient size, over ``num_images`` random images, at input
    pixel q, channel c (several images, so that a ReLU that happens to be off
    for one image does not hide a path). One backward pass: batch entry
    (image, p, b) back-propagates only that output.
    """
    blocks = output_blocks(model)
    nb = len(blocks)
    per_image = N_PIXELS * nb
    images = random_images(num_images, (H, W, channels), seed=seed)
    x = tf.constant(np.repeat(to_unit_range(images).numpy(), per_image, axis=0))
    rng = np.random.default_rng(seed)
    select = np.zeros((num_images * per_image, H, W, model.head.num_params), np.float32)
    for n in range(num_images * per_image):
        p, b = divmod(n % per_image, nb)
        cols = blocks[b]
        i, j = divmod(p, W)
        select[n, i, j, cols] = rng.normal(size=cols.stop - cols.start)
    with tf.GradientTape() as tape:
        tape.watch(x)
        params = model(x, training=False)
        total = tf.reduce_sum(params * select)
    grad = np.abs(tape.gradient(total, x).numpy())
    return grad.reshape(num_images, N_PIXELS, nb, N_PIXELS, channels).max(axis=0)


@pytest.fixture(scope="module")
def gradients(small_model):
    cache = {}

    def get(key, channels):
        if (key, channels) not in cache:
            cache[key, channels] = input_gradients(small_model(key, channels), channels)
        return cache[key, channels]

    return get


def seen(g):
    """Which entries of a gradient array are nonzero (relative to its largest entry)."""
    return g > 1e-7 * g.max()


@pytest.mark.slow
@ALL_MODELS
def test_a_pixel_never_reaches_its_own_prediction(gradients, key, channels):
    g = gradients(key, channels)
    s = seen(g)
    later_or_same = np.triu(np.ones((N_PIXELS, N_PIXELS), bool))  # [p, q]: q >= p
    if g.shape[1] == 1:  # mixture heads and grey: nothing at p or after, any channel
        leaks = s[:, 0].any(axis=-1) & later_or_same
        assert not leaks.any(), f"params at pixel p see input pixel q >= p for (p, q) in {np.argwhere(leaks)[:5]}"
    else:  # 256-way RGB head: logits of colour c see earlier colours of the same pixel only
        strictly_later = np.triu(np.ones((N_PIXELS, N_PIXELS), bool), k=1)
        for c in range(3):
            assert not (s[:, c].any(axis=-1) & strictly_later).any(), f"colour {c} sees a later pixel"
            own = s[np.arange(N_PIXELS), c, np.arange(N_PIXELS)]  # (p, input channel) at q = p
            assert not own[:, c:].any(), f"colour {c} logits see colour >= {c} of their own pixel"
            if c > 0:
                assert own[:, :c].any(axis=1).all(), f"colour {c} logits ignore the earlier colours of the pixel"
    # and the gradient test is not vacuous: the left and upper neighbours are always seen
    s_any = s.any(axis=(1, 3))  # [p, q]
    for p in range(1, N_PIXELS):
        i, j = divmod(p, W)
        if j > 0:
            assert s_any[p, p - 1], f"pixel {p} ignores its left neighbour"
        if i > 0:
            assert s_any[p, p - W], f"pixel {p} ignores the pixel above"


@pytest.mark.parametrize("key", ["pixelsnail_original", "pixelsnail_multihead"])
@pytest.mark.parametrize("channels", CHANNELS)
def test_pixelsnail_sees_every_earlier_pixel(gradients, key, channels):
    s_any = seen(gradients(key, channels)).any(axis=(1, 3))
    np.testing.assert_array_equal(s_any, np.tril(np.ones((N_PIXELS, N_PIXELS), bool), k=-1))


#: targets near the left edge, where the blind spot of stacked 3x3 masks lies inside the image
BLIND_SPOT_TARGETS = [(4, 1), (5, 2), (6, 1)]


def receptive_field(gradients, key, target):
    s = seen(gradients(key, 1)).any(axis=(1, 3))[index(*target)]
    return s.reshape(H, W)


def holes_above(field, target):
    """Pixels in the rows above ``target`` that are not seen although a pixel
    higher up in the same column is: the shape of the blind spot."""
    i, _ = target
    holes = np.zeros_like(field)
    for r in range(1, i):
        holes[r] = ~field[r] & field[:r].any(axis=0)
    return holes


def test_blind_spot_of_masked_convolutions(gradients):
    for target in BLIND_SPOT_TARGETS:
        masked = receptive_field(gradients, "pixelcnn", target)
        blind = holes_above(masked, target)
        assert blind.any(), f"pixelcnn should have a blind spot above-right of {target}"
        blind_cols = np.flatnonzero(blind.any(axis=0))
        assert np.all(blind_cols > target[1]), "the blind spot lies to the right of the target"
        for key in ("gated_pixelcnn", "pixelcnn_pp", "pixelsnail_original", "pixelsnail_multihead"):
            field = receptive_field(gradients, key, target)
            assert not holes_above(field, target).any(), f"{key} has a blind spot at {target}"
            if key == "gated_pixelcnn":  # its field is a rectangle of limited width: some of them
                assert (blind & field).any(), f"gated_pixelcnn sees none of pixelcnn's blind pixels at {target}"
            else:  # these see every earlier pixel here
                assert not (blind & ~field).any(), f"{key} misses pixelcnn's blind pixels at {target}"


# --------------------------------------------------------------------------
# per-pixel normalisation through the whole model
# --------------------------------------------------------------------------


@pytest.mark.slow
@pytest.mark.contract
@pytest.mark.parametrize("key", MODEL_KEYS)
def test_all_256_values_of_a_pixel_sum_to_one(small_model, key):
    model = small_model(key, 1)
    base = random_images(1, (H, W, 1), seed=23)[0]
    targets = [(0, 0), (3, 5), (4, 0), (7, 7)]
    batch = np.repeat(base[None], 256 * len(targets), axis=0)
    for t, (i, j) in enumerate(targets):
        batch[t * 256:(t + 1) * 256, i, j, 0] = np.arange(256)
    lp = pl.log_prob(model, batch, per_pixel=True, batch_size=256)
    for t, (i, j) in enumerate(targets):
        values = lp[t * 256:(t + 1) * 256, i, j].astype(np.float64)
        total = np.log(np.sum(np.exp(values - values.max()))) + values.max()
        assert abs(total) < 1e-4, f"{key}: probabilities of pixel {(i, j)} sum to exp({total})"
        if (i, j) != (0, 0):  # (an untrained 256-way model may be exactly uniform at the first pixel)
            assert values.max() - values.min() > 1e-3, "not trivially uniform"


# --------------------------------------------------------------------------
# numerics
# --------------------------------------------------------------------------


@pytest.mark.slow
@ALL_MODELS
def test_loss_and_gradients_finite_on_black_and_white_images(small_model, key, channels):
    model = small_model(key, channels)
    images = np.stack([np.zeros((H, W, channels), np.uint8), np.full((H, W, channels), 255, np.uint8)])
    with tf.GradientTape() as tape:
        params = model(to_unit_range(images), training=True)
        loss = -tf.reduce_mean(model.head.log_prob(images, params))
    grads = tape.gradient(loss, model.trainable_weights)
    assert finite(loss)
    assert grads_finite(grads)
    assert sum(float(tf.reduce_sum(tf.abs(g))) for g in grads) > 0


# --------------------------------------------------------------------------
# shapes, configuration, log_prob
# --------------------------------------------------------------------------


@ALL_MODELS
def test_output_shape_head_and_config(small_model, key, channels):
    model = small_model(key, channels)
    name, hparams = SMALL_CONFIGS[key]
    x = to_unit_range(random_images(3, (H, W, channels), seed=24))
    params = model(x, training=False)
    assert params.shape == (3, H, W, model.head.num_params)
    assert model.head.channels == channels
    if name in ("pixelcnn", "gated_pixelcnn") and hparams.get("num_mixtures") is None:
        assert isinstance(model.head, pl.Categorical)
    else:
        assert isinstance(model.head, pl.DiscretizedLogisticMixture)
        assert model.head.num_mixtures == hparams["num_mixtures"]
    assert model.image_shape == (H, W, channels)
    assert model.hparams == {**model.defaults, **hparams}
    config = model.config
    assert config["model"] == name and tuple(config["image_shape"]) == (H, W, channels)
    # dropout is off at evaluation: the same input gives the same output
    np.testing.assert_array_equal(model(x, training=False).numpy(), params.numpy())


@pytest.mark.parametrize("key", ["pixelcnn", "gated_pixelcnn", "pixelsnail_multihead"])
def test_model_from_config_rebuilds_the_same_architecture(small_model, key):
    model = small_model(key, 3)
    again = pl.model_from_config(model.config)
    assert type(again) is type(model)
    assert again.config == model.config
    assert again.count_params() == model.count_params()


@pytest.mark.parametrize("key", ["pixelcnn_pp", "pixelsnail_original"])
def test_dropout_is_active_in_training_only(small_model, key):
    model = small_model(key, 1)
    x = to_unit_range(random_images(2, (H, W, 1), seed=25))
    assert not np.allclose(model(x, training=True).numpy(), model(x, training=False).numpy())


@pytest.mark.contract
@pytest.mark.parametrize("key,channels", [("pixelcnn", 3), ("pixelsnail_original", 1), ("pixelsnail_multihead", 3)])
def test_log_prob_agrees_with_the_head(small_model, key, channels):
    model = small_model(key, channels)
    images = random_images(5, (H, W, channels), seed=26)
    per_pixel = pl.log_prob(model, images, per_pixel=True)
    total = pl.log_prob(model, images)
    assert per_pixel.shape == (5, H, W) and total.shape == (5,)
    assert np.all(per_pixel <= 1e-6)
    np.testing.assert_allclose(total, per_pixel.sum(axis=(1, 2)), rtol=1e-5)
    np.testing.assert_allclose(pl.log_prob(model, images, batch_size=2), total, rtol=1e-5)
    direct = to_numpy(model.head.log_prob(images, model(to_unit_range(images), training=False)))
    np.testing.assert_allclose(per_pixel, direct, rtol=1e-5, atol=1e-5)


def test_published_defaults():
    assert pl.MODELS["pixelsnail"].defaults["filters"] == 256
    assert pl.MODELS["pixelsnail"].defaults["num_mixtures"] == 10
    assert pl.MODELS["pixelsnail"].defaults["dropout"] == 0.5
    assert pl.MODELS["pixelsnail"].defaults["variant"] == "original"
    pp = pl.MODELS["pixelcnn_pp"].defaults
    assert (pp["filters"], pp["depth"], pp["num_mixtures"], pp["dropout"]) == (160, 5, 10, 0.5)
    assert set(pl.MODELS) == {"pixelcnn", "gated_pixelcnn", "pixelcnn_pp", "pixelsnail"}
    for cls in pl.MODELS.values():
        assert {"filters", "depth"} <= set(cls.defaults)


# --------------------------------------------------------------------------
# errors
# --------------------------------------------------------------------------


@pytest.mark.parametrize("args,kwargs,error,match", [
    (("pixelrnn", (8, 8, 1)), {}, ValueError, "unknown model name 'pixelrnn'"),
    (("pixelcnn", (8, 8, 1)), {"filterz": 3}, TypeError, r"no hyper-parameter\(s\) \['filterz'\]"),
    (("pixelsnail", (8, 8, 1)), {"kernel": 3}, TypeError, "no hyper-parameter"),
    (("pixelcnn", (8, 6, 1)), {}, ValueError, "square"),
    (("pixelcnn", (8, 8, 2)), {}, ValueError, r"1 \(grey\) or 3 \(RGB\) channels"),
    (("pixelcnn", (8, 8)), {}, ValueError, r"\(height, width, channels\)"),
    (("pixelcnn", 8), {}, TypeError, "image_shape"),
    (("pixelcnn_pp", (4, 4, 1)), {}, ValueError, "too small"),
    (("pixelcnn_pp", (10, 10, 1)), {}, ValueError, "multiple of 4"),
    (("pixelcnn", (8, 8, 1)), {"filters": 0}, ValueError, "filters must be a positive int"),
    (("pixelcnn", (8, 8, 1)), {"num_mixtures": 0}, ValueError, "num_mixtures must be None .* or a positive int"),
    (("pixelcnn", (8, 8, 1)), {"depth": 1.5}, ValueError, "depth must be a positive int"),
    (("pixelsnail", (8, 8, 1)), {"variant": "fancy"}, ValueError, "variant must be one of"),
    (("pixelsnail", (8, 8, 1)), {"variant": "multihead", "filters": 10, "num_heads": 3}, ValueError,
     "divisible by num_heads"),
    (("gated_pixelcnn", (8, 8, 3)), {"filters": 8}, ValueError, "divisible by 6"),
    (("gated_pixelcnn", (8, 8, 1)), {"kernel": 4}, ValueError, "odd"),
])
def test_build_model_errors(args, kwargs, error, match):
    small = ({"filters": 6, "depth": 1} if args[0] != "pixelsnail"
             else {"filters": 6, "depth": 1, "resnets_per_block": 1})
    kwargs = {**small, **kwargs}
    with pytest.raises(error, match=match):
        pl.build_model(*args, **kwargs)


def test_model_and_log_prob_input_errors(small_model):
    model = small_model("pixelcnn_pp", 3)
    good = random_images(2, (H, W, 3), seed=27)
    with pytest.raises(ValueError, match=r"expects images of shape \(batch, H, W, C\)"):
        model(np.zeros((H, W, 3), np.float32))
    with pytest.raises(ValueError, match=r"built for images of shape \(8, 8, 3\)"):
        model(np.zeros((1, H, W, 1), np.float32))
    # integer images are scaled to [-1, 1] by the model itself, after a check of their values
    np.testing.assert_array_equal(model(good).numpy(), model(to_unit_range(good)).numpy())
    np.testing.assert_array_equal(model(good.astype(np.int32)).numpy(), model(good).numpy())
    outside = good.astype(np.int32)
    outside[0, 0, 0, 0] = -1
    with pytest.raises(ValueError, match=r"values must lie in 0..255, got range -1..255"):
        model(outside)
    with pytest.raises(TypeError, match=r"takes integer images \(0..255, e.g. uint8\) or float images"):
        model(good.astype(bool))
    with pytest.raises(ValueError, match=r"shape \(batch, height, width, channels\)"):
        pl.log_prob(model, good[0])
    with pytest.raises(ValueError, match="1 channels but 3 are expected"):
        pl.log_prob(model, good[..., :1])
    with pytest.raises(TypeError, match="uint8"):
        pl.log_prob(model, to_unit_range(good).numpy())
    with pytest.raises(ValueError, match="0..255"):
        pl.log_prob(model, good.astype(np.int32) + 200)
    with pytest.raises(ValueError, match="do not match the model's"):
        pl.log_prob(model, np.zeros((1, 4, 4, 3), np.uint8))
    with pytest.raises(TypeError, match="pl.build_model"):
        pl.log_prob(object(), good)
