"""The correctness contract (the tests marked ``contract``) holds on JAX too.

It runs in a child process (``helpers.run_on``), because a Python process picks its Keras backend once, at the
first ``import keras`` (``KERAS_BACKEND``). ``test_backends_without_tensorflow.py`` trains, samples and saves on
JAX and PyTorch.
"""

from __future__ import annotations

from pathlib import Path

import keras
import pytest
from helpers import run_on

TESTS = Path(__file__).parent
CONTRACT_FILES = ["test_models.py", "test_distributions.py", "test_sampling.py", "test_cached_sampling.py",
                  "test_conditional.py"]

pytestmark = pytest.mark.skipif(keras.backend.backend() != "tensorflow",
                                reason="runs the other backends from a TensorFlow session")


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
