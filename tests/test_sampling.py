"""Sampling and completion with whole models: determinism, known pixels kept,
raster-order conditioning, the sampled pixel follows the model's own
probabilities, clear errors.
"""

from __future__ import annotations

import keras
import numpy as np
import pytest
from helpers import IMAGE_SIZE, build_small, random_images, to_numpy, total_variation

import pixelcnn_lib as pl

H = W = IMAGE_SIZE


@pytest.mark.contract
def test_sample_is_deterministic_for_a_seed(small_model):
    model = small_model("pixelsnail_original", 1)
    a = pl.sample(model, 3, seed=5)
    b = pl.sample(model, 3, seed=5)
    c = pl.sample(model, 3, seed=6)
    assert a.dtype == np.uint8 and a.shape == (3, H, W, 1)
    np.testing.assert_array_equal(a, b)
    assert (a != c).mean() > 0.5
    assert (a[0] != a[1]).mean() > 0.5, "images of one batch must differ"
    assert len(np.unique(a)) > 20, "samples should use many grey levels"


@pytest.mark.contract
def test_rgb_sampling_is_deterministic_for_a_seed(small_model):
    """The 256-way RGB model draws each colour in its own pass; still one seed, one result."""
    model = small_model("pixelcnn", 3)
    images = random_images(2, (H, W, 3), seed=30)
    known = np.ones((2, H, W), bool)
    known[:, -2:] = False  # the last two rows: 16 pixels, 48 draws
    a = pl.complete(model, images, known, seed=5)
    np.testing.assert_array_equal(pl.complete(model, images, known, seed=5), a)
    c = pl.complete(model, images, known, seed=6)
    assert (a[~known] != c[~known]).mean() > 0.5
    assert len(np.unique(a[~known])) > 20


@pytest.mark.contract
def test_complete_keeps_known_pixels_and_fills_the_rest(small_model):
    model = small_model("gated_pixelcnn", 3)
    images = random_images(2, (H, W, 3), seed=31)
    known = np.zeros((2, H, W), bool)
    known[0, :4] = True  # top half given
    known[1] = np.random.default_rng(32).random((H, W)) < 0.5  # scattered pixels given
    out = pl.complete(model, images, known, seed=3)
    assert out.dtype == np.uint8 and out.shape == images.shape
    np.testing.assert_array_equal(out[known], images[known])
    assert (out[~known] != images[~known]).any(axis=-1).mean() > 0.5, "unknown pixels must be sampled"
    np.testing.assert_array_equal(pl.complete(model, images, known, seed=3), out)
    again = pl.complete(model, images, known, seed=4)
    np.testing.assert_array_equal(again[known], images[known])
    assert (again[~known] != out[~known]).any()
    # nothing unknown: the images come back unchanged
    np.testing.assert_array_equal(pl.complete(model, images, np.ones((2, H, W), bool)), images)


@pytest.mark.contract
def test_complete_conditions_on_earlier_pixels_only(small_model):
    """Changing a known pixel at raster position q leaves every sample before q
    unchanged (same seed) and changes samples after it."""
    model = small_model("pixelsnail_multihead", 1)
    image = random_images(1, (H, W, 1), seed=33)
    known = np.zeros((1, H, W), bool)
    known[0, 4, 3] = True  # one known pixel in the middle, q = 35
    other = image.copy()
    other[0, 4, 3] = (other[0, 4, 3].astype(int) + 128) % 256
    a = pl.complete(model, image, known, seed=8)[0, ..., 0].ravel()
    b = pl.complete(model, other, known, seed=8)[0, ..., 0].ravel()
    q = 4 * W + 3
    np.testing.assert_array_equal(a[:q], b[:q])
    assert a[q] == image[0, 4, 3, 0] and b[q] == other[0, 4, 3, 0]
    assert (a[q + 1:] != b[q + 1:]).any()


@pytest.mark.contract
@pytest.mark.parametrize("key,channels", [("gated_pixelcnn", 1), ("pixelsnail_original", 1), ("pixelcnn", 3),
                                          ("pixelcnn_mixture", 1)])
@pytest.mark.slow
def test_completed_pixel_follows_the_model_probabilities(key, channels):
    """Complete only the last pixel of many copies of one image: the values drawn
    follow exp(log_prob) of that pixel given the rest (for the 256-way RGB
    model: the joint of R and G, G drawn in a second pass given the sampled R)."""
    model = build_small(key, channels, seed=7)
    pl.data_dependent_init(model, random_images(32, (H, W, channels), seed=34))  # unit-scale outputs
    base = random_images(1, (H, W, channels), seed=35)[0]
    n = 4000
    known = np.ones((n, H, W), bool)
    known[:, H - 1, W - 1] = False
    drawn = pl.complete(model, np.repeat(base[None], n, axis=0), known, seed=9)[:, H - 1, W - 1]
    rng = np.random.default_rng(36)

    def exact_probs(i, j, channel=0):
        """P(value of channel at pixel (i, j)) for the 256 values, the rest of ``base`` fixed.
        For channel 1 (RGB): a (256 R, 256 G) table of P(R) P(G | R)."""
        batch = np.repeat(base[None], 256, axis=0)
        batch[:, i, j, channel] = np.arange(256)
        if channels == 1:
            lp = pl.log_prob(model, batch, per_pixel=True, batch_size=256)[:, i, j].astype(np.float64)
            p = np.exp(lp - lp.max())
            return p / p.sum()
        # 256-way RGB: read the R and G logits of the pixel directly
        logits = to_numpy(model(pl.nn.to_unit_range(batch), training=False))[:, i, j].astype(np.float64)

        def softmax(z):
            e = np.exp(z - z.max(axis=-1, keepdims=True))
            return e / e.sum(axis=-1, keepdims=True)
        p_r = softmax(logits[0, :256])  # R logits do not depend on the pixel's own R
        p_g_given_r = softmax(logits[:, 256:512])  # row r: G given R = r
        return p_r[:, None] * p_g_given_r

    def coarse(hist_or_probs, bins=16 if channels == 1 else 8):
        a = np.asarray(hist_or_probs, np.float64)
        for axis in range(a.ndim):
            a = np.add.reduceat(a, np.arange(0, 256, 256 // bins), axis=axis)
        return a

    # what a sampler drawing from the wrong pixel's distribution would follow
    neighbour = exact_probs(H - 1, W - 2)
    if channels == 1:
        probs = exact_probs(H - 1, W - 1)
        hist = np.bincount(drawn[:, 0], minlength=256)
        exact = np.bincount(rng.choice(256, n, p=probs), minlength=256)
    else:
        probs = exact_probs(H - 1, W - 1)  # (R, G)
        hist = np.zeros((256, 256))
        np.add.at(hist, (drawn[:, 0], drawn[:, 1]), 1)
        flat = rng.choice(256 * 256, n, p=probs.ravel())
        exact = np.bincount(flat, minlength=256 * 256).reshape(256, 256)
    tv_head = total_variation(coarse(hist), coarse(probs))
    tv_exact = total_variation(coarse(exact), coarse(probs))
    assert tv_head < 1.5 * tv_exact + 0.02, (tv_head, tv_exact)
    # the comparison has power against the obvious mistakes
    assert total_variation(coarse(neighbour), coarse(probs)) > 2 * tv_exact + 0.02


class RuleModel:
    """A stand-in for a trained 256-way model whose conditionals are known and
    (almost) deterministic: logits of 30 on one value, 0 on the others.

    R at (i, j) is the R of the left neighbour + 1; at the start of a row, the
    R of the last pixel of the row above + 7; at (0, 0), 0 (all mod 256). Only
    raster order gives the pattern (column by column, the end of a row would
    not be drawn yet when the next row starts). With RGB, G copies
    the R of the same pixel and B is that G + 1, so a sampler must draw the
    colours of a pixel one after the other, each given the ones before.
    """

    def __init__(self, size, channels):
        self.image_shape = (size, size, channels)
        self.head = pl.Categorical(channels)

    def __call__(self, x, training=False):
        ops = keras.ops
        v = ops.cast(ops.round((x + 1.0) * 127.5), "int32")
        r = v[..., 0]
        left = ops.pad(r[:, :, :-1], [[0, 0], [0, 0], [1, 0]])
        h, w, c = self.image_shape
        above = ops.pad(r[:, :-1, w - 1:], [[0, 0], [1, 0], [0, w - 1]])  # (i - 1, w - 1) at column 0
        col = ops.arange(w)[None, None, :]
        row = ops.arange(h)[:, None][None]
        target = ops.where(col > 0, left + 1, ops.where(row > 0, above + 7, ops.zeros_like(r))) % 256
        targets = [target] if c == 1 else [target, r, (v[..., 1] + 1) % 256]
        return ops.concatenate([30.0 * ops.one_hot(t, 256) for t in targets], axis=-1)


def apply_rule(image, known):
    """The image RuleModel's sampler must produce: numpy replay in raster order."""
    out = image.astype(np.int64).copy()
    h, w, c = out.shape
    for i in range(h):
        for j in range(w):
            if known[i, j]:
                continue
            r = (out[i, j - 1, 0] + 1) % 256 if j > 0 else ((out[i - 1, w - 1, 0] + 7) % 256 if i > 0 else 0)
            out[i, j, 0] = r
            if c == 3:
                out[i, j, 1] = r
                out[i, j, 2] = (r + 1) % 256
    return out.astype(np.uint8)


@pytest.mark.contract
@pytest.mark.parametrize("channels", [1, 3])
def test_sampling_follows_raster_order_and_colour_order(channels):
    model = RuleModel(5, channels)
    drawn = pl.sample(model, 2, seed=1)
    want = apply_rule(np.zeros((5, 5, channels), np.uint8), np.zeros((5, 5), bool))
    np.testing.assert_array_equal(drawn[0], want)
    np.testing.assert_array_equal(drawn[1], want)
    np.testing.assert_array_equal(want[:, 0, 0], [0, 11, 22, 33, 44])
    # completion: unknown pixels follow from the known and already-completed ones before them
    images = random_images(3, (5, 5, channels), seed=38)
    known = np.random.default_rng(39).random((3, 5, 5)) < 0.4
    out = pl.complete(model, images, known, seed=2)
    for b in range(3):
        np.testing.assert_array_equal(out[b], apply_rule(images[b], known[b]))


def test_sample_and_complete_errors(small_model):
    model = small_model("pixelcnn", 1)
    images = random_images(2, (H, W, 1), seed=37)
    known = np.zeros((2, H, W), bool)
    for bad in (0, -1, 2.5, "3", None):
        with pytest.raises(ValueError, match="num_images must be a positive int"):
            pl.sample(model, bad)
    with pytest.raises(TypeError, match="known must be a bool array"):
        pl.complete(model, images, known.astype(np.int32))
    with pytest.raises(ValueError, match=r"known must have shape \(B, H, W\)"):
        pl.complete(model, images, known[:, :, :4])
    with pytest.raises(ValueError, match=r"known must have shape \(B, H, W\)"):
        pl.complete(model, images, known[..., None])
    with pytest.raises(TypeError, match="uint8"):
        pl.complete(model, images.astype(np.float32), known)
    with pytest.raises(ValueError, match="3 channels but 1 are expected"):
        pl.complete(model, np.zeros((2, H, W, 3), np.uint8), known)
    with pytest.raises(ValueError, match="do not match the model's"):
        pl.complete(model, np.zeros((2, 4, 4, 1), np.uint8), np.zeros((2, 4, 4), bool))
    with pytest.raises(ValueError, match="0..255"):
        pl.complete(model, np.full((2, H, W, 1), -1, np.int32), known)
    with pytest.raises(TypeError, match="pl.build_model"):
        pl.sample(object(), 1)


@pytest.mark.slow
@pytest.mark.contract
def test_compiled_steps_are_kept_by_the_library_and_let_the_model_go():
    """Sampling and evaluation compile a step per model once; it is kept outside the model (no attribute is added
    to it), sees the model's current weights, and does not keep a dropped model alive."""
    import gc
    import weakref

    from pixelcnn_lib import compiled
    from pixelcnn_lib.training import evaluate_bits_per_dim

    model = build_small("pixelsnail_original", 3)
    images = random_images(2, model.image_shape, seed=1)
    before = set(vars(model))
    first = evaluate_bits_per_dim(model, images, progress=False)
    pl.sample(model, 1, seed=0, progress=False)
    assert set(vars(model)) == before
    assert compiled.entries(model) == ["evaluation step", "sampling step"]
    for variable in model.trainable_variables:  # new weights: the kept step must see them
        variable.assign(variable * 0.5)
    assert evaluate_bits_per_dim(model, images, progress=False) != pytest.approx(first, abs=1e-4)
    assert evaluate_bits_per_dim(model, images, progress=False) == pytest.approx(
        float(pl.bits_per_dim(-pl.log_prob(model, images).mean(), model.image_shape)), abs=1e-3)
    ref = weakref.ref(model)
    del model
    gc.collect()
    assert ref() is None
