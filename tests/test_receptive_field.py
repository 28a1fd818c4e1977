"""Receptive fields by gradient against receptive fields from masks and shifts."""

import keras
import numpy as np
import pytest

import pixelcnn_lib as pl
from pixelcnn_lib import nn as L
from pixelcnn_lib.teaching import receptive_field as rf

SIZE = 7
TARGETS = [(row, col) for row in range(SIZE) for col in range(SIZE)]


def analytic_fields(spec, size=SIZE):
    return np.stack([rf.analytic_receptive_field(spec, (size, size), t) for t in TARGETS])


@pytest.mark.slow
@pytest.mark.parametrize("block", list(rf.BLOCKS))
@pytest.mark.parametrize("kernel,depth", [(3, 1), (3, 3), (5, 2)])
def test_stack_gradient_matches_analytic_for_every_target(block, kernel, depth):
    stack = rf.LayerStack(block, kernel, depth, image_shape=(SIZE, SIZE, 1))
    by_gradient = stack.field(TARGETS)
    assert by_gradient.shape == (len(TARGETS), SIZE, SIZE)
    np.testing.assert_array_equal(by_gradient, analytic_fields(stack.spec))
    for field, target in zip(by_gradient, TARGETS):  # and both are causal
        assert not (field & ~rf.earlier_pixels((SIZE, SIZE), target)).any()


@pytest.mark.parametrize("name,hparams", [
    ("pixelcnn", dict(filters=8, depth=2, first_kernel=5, kernel=3, head_filters=16)),
    ("gated_pixelcnn", dict(filters=8, depth=3, kernel=3, head_filters=16)),
    ("pixelsnail", dict(filters=8, depth=1, resnets_per_block=2, num_mixtures=1, dropout=0.0, key_dim=4)),
    ("pixelsnail", dict(filters=8, depth=1, resnets_per_block=1, num_mixtures=1, dropout=0.0, key_dim=4,
                        background=False, image_keys=False)),
], ids=["pixelcnn", "gated_pixelcnn", "pixelsnail", "pixelsnail-without-image-keys"])
def test_real_model_gradient_matches_model_spec(name, hparams):
    # seeded, and more random inputs than the default 3: with random weights a ReLU can be dead for every input
    # tried, and a pixel in the field then shows a gradient of exactly zero (seen once in a thousand pixels)
    keras.utils.set_random_seed(0)
    model = pl.build_model(name, (SIZE, SIZE, 1), **hparams)
    by_gradient = rf.receptive_field_by_gradient(model, model.image_shape, TARGETS, samples=8).any(axis=-1)
    np.testing.assert_array_equal(by_gradient, analytic_fields(rf.model_spec(model)))


def test_pixelsnail_without_image_keys_misses_the_last_pixel_of_the_row_above():
    """Keys from the features alone carry no position's own pixel, and the stream reaches the row above only up to
    one column to the right: the last pixel of the row above is missed until the last two columns."""
    model = pl.build_model("pixelsnail", (SIZE, SIZE, 1), filters=8, depth=2, resnets_per_block=1, num_mixtures=1,
                           dropout=0.0, key_dim=4, image_keys=False)
    spec = rf.model_spec(model)
    for i, j in TARGETS:
        missed = rf.earlier_pixels((SIZE, SIZE), (i, j)) & ~rf.analytic_receptive_field(spec, (SIZE, SIZE), (i, j))
        want = np.zeros_like(missed)
        if i > 0 and j < SIZE - 2:
            want[i - 1, SIZE - 1] = True
        np.testing.assert_array_equal(missed, want, err_msg=f"target {(i, j)}")
    with_keys = rf.model_spec(pl.build_model("pixelsnail", (SIZE, SIZE, 1), filters=8, depth=2, resnets_per_block=1,
                                             num_mixtures=1, dropout=0.0, key_dim=4))
    for target in TARGETS:
        np.testing.assert_array_equal(rf.analytic_receptive_field(with_keys, (SIZE, SIZE), target),
                                      rf.earlier_pixels((SIZE, SIZE), target))


@pytest.mark.slow
def test_pixelcnn_has_a_blind_spot_and_the_two_stream_models_do_not():
    size, target = 8, (4, 4)
    masked = pl.build_model("pixelcnn", (size, size, 1), filters=8, depth=4, first_kernel=3, kernel=3, head_filters=8)
    gated = pl.build_model("gated_pixelcnn", (size, size, 1), filters=8, depth=4, kernel=5, head_filters=8)
    plus = pl.build_model("pixelcnn_pp", (size, size, 1), filters=8, depth=1, num_mixtures=1, dropout=0.0)
    missed = rf.unseen_earlier(rf.receptive_field_by_gradient(masked, (size, size, 1), target), target)
    # the blind spot: the pixels up and to the right that the masks' one-column-per-row growth never reaches
    expected = np.zeros((size, size), bool)
    expected[3, 6:] = expected[2, 7:] = True
    np.testing.assert_array_equal(missed, expected)
    for model in (gated, plus):
        field = rf.receptive_field_by_gradient(model, (size, size, 1), target).any(axis=-1)
        np.testing.assert_array_equal(field, rf.earlier_pixels((size, size), target))


def test_colour_order_inside_a_pixel():
    model = pl.build_model("pixelcnn", (4, 4, 3), filters=6, depth=1, first_kernel=3, kernel=3, head_filters=12)
    seen = [rf.receptive_field_by_gradient(model, (4, 4, 3), (2, 1),
                                           output_channels=slice(256 * c, 256 * (c + 1)))[2, 1]
            > 0 for c in range(3)]
    np.testing.assert_array_equal(np.array(seen), [[False, False, False], [True, False, False], [True, True, False]])
    plus = pl.build_model("pixelcnn_pp", (8, 8, 3), filters=8, depth=1, num_mixtures=1, dropout=0.0)
    assert not rf.receptive_field_by_gradient(plus, (8, 8, 3), (3, 5))[3, 5].any()


def test_conv_footprints_from_masks_and_paddings():
    x = np.zeros((1, 5, 5, 1), np.float32)
    masked_a, masked_b = L.MaskedConv2D(2, 3, "A"), L.MaskedConv2D(2, 3, "B")
    down, down_right = L.DownShiftedConv2D(2, (2, 3)), L.DownRightShiftedConv2D(2, (2, 2))
    for layer in (masked_a, masked_b, down, down_right):
        layer(x)
    above = {(-1, -1), (-1, 0), (-1, 1)}
    assert rf.conv_footprint(masked_a) == above | {(0, -1)}
    assert rf.conv_footprint(masked_b) == above | {(0, -1), (0, 0)}
    assert rf.conv_footprint(down) == above | {(0, -1), (0, 0), (0, 1)}
    assert rf.conv_footprint(down_right) == {(-1, -1), (-1, 0), (0, -1), (0, 0)}
    assert rf.shift(rf.conv_footprint(down), -1, 0) == {(-2, -1), (-2, 0), (-2, 1)} | above


def test_rgb_type_a_centre_counts_as_seen_spatially():
    layer = L.MaskedConv2D(3, 1, "A", colour_groups=3)
    layer(np.zeros((1, 3, 3, 3), np.float32))
    assert rf.conv_footprint(layer) == rf.CENTRE  # G sees R and B sees R, G at the centre


def test_analytic_attention_reaches_every_earlier_pixel():
    spec = [[rf.Link("out", "x", rf.EARLIER)]]
    field = rf.analytic_receptive_field(spec, (4, 5), (2, 3))
    np.testing.assert_array_equal(field, rf.earlier_pixels((4, 5), (2, 3)))
    assert not rf.analytic_receptive_field(spec, (4, 5), (0, 0)).any()


def test_analytic_steps_pass_unwritten_streams_through():
    right = frozenset({(0, -1)})
    spec = [[rf.Link("a", "x", right)], [rf.Link("b", "x", rf.CENTRE)], [rf.Link("out", "a", rf.CENTRE),
                                                                         rf.Link("out", "b", right)]]
    field = rf.analytic_receptive_field(spec, (1, 4), (0, 2))
    np.testing.assert_array_equal(field, [[False, True, False, False]])


def test_field_text_and_unseen_earlier():
    field = np.zeros((2, 3), bool)
    field[0, 1] = True
    assert rf.field_text(field, (1, 0)) == ". x .\no . ."
    np.testing.assert_array_equal(rf.unseen_earlier(field, (1, 0)), [[True, False, True], [False, False, False]])


def test_gradient_needs_matching_shapes_and_targets():
    layer = L.MaskedConv2D(2, 3, "A")
    with pytest.raises(ValueError, match="outside"):
        rf.receptive_field_by_gradient(layer, (4, 4, 1), (4, 0))
    with pytest.raises(ValueError, match="pair"):
        rf.receptive_field_by_gradient(layer, (4, 4, 1), 3)
    with pytest.raises(ValueError, match="image_shape"):
        rf.receptive_field_by_gradient(layer, (4, 4), (1, 1))
    with pytest.raises(ValueError, match="output_channels"):
        rf.receptive_field_by_gradient(layer, (4, 4, 1), (1, 1), output_channels=[5])
    with pytest.raises(ValueError, match="must map"):
        rf.receptive_field_by_gradient(lambda x: x[:, ::2], (4, 4, 1), (1, 1))
    with pytest.raises(TypeError, match="callable"):
        rf.receptive_field_by_gradient("layer", (4, 4, 1), (1, 1))


def test_bad_specs_and_layers_are_refused():
    with pytest.raises(ValueError, match="never written"):
        rf.analytic_receptive_field([[rf.Link("out", "hidden", rf.CENTRE)]], (3, 3), (1, 1))
    with pytest.raises(TypeError, match="Link"):
        rf.analytic_receptive_field([["not a link"]], (3, 3), (1, 1))
    with pytest.raises(ValueError, match="target"):
        rf.analytic_receptive_field([[rf.Link("out", "x", rf.CENTRE)]], (3, 3), (3, 0))
    with pytest.raises(ValueError, match="not built"):
        rf.conv_footprint(L.MaskedConv2D(2, 3, "A"))
    strided = L.DownShiftedConv2D(2, (2, 3), strides=2)
    strided(np.zeros((1, 4, 4, 1), np.float32))
    with pytest.raises(ValueError, match="stride 1"):
        rf.conv_footprint(strided)
    plus = pl.build_model("pixelcnn_pp", (8, 8, 1), filters=4, depth=1, num_mixtures=1, dropout=0.0)
    with pytest.raises(ValueError, match="resolution"):
        rf.model_spec(plus)
    with pytest.raises(ValueError, match="unknown block"):
        rf.LayerStack("dilated")


def test_gradient_at_given_images_adds_up_their_magnitudes():
    stack = rf.LayerStack("gated", 3, 1, image_shape=(5, 5, 3))
    images = np.random.default_rng(0).integers(0, 256, size=(3, 5, 5, 3), dtype=np.uint8)
    targets = [(2, 2), (4, 1)]
    together = rf.receptive_field_by_gradient(stack, (5, 5, 3), targets, images=images)
    one_by_one = sum(rf.receptive_field_by_gradient(stack, (5, 5, 3), targets, images=images[i : i + 1])
                     for i in range(3))
    np.testing.assert_allclose(together, one_by_one, rtol=1e-5)
    as_floats = rf.receptive_field_by_gradient(stack, (5, 5, 3), targets, images=images / 127.5 - 1.0)
    np.testing.assert_allclose(as_floats, together, rtol=1e-5)
    np.testing.assert_array_equal(together.any(-1), np.stack([stack.analytic_field(t) for t in targets]))
    random = rf.receptive_field_by_gradient(stack, (5, 5, 3), targets, samples=3)
    assert not np.allclose(random, together), "the images were not used"


def test_gradient_refuses_bad_images():
    layer = L.MaskedConv2D(2, 3, "A")
    good = np.zeros((2, 4, 4, 1), np.uint8)
    with pytest.raises(ValueError, match="not both"):
        rf.receptive_field_by_gradient(layer, (4, 4, 1), (1, 1), samples=2, images=good)
    with pytest.raises(ValueError, match=r"images must be an array \(N, 4, 4, 1\)"):
        rf.receptive_field_by_gradient(layer, (4, 4, 1), (1, 1), images=np.zeros((2, 4, 4, 3), np.uint8))
    with pytest.raises(ValueError, match="N >= 1"):
        rf.receptive_field_by_gradient(layer, (4, 4, 1), (1, 1), images=good[:0])
    with pytest.raises(ValueError, match=r"\[-1, 1\]"):
        rf.receptive_field_by_gradient(layer, (4, 4, 1), (1, 1), images=np.full((1, 4, 4, 1), 2.0))
    with pytest.raises(ValueError, match="finite"):
        rf.receptive_field_by_gradient(layer, (4, 4, 1), (1, 1), images=np.full((1, 4, 4, 1), np.nan))
    with pytest.raises(ValueError, match="dtype int64"):
        rf.receptive_field_by_gradient(layer, (4, 4, 1), (1, 1), images=good.astype(np.int64))


def test_spec_patterns_of_a_model_list_its_labelled_layers():
    snail = pl.build_model("pixelsnail", (6, 6, 1), filters=8, depth=1, resnets_per_block=1, num_mixtures=1,
                           dropout=0.0)
    patterns = rf.spec_patterns(rf.model_spec(snail))
    assert [title for title, _ in patterns] == ["input", "block 1"]
    assert ("causal attention: every earlier pixel", rf.EARLIER) in patterns[1][1]


def pl_to_unit(images):
    from pixelcnn_lib.nn.heads import to_unit_range

    return to_unit_range(images)


@pytest.mark.slow
def test_attention_maps_are_the_layers_causal_distributions_and_leave_the_model_as_it_was():
    from helpers import build_small, random_images

    model = build_small("pixelsnail_multihead", 3)
    images = random_images(2, model.image_shape)
    before = np.asarray(model(pl_to_unit(images), training=False))
    maps = rf.attention_maps(model, images)
    assert len(maps) == len(model.attentions)
    n = model.image_shape[0] * model.image_shape[1]
    for weights in maps:
        assert weights.shape == (2, model.attentions[0].num_heads, n, n)
        assert np.allclose(weights[:, :, 1:].sum(axis=-1), 1, atol=1e-5)  # a distribution for every query but the first
        assert not weights[:, :, 0].any()
        assert not (weights * np.triu(np.ones((n, n)))).any()  # only strictly earlier keys
    assert all("call" not in vars(layer) for layer in model.attentions)
    np.testing.assert_allclose(np.asarray(model(pl_to_unit(images), training=False)), before, atol=1e-6)
    with pytest.raises(ValueError, match="attention layers"):
        rf.attention_maps(build_small("pixelcnn_pp", 3), images)
    with pytest.raises(ValueError, match="uint8"):
        rf.attention_maps(model, images.astype(np.float32))


def test_attention_call_is_its_weights_applied_to_its_values():
    from helpers import build_small, random_images

    model = build_small("pixelsnail_original", 3)
    layer = model.attentions[0]
    images = pl_to_unit(random_images(2, model.image_shape))
    features = np.random.default_rng(0).normal(size=(2, *model.image_shape[:2], layer.filters)).astype(np.float32)
    weights, values = layer.attend(features, images)
    mixed = np.einsum("bhqk,bhkd->bqhd", np.asarray(weights), np.asarray(values)).reshape(2, *model.image_shape[:2], -1)
    np.testing.assert_allclose(np.asarray(layer(features, images)), mixed, atol=1e-5)
