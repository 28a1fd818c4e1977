"""The library on Keras's other backends: the contract on JAX, training and sampling without TensorFlow, and
weights trained on JAX loaded on TensorFlow.

Each check runs in a child process, because a Python process picks its Keras
backend once, at the first ``import keras`` (``KERAS_BACKEND``).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import keras
import numpy as np
import pytest

import pixelcnn_lib as pl

TESTS = Path(__file__).parent
CONTRACT_FILES = ["test_models.py", "test_distributions.py", "test_sampling.py", "test_cached_sampling.py",
                  "test_conditional.py"]

pytestmark = pytest.mark.skipif(keras.backend.backend() != "tensorflow",
                                reason="runs the other backends from a TensorFlow session")


def run_on(backend, args, timeout=1200):
    env = {**os.environ, "KERAS_BACKEND": backend}
    done = subprocess.run([sys.executable, *args], cwd=TESTS.parent, env=env, capture_output=True, text=True,
                          timeout=timeout)
    assert done.returncode == 0, f"on {backend}: exit {done.returncode}\n{done.stdout[-6000:]}\n{done.stderr[-6000:]}"
    return done.stdout


def summary_counts(out):
    """pytest's closing line ("50 passed, 24 skipped in 9s") as {"passed": 50, "skipped": 24}."""
    summary = out.strip().splitlines()[-1]
    return summary, {word: int(n) for n, word in (part.split()[:2] for part in summary.split(" in ")[0].split(", "))}


@pytest.mark.slow
def test_the_contract_holds_on_jax():
    files = [str(TESTS / name) for name in CONTRACT_FILES]
    collected = run_on("tensorflow", ["-m", "pytest", "-q", "--collect-only", "-m", "contract", "-p",
                                      "no:cacheprovider", *files])
    expected = sum(1 for line in collected.splitlines() if "::" in line)
    out = run_on("jax", ["-m", "pytest", "-q", "-rs", "-m", "contract", "-p", "no:cacheprovider", *files])
    summary, counts = summary_counts(out)
    print(summary)
    assert counts.get("failed", 0) == 0 and counts.get("error", 0) == 0, summary
    assert counts["passed"] + counts.get("skipped", 0) == expected, f"{expected} contract tests, ran: {summary}"
    assert counts["passed"] >= 40, summary
    # the only part left out on JAX is cached = naive: cached sampling is TensorFlow's speed path
    skips = [line for line in out.splitlines() if line.startswith("SKIPPED")]
    assert all("cached sampling is TensorFlow's speed path" in line for line in skips), skips


@pytest.fixture(scope="module")
def jax_run(tmp_path_factory):
    out_dir = tmp_path_factory.mktemp("jax")
    return json.loads(run_on("jax", [str(TESTS / "backend_check.py"), str(out_dir)]).strip().splitlines()[-1]), \
        out_dir


@pytest.mark.slow
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


@pytest.mark.slow
def test_the_shipped_weights_trained_on_tensorflow_load_on_jax(jax_run):
    from pixelcnn_lib.pretrained import load_pretrained

    on_jax = np.load(jax_run[1] / "shipped.npz")
    on_tensorflow = pl.log_prob(load_pretrained("pixelsnail_cifar10"), on_jax["images"])
    np.testing.assert_allclose(on_jax["log_prob"], on_tensorflow, rtol=1e-5)


@pytest.mark.slow
def test_weights_trained_on_jax_load_on_tensorflow(jax_run):
    _, out_dir = jax_run
    model = keras.models.load_model(out_dir / "pixelsnail.keras")
    saved = np.load(out_dir / "pixelsnail.npz")
    assert isinstance(model, pl.MODELS["pixelsnail"])
    np.testing.assert_allclose(pl.log_prob(model, saved["images"]), saved["log_prob"], rtol=1e-5)
    fresh = pl.build_model("pixelsnail", image_shape=(8, 8, 3), **model.hparams)
    assert np.abs(pl.log_prob(fresh, saved["images"]) - saved["log_prob"]).max() > 1.0  # the weights matter


@pytest.mark.slow
def test_fit_on_jax_runs_data_parallel_with_keras_distribution_api():
    """Keras's distribution API spreads ``fit`` over the devices (here two host CPU devices): the same steps as on
    one device, so the same losses."""
    result = json.loads(run_on("jax", [str(TESTS / "jax_data_parallel.py")]).strip().splitlines()[-1])
    assert result["devices"] == ["cpu:0", "cpu:1"]
    assert result["data_parallel"][-1] < result["data_parallel"][0]
    np.testing.assert_allclose(result["data_parallel"], result["one_device"], rtol=1e-5)
