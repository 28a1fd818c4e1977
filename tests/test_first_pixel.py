"""The first-pixel offset (``first_pixel_bias=True``): a departure from the references, off by default.

It changes the head's parameters at the first pixel only, keeps causality and
cached = naive sampling, travels with a saved model, and learns a first pixel
the shared weights are slow to learn.
"""

from __future__ import annotations

import keras
import numpy as np
import pytest
from helpers import assert_same_draws, random_images, to_numpy

import pixelcnn_lib as pl


def with_offset(name="pixelsnail", num_classes=None, seed=0):
    keras.utils.set_random_seed(seed)
    model = pl.build_model(name, (8, 8, 3), num_classes=num_classes, first_pixel_bias=True, filters=12, depth=1,
                           **({"resnets_per_block": 1} if name == "pixelsnail" else {"levels": 2}))
    offsets = model.first_pixel_bias.embeddings
    offsets.assign(np.random.default_rng(1).normal(size=offsets.shape))
    return model


def test_off_by_default_and_absent_from_the_config():
    model = pl.build_model("pixelsnail", (8, 8, 3), filters=12, depth=1, resnets_per_block=1)
    assert model.first_pixel_bias is None and "first_pixel_bias" not in model.config


def test_it_moves_the_first_pixel_only():
    model = with_offset(num_classes=3)
    images, labels = random_images(2, (8, 8, 3)), np.array([0, 2])
    params = to_numpy(model({"images": images, "labels": labels}))
    network = to_numpy(model.network(keras.ops.cast(images, "float32") / 127.5 - 1.0, training=False,
                                     labels=keras.ops.convert_to_tensor(labels)))
    offsets = model.first_pixel_bias.embeddings.numpy()[labels]  # one vector per class
    np.testing.assert_allclose(params[:, 0, 0] - network[:, 0, 0], offsets, atol=1e-5)
    np.testing.assert_array_equal(params[:, 1:], network[:, 1:])
    np.testing.assert_array_equal(params[:, 0, 1:], network[:, 0, 1:])


@pytest.mark.slow
@pytest.mark.parametrize("name", ["pixelsnail", "pixelcnn_pp"])
@pytest.mark.parametrize("num_classes", [None, 3])
def test_cached_equals_naive_with_the_offset(name, num_classes):
    model = with_offset(name, num_classes)
    labels = None if num_classes is None else [0, 2]
    naive = pl.sample(model, 2, seed=4, labels=labels, progress=False)
    cached = pl.sample(model, 2, seed=4, labels=labels, method="cached", progress=False)
    assert_same_draws(cached, naive)


def test_the_setting_must_be_a_bool():
    with pytest.raises(ValueError, match="first_pixel_bias must be True or False"):
        pl.build_model("pixelsnail", (8, 8, 3), first_pixel_bias="yes", filters=12, depth=1)


def test_saved_and_loaded_with_the_model(tmp_path):
    model = with_offset(num_classes=3)
    model.save(tmp_path / "m.keras")
    again = keras.models.load_model(tmp_path / "m.keras")
    images = random_images(3, (8, 8, 3))
    labels = [0, 1, 2]
    np.testing.assert_allclose(pl.log_prob(again, images, labels=labels), pl.log_prob(model, images, labels=labels),
                               rtol=1e-6)


@pytest.mark.slow
def test_it_learns_a_first_pixel_the_shared_weights_learn_slowly():
    """Images whose first pixel is always white, the rest noise: after 64 steps the model with the offset pays
    bits fewer for the first pixel than the reference architecture."""
    images = random_images(256, (8, 8, 3), seed=3)
    images[:, 0, 0] = 255
    first_bits = {}
    for offset in (False, True):
        keras.utils.set_random_seed(0)
        model = pl.build_model("pixelsnail", (8, 8, 3), first_pixel_bias=offset, filters=12, depth=1,
                               resnets_per_block=1, dropout=0.0)
        pl.data_dependent_init(model, images[:64])
        model.compile(optimizer=keras.optimizers.Adam(2e-3))
        model.fit(images, batch_size=16, epochs=4, verbose=0)
        first_bits[offset] = float(-pl.log_prob(model, images[:64], per_pixel=True)[:, 0, 0].mean() / np.log(2))
    assert first_bits[True] < first_bits[False] - 2.0, first_bits
