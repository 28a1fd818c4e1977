"""The library on Keras's other backends with TensorFlow made unimportable: every model trains and samples on
JAX and PyTorch, weights cross between JAX and TensorFlow, and ``fit`` runs data-parallel on JAX.

Each check runs in a child process (``helpers.run_on``): a Python process picks its Keras backend once, at the
first ``import keras`` (``KERAS_BACKEND``).
"""

from __future__ import annotations

import json
from pathlib import Path

import keras
import numpy as np
import pytest
from helpers import run_on

import pixelcnn_lib as pl

TESTS = Path(__file__).parent

pytestmark = [pytest.mark.slow, pytest.mark.skipif(keras.backend.backend() != "tensorflow",
                                                   reason="runs the other backends from a TensorFlow session")]


@pytest.fixture(scope="module")
def jax_run(tmp_path_factory):
    out_dir = tmp_path_factory.mktemp("jax")
    return json.loads(run_on("jax", [str(TESTS / "backend_check.py"), str(out_dir)]).strip().splitlines()[-1]), \
        out_dir


@pytest.mark.parametrize("backend", ["jax", "torch"])
def test_every_model_trains_and_samples_without_tensorflow(backend, jax_run, tmp_path):
    summary = jax_run[0] if backend == "jax" else json.loads(
        run_on(backend, [str(TESTS / "backend_check.py"), str(tmp_path)]).strip().splitlines()[-1])
    assert summary["backend"] == backend and summary["tensorflow_loaded"] is False
    for name in pl.MODELS:
        result = summary[name]
        assert result["loss"][-1] < result["loss"][0], f"{name} on {backend}: fit did not lower the loss"
        assert result["evaluate"] == pytest.approx(result["bits_per_dim"], rel=1e-4)  # evaluate = log_prob
        assert result["sample_shape"] == [2, 8, 8, 3] and result["sample_dtype"] == "uint8"
        assert result["sample_repeatable"] and result["sample_levels"] > 50
        # the teaching tools' gradient on this backend finds the receptive field the masks and shifts give
        assert result["receptive_field_is_analytic"] is (None if name == "pixelcnn_pp" else True)
        assert result["receptive_field_is_causal"] and result["receptive_field_pixels"] > 100


def test_the_shipped_weights_trained_on_tensorflow_load_on_jax(jax_run):
    from pixelcnn_lib.pretrained import load_pretrained

    on_jax = np.load(jax_run[1] / "shipped.npz")
    on_tensorflow = pl.log_prob(load_pretrained("pixelsnail_cifar10"), on_jax["images"])
    np.testing.assert_allclose(on_jax["log_prob"], on_tensorflow, rtol=1e-5)


def test_weights_trained_on_jax_load_on_tensorflow(jax_run):
    _, out_dir = jax_run
    model = keras.models.load_model(out_dir / "pixelsnail.keras")
    saved = np.load(out_dir / "pixelsnail.npz")
    assert isinstance(model, pl.MODELS["pixelsnail"])
    np.testing.assert_allclose(pl.log_prob(model, saved["images"]), saved["log_prob"], rtol=1e-5)
    fresh = pl.build_model("pixelsnail", image_shape=(8, 8, 3), **model.hparams)
    assert np.abs(pl.log_prob(fresh, saved["images"]) - saved["log_prob"]).max() > 1.0  # the weights matter


def test_fit_on_jax_runs_data_parallel_with_keras_distribution_api():
    """Keras's distribution API spreads ``fit`` over the devices (here two host CPU devices): the same steps as on
    one device, so the same losses."""
    result = json.loads(run_on("jax", [str(TESTS / "jax_data_parallel.py")]).strip().splitlines()[-1])
    assert result["devices"] == ["cpu:0", "cpu:1"]
    assert result["data_parallel"][-1] < result["data_parallel"][0]
    np.testing.assert_allclose(result["data_parallel"], result["one_device"], rtol=1e-5)
