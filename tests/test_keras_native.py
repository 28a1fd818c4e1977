"""The models as ordinary Keras models: compile and fit on uint8 images, evaluate, predict, save and load.

``fit`` trains with the loss in bits per dimension (``AutoregressiveModel.compute_loss``), ``evaluate`` returns
the same number as ``pl.log_prob``, ``predict`` the head's parameters, and a ``.keras`` file gives back a model
with the same log-probabilities and samples, for every model of the family.
"""

from __future__ import annotations

import keras
import numpy as np
import pytest
import tensorflow as tf
from conftest import IMAGE_SIZE, MODEL_KEYS, build_small, random_images

import pixelcnn_lib as pl
from pixelcnn_lib.data import load_source
from pixelcnn_lib.distributions import to_unit_range


@pytest.fixture(scope="module")
def digits():
    return load_source("digits", "train")[:256]  # uint8 (256, 8, 8, 1)


def fresh(digits):
    keras.utils.set_random_seed(0)
    model = pl.build_model("pixelsnail", digits.shape[1:], filters=16, depth=1, resnets_per_block=1,
                           num_mixtures=2, dropout=0.0)
    pl.data_dependent_init(model, digits[:32])  # the documented first step
    return model


def test_fit_lowers_the_loss_and_evaluate_is_bits_per_dim(digits):
    model = fresh(digits)
    before = pl.bits_per_dim(-pl.log_prob(model, digits).mean(), digits.shape[1:])
    model.compile(optimizer=keras.optimizers.Adam(2e-3))
    history = model.fit(digits, epochs=2, batch_size=32, verbose=0)
    assert history.history["loss"][-1] < history.history["loss"][0]
    evaluated = model.evaluate(digits, batch_size=64, verbose=0)
    after = pl.bits_per_dim(-pl.log_prob(model, digits).mean(), digits.shape[1:])
    assert after < before - 0.3
    assert evaluated == pytest.approx(after, abs=1e-4)
    # a tf.data pipeline of uint8 batches works the same
    dataset = tf.data.Dataset.from_tensor_slices(digits).batch(64)
    assert model.evaluate(dataset, verbose=0) == pytest.approx(after, abs=1e-4)
    params = model.predict(digits[:5], verbose=0)
    np.testing.assert_allclose(params, model(to_unit_range(digits[:5])).numpy(), atol=1e-5)


def test_fit_with_the_optimizers_ema_ends_with_the_averaged_weights(digits):
    """Polyak averaging is Keras's own: ``use_ema`` keeps the averages, ``fit`` ends by writing them into the
    model (``finalize_variable_values``), and ``SwapEMAWeights`` scores validation data with them during fit."""
    model = fresh(digits)
    optimizer = keras.optimizers.Adam(2e-3, use_ema=True, ema_momentum=0.9)
    model.compile(optimizer=optimizer)

    class LastRawWeights(keras.callbacks.Callback):
        def on_train_batch_end(self, batch, logs=None):
            self.raw = [v.numpy().copy() for v in model.trainable_variables]

    raw = LastRawWeights()
    history = model.fit(digits, epochs=2, batch_size=32, verbose=0, validation_data=digits[:64],
                        callbacks=[keras.callbacks.SwapEMAWeights(), raw])
    assert len(history.history["val_loss"]) == 2
    final = [v.numpy() for v in model.trainable_variables]
    averages = [v.numpy() for v in optimizer._model_variables_moving_average]
    assert all(np.array_equal(f, a) for f, a in zip(final, averages))  # the model now holds the averages
    assert max(np.abs(f - r).max() for f, r in zip(final, raw.raw)) > 1e-4  # which are not the last step's


def test_fit_refuses_targets_and_non_uint8_images(digits):
    model = fresh(digits)
    model.compile(optimizer="adam")
    with pytest.raises(ValueError, match=r"fit\(images\), not fit\(images, y\)"):
        model.fit(digits, digits, epochs=1, verbose=0)
    with pytest.raises(TypeError, match="take uint8 images"):
        model.fit(to_unit_range(digits).numpy(), epochs=1, verbose=0)


@pytest.mark.parametrize("key", MODEL_KEYS)
def test_save_and_load_a_keras_file(key, tmp_path):
    model = build_small(key, 3, seed=4)
    images = random_images(3, (IMAGE_SIZE, IMAGE_SIZE, 3), seed=5)
    pl.data_dependent_init(model, images)
    path = tmp_path / "model.keras"
    model.save(path)
    loaded = keras.models.load_model(path)
    assert type(loaded) is type(model) and loaded.config == model.config
    np.testing.assert_allclose(pl.log_prob(loaded, images), pl.log_prob(model, images), atol=1e-5)
    np.testing.assert_array_equal(pl.sample(loaded, 1, seed=2), pl.sample(model, 1, seed=2))


def test_from_config_refuses_another_models_config():
    config = build_small("pixelcnn", 1).config
    with pytest.raises(ValueError, match="PixelSNAIL cannot be built from the config of 'pixelcnn'"):
        pl.MODELS["pixelsnail"].from_config(config)
