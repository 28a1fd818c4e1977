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
from helpers import IMAGE_SIZE, MODEL_KEYS, build_small, random_images

import pixelcnn_lib as pl
from pixelcnn_lib.data import load_source
from pixelcnn_lib.nn.heads import to_unit_range


@pytest.fixture(scope="module")
def digits():
    return load_source("digits", "train")[:256]  # uint8 (256, 8, 8, 1)


def fresh(digits):
    keras.utils.set_random_seed(0)
    model = pl.build_model("pixelsnail", digits.shape[1:], filters=16, depth=1, resnets_per_block=1,
                           num_mixtures=2, dropout=0.0)
    pl.data_dependent_init(model, digits[:32])  # the documented first step
    return model


@pytest.mark.slow
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


@pytest.mark.slow
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


@pytest.mark.slow
def test_fit_refuses_targets_and_non_uint8_images(digits):
    model = fresh(digits)
    model.compile(optimizer="adam")
    with pytest.raises(ValueError, match=r"fit\(images\), not fit\(images, y\)"):
        model.fit(digits, digits, epochs=1, verbose=0)
    with pytest.raises(TypeError, match="take uint8 images"):
        model.fit(to_unit_range(digits).numpy(), epochs=1, verbose=0)


@pytest.mark.slow
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


def layer_cases():
    """Every layer of ``pixelcnn_lib.nn`` with arguments and inputs: shapes (B, H, W, C) of float inputs, or
    arrays (class labels), then the keyword inputs the same way."""
    import pixelcnn_lib.nn as L

    x = (2, 4, 4, 6)
    labels = np.array([2, 0], np.int32)
    return [
        (L.WeightNormConv2D(5, 3, padding=(1, 1, 1, 1), init_scale=0.5), [x], {}),
        (L.NetworkInNetwork(5), [x], {}),
        (L.DownShiftedConv2D(5, (2, 3), strides=2), [x], {}),
        (L.DownRightShiftedConv2D(5), [x], {}),
        (L.MaskedConv2D(6, 3, "B", colour_groups=3), [x], {}),
        (L.WeightNormConv2DTranspose(5, 3, crop_left=1), [x], {}),
        (L.DownShiftedConv2DTranspose(5), [x], {}),
        (L.DownRightShiftedConv2DTranspose(5), [x], {}),
        (L.Dropout(0.3), [x], {}),
        (L.ClassBias(3, 5), [labels], {}),
        (L.GatedResidualBlock(6, L.DownRightShiftedConv2D, dropout=0.2, has_aux=True, nonlinearity="elu"), [x],
         {"aux": x}),
        (L.GatedResidualBlock(6, L.DownShiftedConv2D, num_classes=3), [x], {"labels": labels}),
        (L.CausalSelfAttention(6, 3, num_heads=2, key_dim=4, value_dim=5, dropout=0.1, attention_dropout=0.1,
                               nonlinearity="elu"), [x, (2, 4, 4, 3)], {}),
        (L.CausalSelfAttention(6, 3, num_classes=3), [x, (2, 4, 4, 3)], {"labels": labels}),
        (L.CausalSelfAttention(6, 3, key_dim=4, background=False, image_keys=False), [x, (2, 4, 4, 3)], {}),
    ]


def test_every_layer_and_head_round_trips_through_keras_serialization():
    """Each layer's config rebuilds the same layer (same config, same outputs with the same weights), and its
    registered name lets ``keras.saving`` find it; the heads round-trip the same way."""
    import pixelcnn_lib.nn as L

    defined = {name for name, obj in vars(L).items() if isinstance(obj, type) and issubclass(obj, keras.layers.Layer)
               and obj.__module__.startswith(L.__name__ + ".") and not name.startswith("_")}  # not the base
    cases = layer_cases()
    assert {type(layer).__name__ for layer, _, _ in cases} == defined  # every layer is covered
    rng = np.random.default_rng(0)

    def make(spec):  # a shape: random floats; an array: itself
        return spec if isinstance(spec, np.ndarray) else rng.normal(size=spec).astype(np.float32)

    for layer, args, kwargs in cases:
        args, kwargs = [make(a) for a in args], {k: make(v) for k, v in kwargs.items()}
        first = layer(*args, **kwargs)  # builds the layer
        again = keras.saving.deserialize_keras_object(keras.saving.serialize_keras_object(layer))
        assert type(again) is type(layer) and again.get_config() == layer.get_config(), type(layer).__name__
        again(*args, **kwargs)  # builds the copy
        again.set_weights(layer.get_weights())
        np.testing.assert_allclose(np.asarray(again(*args, **kwargs)), np.asarray(first), rtol=1e-5, atol=1e-6,
                                   err_msg=type(layer).__name__)
    # heads, with arguments away from their defaults, by behaviour: the same log-probabilities and draws
    x = rng.integers(0, 256, (2, 4, 4, 3)).astype(np.uint8)
    mixture = pl.DiscretizedLogisticMixture(num_mixtures=3, channels=3, log_scale_min=-3.0)
    tight = rng.normal(size=(2, 4, 4, mixture.num_params)).astype(np.float32)
    for c in range(3):  # per channel: 3 means, 3 log scales, 3 coefficients after the 3 logits
        tight[..., 3 + 9 * c + 3 : 3 + 9 * c + 6] = -9.0  # log scales below the clamp: the clamp decides
    for head, params in ((mixture, tight),
                         (pl.Categorical(channels=3), rng.normal(size=(2, 4, 4, 768)).astype(np.float32))):
        again = keras.saving.deserialize_keras_object(keras.saving.serialize_keras_object(head))
        assert type(again) is type(head)
        np.testing.assert_array_equal(np.asarray(again.log_prob(x, params)), np.asarray(head.log_prob(x, params)))
        np.testing.assert_array_equal(np.asarray(again.sample(params, seed=3)), np.asarray(head.sample(params, seed=3)))
    default = pl.DiscretizedLogisticMixture(num_mixtures=3, channels=3)  # the check tells the clamps apart
    assert not np.allclose(np.asarray(default.log_prob(x, tight)), np.asarray(mixture.log_prob(x, tight)))
