"""Causal building blocks: masks, shifts, shifted and transposed convolutions,
gated activation, coordinate channels, attention mask, weight normalisation and
data-dependent initialisation. Receptive fields are measured by gradient.
"""

from __future__ import annotations

import keras
import numpy as np
import pytest
import tensorflow as tf
from helpers import build_small, random_images

import pixelcnn_lib as pl
from pixelcnn_lib import nn as L
from pixelcnn_lib.models.base import pad_with_ones


def support(fn, x):
    """Which inputs each output depends on: bool (Ho, Wo, Fo, H, W, C) for one image x (1, H, W, C).

    One backward pass: copy n of the batch back-propagates output number n only
    (``fn`` must treat batch entries independently; see ``tile_like``).
    """
    out_shape = tuple(fn(tf.constant(x, tf.float32)).shape[1:])
    n = int(np.prod(out_shape))
    xs = tf.constant(np.repeat(x, n, axis=0), tf.float32)
    select = tf.reshape(tf.eye(n), (n, *out_shape))
    with tf.GradientTape() as tape:
        tape.watch(xs)
        y = fn(xs)
        total = tf.reduce_sum(y * select)
    jac = tape.gradient(total, xs).numpy().reshape(*out_shape, *x.shape[1:])
    return np.abs(jac) > 1e-7 * np.abs(jac).max()


def tile_like(a, t):
    """Repeat the one-image batch ``a`` to the batch size of ``t``."""
    return tf.repeat(tf.constant(a), tf.shape(t)[0], axis=0)


def normal(shape, seed=0):
    return np.random.default_rng(seed).normal(size=shape).astype(np.float32)


# --------------------------------------------------------------------------
# masks
# --------------------------------------------------------------------------


def test_causal_mask_single_group():
    a = L.causal_mask(3, 1, 1, "A")[..., 0, 0]
    b = L.causal_mask(3, 1, 1, "B")[..., 0, 0]
    np.testing.assert_array_equal(a, [[1, 1, 1], [1, 0, 0], [0, 0, 0]])
    np.testing.assert_array_equal(b, [[1, 1, 1], [1, 1, 0], [0, 0, 0]])
    row = L.causal_mask((1, 5), 2, 2, "A")
    np.testing.assert_array_equal(row[0, :, 0, 0], [1, 1, 0, 0, 0])
    assert row.shape == (1, 5, 2, 2)
    assert np.all(row[0, :2] == 1) and np.all(row[0, 2:] == 0)  # every channel pair alike
    five = L.causal_mask(5, 1, 1, "B")[..., 0, 0]
    np.testing.assert_array_equal(five[:2], 1)
    np.testing.assert_array_equal(five[2], [1, 1, 1, 0, 0])
    np.testing.assert_array_equal(five[3:], 0)


def test_causal_mask_colour_groups():
    a = L.causal_mask(3, 3, 3, "A", colour_groups=3)
    b = L.causal_mask(3, 3, 3, "B", colour_groups=3)
    # centre tap, rows = input channel R, G, B; columns = output channel R, G, B
    np.testing.assert_array_equal(a[1, 1], [[0, 1, 1], [0, 0, 1], [0, 0, 0]])
    np.testing.assert_array_equal(b[1, 1], [[1, 1, 1], [0, 1, 1], [0, 0, 1]])
    # off-centre taps do not depend on the groups
    for m in (a, b):
        assert np.all(m[0] == 1) and np.all(m[1, 0] == 1)
        assert np.all(m[1, 2] == 0) and np.all(m[2] == 0)
    # 3 image channels into 6 features: two features per group
    a36 = L.causal_mask(1, 3, 6, "A", colour_groups=3)[0, 0]
    np.testing.assert_array_equal(a36, [[0, 0, 1, 1, 1, 1], [0, 0, 0, 0, 1, 1], [0, 0, 0, 0, 0, 0]])
    # 6 features into 3 outputs (e.g. R, G, B logits), type B
    b63 = L.causal_mask(1, 6, 3, "B", colour_groups=3)[0, 0]
    np.testing.assert_array_equal(b63, [[1, 1, 1], [1, 1, 1], [0, 1, 1], [0, 1, 1], [0, 0, 1], [0, 0, 1]])
    with pytest.raises(ValueError, match="at least 3 channels"):
        L.causal_mask(3, 2, 6, "A", colour_groups=3)


def test_masked_conv_receptive_field_by_gradient():
    x = normal((1, 5, 5, 3))
    for mask_type in ("A", "B"):
        layer = L.MaskedConv2D(6, 3, mask_type, colour_groups=3)
        s = support(layer, x)[2, 2]  # output pixel (2, 2): (6 outputs, 5, 5, 3 inputs)
        for o in range(6):
            group = o // 2
            expected = np.zeros((5, 5, 3), bool)
            expected[1, 1:4] = True
            expected[2, 1] = True
            for c in range(3):
                expected[2, 2, c] = c < group if mask_type == "A" else c <= group
            np.testing.assert_array_equal(s[o], expected, err_msg=f"type {mask_type}, output channel {o}")


def test_masked_conv_rejects_bad_arguments():
    with pytest.raises(ValueError, match="mask_type"):
        L.MaskedConv2D(4, 3, "C")
    with pytest.raises(ValueError, match="odd kernel"):
        L.MaskedConv2D(4, 2, "A")
    with pytest.raises(ValueError, match="colour_groups"):
        L.MaskedConv2D(4, 3, "A", colour_groups=2)


def test_strictly_causal_mask():
    np.testing.assert_array_equal(L.strictly_causal_mask(4), [
        [0, 0, 0, 0], [1, 0, 0, 0], [1, 1, 0, 0], [1, 1, 1, 0]])


# --------------------------------------------------------------------------
# shifts and activations
# --------------------------------------------------------------------------


def test_down_and_right_shift():
    x = np.arange(1, 10, dtype=np.float32).reshape(1, 3, 3, 1)
    np.testing.assert_array_equal(L.down_shift(x).numpy()[0, ..., 0], [[0, 0, 0], [1, 2, 3], [4, 5, 6]])
    np.testing.assert_array_equal(L.right_shift(x).numpy()[0, ..., 0], [[0, 1, 2], [0, 4, 5], [0, 7, 8]])


def test_concat_elu():
    x = np.array([[[[-1.0, 2.0]]]], np.float32)
    e = np.exp(-1.0) - 1
    np.testing.assert_allclose(L.concat_elu(x).numpy()[0, 0, 0], [e, 2.0, 1.0, np.exp(-2.0) - 1], rtol=1e-6)


def test_gated_activation_one_group():
    a, b = normal((2, 3, 3, 4), 1), normal((2, 3, 3, 4), 2)
    out = L.gated_activation(np.concatenate([a, b], -1)).numpy()
    np.testing.assert_allclose(out, np.tanh(a) / (1 + np.exp(-b)), rtol=1e-5, atol=1e-6)


def test_gated_activation_keeps_colour_group_layout():
    # 3 groups of 4 channels: [a_R(2), b_R(2), a_G(2), b_G(2), a_B(2), b_B(2)]
    x = normal((1, 2, 2, 12), 3)
    out = L.gated_activation(x, groups=3).numpy()
    assert out.shape == (1, 2, 2, 6)
    for g in range(3):
        a, b = x[..., 4 * g: 4 * g + 2], x[..., 4 * g + 2: 4 * g + 4]
        np.testing.assert_allclose(out[..., 2 * g: 2 * g + 2], np.tanh(a) / (1 + np.exp(-b)), rtol=1e-5, atol=1e-6)
    # output group g depends only on input group g
    s = support(lambda t: L.gated_activation(t, groups=3), x)[0, 0]  # (6, 2, 2, 12)
    for o in range(6):
        deps = np.flatnonzero(s[o, 0, 0])
        assert set(deps) <= set(range(4 * (o // 2), 4 * (o // 2) + 4)), (o, deps)
    with pytest.raises(ValueError, match="divisible by 6"):
        L.gated_activation(normal((1, 2, 2, 8)), groups=3)


def test_coordinate_channels():
    c = L.coordinate_channels(np.zeros((2, 4, 4, 5), np.float32)).numpy()
    assert c.shape == (2, 4, 4, 2)
    expected = (np.arange(4) - 2) / 4
    np.testing.assert_allclose(c[1, :, 3, 0], expected)  # rows
    np.testing.assert_allclose(c[0, 2, :, 1], expected)  # columns
    assert np.all(c[:, :, :, 0] == c[:, :, :1, 0])  # the row channel is constant along a row
    c2 = L.coordinate_channels(np.zeros((1, 2, 8, 1), np.float32)).numpy()
    np.testing.assert_allclose(c2[0, :, 0, 0], [-0.5, 0.0])
    np.testing.assert_allclose(c2[0, 0, :, 1], (np.arange(8) - 4) / 8)


# --------------------------------------------------------------------------
# shifted convolutions and their transposes
# --------------------------------------------------------------------------


def window(out_shape, in_shape, rows, cols):
    """Expected support: output (i, j) sees input (a, b) iff rows(i, a) and cols(j, b)."""
    i, j, a, b = np.meshgrid(*(np.arange(n) for n in (*out_shape, *in_shape)), indexing="ij")
    return rows(i, a) & cols(j, b)


def test_down_shifted_conv_sees_current_and_previous_row_centred():
    x = normal((1, 6, 6, 2))
    s = support(L.DownShiftedConv2D(3, (2, 3)), x).any(axis=(2, 5))  # (6, 6, 6, 6)
    want = window((6, 6), (6, 6), lambda i, a: (a >= i - 1) & (a <= i), lambda j, b: abs(b - j) <= 1)
    np.testing.assert_array_equal(s, want)
    with pytest.raises(ValueError, match="odd kernel width"):
        L.DownShiftedConv2D(3, (2, 2))


def test_down_right_shifted_conv_sees_up_and_left():
    x = normal((1, 6, 6, 2))
    s = support(L.DownRightShiftedConv2D(3, (2, 2)), x).any(axis=(2, 5))
    want = window((6, 6), (6, 6), lambda i, a: (a >= i - 1) & (a <= i), lambda j, b: (b >= j - 1) & (b <= j))
    np.testing.assert_array_equal(s, want)


def test_down_shift_after_conv_removes_the_current_row():
    x = normal((1, 6, 6, 2))
    s = support(lambda t: L.down_shift(L.DownShiftedConv2D(3, (2, 3))(t)), x).any(axis=(2, 5))
    want = window((6, 6), (6, 6), lambda i, a: (a >= i - 2) & (a <= i - 1), lambda j, b: abs(b - j) <= 1)
    np.testing.assert_array_equal(s, want)


def test_strided_shifted_convs():
    x = normal((1, 8, 8, 2))
    down = L.DownShiftedConv2D(3, (2, 3), strides=2)
    assert down(x).shape == (1, 4, 4, 3)
    s = support(down, x).any(axis=(2, 5))
    want = window((4, 4), (8, 8), lambda i, a: (a >= 2 * i - 1) & (a <= 2 * i), lambda j, b: abs(b - 2 * j) <= 1)
    np.testing.assert_array_equal(s, want)
    right = L.DownRightShiftedConv2D(3, (2, 2), strides=2)
    assert right(x).shape == (1, 4, 4, 3)
    s = support(right, x).any(axis=(2, 5))
    want = window((4, 4), (8, 8), lambda i, a: (a >= 2 * i - 1) & (a <= 2 * i),
                  lambda j, b: (b >= 2 * j - 1) & (b <= 2 * j))
    np.testing.assert_array_equal(s, want)


def test_transposed_convs_shapes_and_taps():
    x = normal((2, 4, 4, 3))
    down_t = L.DownShiftedConv2DTranspose(5)
    right_t = L.DownRightShiftedConv2DTranspose(5)
    assert down_t(x).shape == (2, 8, 8, 5)
    assert right_t(x).shape == (2, 8, 8, 5)
    assert L.DownShiftedConv2DTranspose(5)(normal((1, 3, 5, 2))).shape == (1, 6, 10, 5)
    s = support(down_t, x[:1]).any(axis=(2, 5))  # (8, 8, 4, 4)
    want = window((8, 8), (4, 4), lambda r, i: (r - 2 * i >= 0) & (r - 2 * i < 2),
                  lambda c, j: (c + 1 - 2 * j >= 0) & (c + 1 - 2 * j < 3))
    np.testing.assert_array_equal(s, want)
    s = support(right_t, x[:1]).any(axis=(2, 5))
    want = window((8, 8), (4, 4), lambda r, i: (r - 2 * i >= 0) & (r - 2 * i < 2),
                  lambda c, j: (c - 2 * j >= 0) & (c - 2 * j < 2))
    np.testing.assert_array_equal(s, want)


def test_down_and_up_sampling_pairs_stay_causal():
    """Stride-2 shifted conv then its transpose: rows <= r (vertical), rows <= r and cols <= c (down-right)."""
    x = normal((1, 8, 8, 2))
    pairs = {
        "down": (L.DownShiftedConv2D(4, (2, 3), strides=2), L.DownShiftedConv2DTranspose(3)),
        "down_right": (L.DownRightShiftedConv2D(4, (2, 2), strides=2), L.DownRightShiftedConv2DTranspose(3)),
    }
    for name, (conv, conv_t) in pairs.items():
        s = support(lambda t: conv_t(conv(t)), x).any(axis=(2, 5))  # (8, 8, 8, 8)
        r, c, a, b = np.meshgrid(*(np.arange(8),) * 4, indexing="ij")
        allowed = (a <= r) if name == "down" else (a <= r) & (b <= c)
        assert not (s & ~allowed).any(), name
        assert s[7, 7].sum() >= 4, name  # and it does see something


# --------------------------------------------------------------------------
# weight normalisation and data-dependent initialisation
# --------------------------------------------------------------------------


@pytest.mark.parametrize("make,out_axis", [
    (lambda: L.WeightNormConv2D(6, 3, padding=(1, 1, 1, 1)), 3),
    (lambda: L.MaskedConv2D(6, 3, "B", colour_groups=3), 3),
    (lambda: L.DownRightShiftedConv2D(6), 3),
    (lambda: L.DownShiftedConv2DTranspose(6), 2),
], ids=["plain", "masked", "down_right", "transposed"])
def test_weight_norm_output_ignores_the_length_of_v(make, out_axis):
    layer = make()
    x = normal((2, 4, 4, 3), 4)
    y0 = layer(x).numpy()
    shape = [1, 1, 1, 1]
    shape[out_axis] = 6
    factors = np.linspace(0.2, 7.0, 6, dtype=np.float32).reshape(shape)
    layer.v.assign(layer.v * factors)
    np.testing.assert_allclose(layer(x).numpy(), y0, rtol=1e-4, atol=1e-5)
    # while g sets the length of each output channel
    layer.b.assign(np.zeros(6, np.float32))
    y1 = layer(x).numpy()
    layer.g.assign(layer.g * 3.0)
    np.testing.assert_allclose(layer(x).numpy(), 3.0 * y1, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("init_scale", [1.0, 0.1])
def test_data_dependent_init_of_one_layer(init_scale):
    layer = L.WeightNormConv2D(8, 3, padding=(1, 1, 1, 1), init_scale=init_scale)
    x = normal((16, 6, 6, 3), 5) * 3.0 + 1.5
    layer(x)  # build
    layer.init_pending = True
    y = layer(x).numpy()
    assert not layer.init_pending
    np.testing.assert_allclose(y.mean(axis=(0, 1, 2)), 0.0, atol=1e-4 * max(init_scale, 1))
    np.testing.assert_allclose(y.std(axis=(0, 1, 2)), init_scale, rtol=1e-3)
    np.testing.assert_allclose(layer(x).numpy(), y, rtol=1e-5, atol=1e-6)  # the init is kept


@pytest.mark.slow
def test_data_dependent_init_of_a_model():
    model = build_small("pixelcnn_pp", 3, seed=3)
    images = random_images(16, (8, 8, 3), seed=5)
    before = pl.log_prob(model, images)
    count = pl.data_dependent_init(model, images)
    # every weight-normalised layer (3 weights each) was reached, none left pending
    wn = [layer for layer in model._flatten_layers(include_self=False, recursive=True)
          if isinstance(layer, (L.WeightNormConv2D, L.WeightNormConv2DTranspose))]
    assert count == len(wn) == len(model.trainable_weights) // 3 == 57
    assert not any(layer.init_pending for layer in wn)
    x = pad_with_ones(pl.nn.to_unit_range(images))
    for first in (model.u_in, model.ul_in_down, model.ul_in_right):
        y = first(x).numpy()
        np.testing.assert_allclose(y.mean(axis=(0, 1, 2)), 0.0, atol=1e-4)
        np.testing.assert_allclose(y.std(axis=(0, 1, 2)), 1.0, rtol=1e-3)
    after = pl.log_prob(model, images)
    assert np.all(np.isfinite(after)) and not np.allclose(after, before)
    # a sane starting point: about 8 bits per sub-pixel on uniform noise, not hundreds
    assert pl.bits_per_dim(-after, (8, 8, 3)) < 12


# --------------------------------------------------------------------------
# blocks
# --------------------------------------------------------------------------


def test_gated_residual_block_shapes_causality_and_errors():
    keras.utils.set_random_seed(1)
    block = L.GatedResidualBlock(4, L.DownShiftedConv2D, has_aux=True)
    x, aux = normal((1, 6, 6, 4), 6), normal((1, 6, 6, 5), 7)
    assert block(x, aux=aux).shape == (1, 6, 6, 4)
    # output row i sees input rows <= i; aux enters through a 1x1 conv before the
    # block's second (down-shifted 2x3) conv, so it is seen through that window only
    s = support(lambda t: block(t, aux=tile_like(aux, t)), x).any(axis=(2, 5))
    r, _, a, _ = np.meshgrid(*(np.arange(6),) * 4, indexing="ij")
    assert not (s & (a > r)).any() and s.sum() > 0
    s_aux = support(lambda t: block(tile_like(x, t), aux=t), aux).any(axis=(2, 5))
    want = window((6, 6), (6, 6), lambda i, a: (a >= i - 1) & (a <= i), lambda j, b: abs(b - j) <= 1)
    np.testing.assert_array_equal(s_aux, want)
    with pytest.raises(ValueError, match="built for 4 channels got 5"):
        block(normal((1, 6, 6, 5)), aux=aux)
    with pytest.raises(ValueError, match="has_aux=True was called with aux=False"):
        block(x)
    plain = L.GatedResidualBlock(4, L.NetworkInNetwork)
    with pytest.raises(ValueError, match="has_aux=False"):
        plain(x, aux=aux)


@pytest.mark.parametrize("heads,key_dim,value_dim", [(1, 8, 8), (2, 4, 4)], ids=["original", "multihead"])
def test_causal_self_attention_is_strictly_causal(heads, key_dim, value_dim):
    keras.utils.set_random_seed(2)
    layer = L.CausalSelfAttention(8, 3, num_heads=heads, key_dim=key_dim, value_dim=value_dim)
    features, image = normal((1, 4, 4, 8), 8), normal((1, 4, 4, 3), 9)
    out = layer(features, image).numpy()
    assert out.shape == (1, 4, 4, heads * value_dim)
    np.testing.assert_array_equal(out[0, 0, 0], 0.0)  # the first pixel has nothing to attend to
    order = np.arange(16).reshape(4, 4)
    p = order[:, :, None, None]
    q = order[None, None, :, :]
    s_image = support(lambda t: layer(tile_like(features, t), t), image).any(axis=(2, 5))
    s_features = support(lambda t: layer(t, tile_like(image, t)), features).any(axis=(2, 5))
    # the raw image only through keys/values of strictly earlier pixels
    assert not (s_image & (q >= p)).any()
    np.testing.assert_array_equal(s_image, q < p)
    # features: earlier pixels (keys/values) and the pixel itself (its query), nothing later
    want = (q <= p).reshape(16, 16)
    want[0] = False  # the first pixel's output is zero whatever its query
    want[1, 1] = False  # the second attends to one pixel only: weight 1 whatever its query
    np.testing.assert_array_equal(s_features.reshape(16, 16), want)


def test_attention_switches_take_the_coordinates_and_the_raw_image_out():
    keras.utils.set_random_seed(3)
    features = np.broadcast_to(normal((1, 1, 1, 8), 4), (1, 4, 4, 8)).copy()  # the same at every position
    image, other_image = normal((1, 4, 4, 3), 5), normal((1, 4, 4, 3), 6)
    full = L.CausalSelfAttention(8, 3, key_dim=4)
    bare = L.CausalSelfAttention(8, 3, key_dim=4, background=False, image_keys=False)
    no_image = L.CausalSelfAttention(8, 3, key_dim=4, image_keys=False)
    # without coordinates and image, every position but the first averages identical values: one output
    out = bare(features, image).numpy().reshape(16, -1)
    np.testing.assert_allclose(out[1:], np.broadcast_to(out[1], out[1:].shape), rtol=1e-5, atol=1e-6)
    assert np.abs(out[1]).max() > 1e-3
    # the coordinates tell the positions apart
    spread = full(features, image).numpy().reshape(16, -1)[1:]
    assert np.abs(spread - spread[0]).max() > 1e-3
    # the raw image reaches the output only through the keys and values
    np.testing.assert_array_equal(no_image(features, image).numpy(), no_image(features, other_image).numpy())
    assert np.abs(full(features, image).numpy() - full(features, other_image).numpy()).max() > 1e-4
    # each switch removes its input channels from the blocks that compute queries, keys and values
    width = {name: (layer.q_block.filters, layer.kv_block.filters)
             for name, layer in [("full", full), ("bare", bare), ("no_image", no_image)]}
    assert width == {"full": (10, 13), "bare": (8, 8), "no_image": (10, 10)}
    for bad in ("yes", 1, None):
        with pytest.raises(ValueError, match="background must be True or False"):
            L.CausalSelfAttention(8, 3, background=bad)
        with pytest.raises(ValueError, match="image_keys must be True or False"):
            L.CausalSelfAttention(8, 3, image_keys=bad)


# --------------------------------------------------------------------------
# dropout and convolution precision
# --------------------------------------------------------------------------


def test_dropout_keeps_one_minus_rate_scaled_and_passes_the_same_mask_back():
    layer = L.Dropout(0.3, seed=5)
    x = tf.constant(normal((8, 32, 32, 64)))
    with tf.GradientTape() as tape:
        tape.watch(x)
        y = layer(x, training=True)
        total = tf.reduce_sum(y)
    y, grad = y.numpy(), tape.gradient(total, x).numpy()
    kept = y != 0
    assert abs(kept.mean() - 0.7) < 0.005
    np.testing.assert_allclose(y[kept], x.numpy()[kept] / 0.7, rtol=1e-6)
    np.testing.assert_array_equal(grad, kept / np.float32(0.7))  # gradient: the same mask, the same scale
    again = layer(x, training=True).numpy()
    assert (again != 0).mean() > 0.6 and not np.array_equal(again != 0, kept)  # a new mask every call
    assert L.Dropout(0.3, seed=5)(x, training=True).numpy().tolist() == y.tolist()  # seeded: reproducible
    np.testing.assert_array_equal(layer(x, training=False).numpy(), x.numpy())
    np.testing.assert_array_equal(L.Dropout(0.0)(x, training=True).numpy(), x.numpy())


def test_bfloat16_convolutions_run_in_bfloat16_and_return_float32():
    conv = L.DownShiftedConv2D(16)
    up = L.DownShiftedConv2DTranspose(8)
    x = tf.constant(normal((2, 8, 8, 12)))
    full = up(conv(x)).numpy()

    @tf.function
    def mixed(x):
        with L.conv_precision("bfloat16"):
            return up(conv(x))

    low = mixed(x)
    assert low.dtype == tf.float32
    ops = mixed.get_concrete_function(x).graph.get_operations()
    conv_types = {op.get_attr("T") for op in ops if op.type in ("Conv2D", "Conv2DBackpropInput")}
    assert conv_types == {tf.bfloat16}
    err = np.abs(low.numpy() - full).max() / np.abs(full).max()
    assert 1e-4 < err < 3e-2  # bfloat16 has an 8-bit mantissa: close, but not float32's answer
    np.testing.assert_array_equal(up(conv(x)).numpy(), full)  # outside the block: float32 again
    with pytest.raises(ValueError, match="conv_precision must be one of"):
        with L.conv_precision("float64"):
            pass
