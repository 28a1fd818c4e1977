"""The benchmark scripts run from a checkout and print well-formed tables, and the
tables the README and the CPU-speed appendix of the book show (the appendix: sampling and training
throughput) are the ones the scripts wrote.

Speeds are not asserted here (they depend on the machine); the scripts measure
them, and ``benchmarks/results/`` keeps the output of the runs the documents quote.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
RESULTS = REPO / "benchmarks" / "results"


def run_benchmark(name, *args):
    env = {**os.environ, "CUDA_VISIBLE_DEVICES": "", "TF_CPP_MIN_LOG_LEVEL": "2"}
    done = subprocess.run([sys.executable, str(REPO / "benchmarks" / name), *map(str, args)], cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stderr[-3000:]
    return done.stdout


def table(text):
    """The data rows of the first markdown table in ``text``, as lists of cell strings."""
    rows = [line for line in text.splitlines() if line.startswith("|")]
    assert len(rows) >= 3 and set(rows[1]) <= set("|-"), text
    return [[cell.strip() for cell in row.strip("|").split("|")] for row in rows[2:]]


def number(cell):
    return float(re.sub(r"[,x*]", "", cell))


@pytest.mark.slow
def test_sampling_benchmark_reports_naive_and_cached_for_each_model_and_size():
    out = run_benchmark("sampling.py", "--sizes", 8, "--naive-steps", 3, "--batch", 2)
    rows = table(out)
    assert [(r[0], r[1]) for r in rows] == [("pixelsnail", "8x8x3"), ("gated_pixelcnn", "8x8x3"),
                                            ("pixelcnn_pp", "8x8x3")]
    for row in rows:
        naive, cached, speedup = number(row[3]), number(row[5]), number(row[7])
        assert naive > 0 and cached > 0 and row[3].endswith("*")  # naive scaled from 3 of 64 steps
        # the speed-up is the ratio of the throughputs, printed rounded to a whole number; the img/s columns have
        # the digits for it (at this tiny size the s/batch columns are rounded to a few hundredths of a second)
        naive_rate, cached_rate = number(row[4]), number(row[6])
        assert speedup == pytest.approx(cached_rate / naive_rate, abs=0.6)


@pytest.mark.slow
def test_training_throughput_benchmark_compares_with_tfp():
    pytest.importorskip("tensorflow_probability")
    out = run_benchmark("training_throughput.py", "--rounds", 1, "--batch", 2)
    rows = table(out)
    assert [(r[0], r[1]) for r in rows] == [("tfp.distributions.PixelCNN", "float32"),
                                            ("pixelcnn_lib pixelcnn_pp", "float32"),
                                            ("pixelcnn_lib pixelcnn_pp", "bfloat16")]
    tfp_speed = number(rows[0][4])
    for row in rows[1:]:
        speed = number(row[4])
        ratio = speed / tfp_speed
        # the table shows speeds rounded to 0.1 images/s and the ratio of the unrounded ones, to 0.01
        rounding = ratio * (0.05 / speed + 0.05 / tfp_speed) + 0.005
        assert number(row[5]) == pytest.approx(ratio, abs=rounding)
        assert number(row[6]) > 0 and row[8].endswith("%")  # FLOPs of the step, and the share of peak


@pytest.mark.slow
def test_models_benchmark_counts_parameters():
    out = run_benchmark("models.py", "--models", "pixelcnn", "--steps", 1, "--batch", 2, "--skip-default-timing")
    (row,) = table(out)
    assert row[0] == "pixelcnn" and number(row[1]) == 4_300_544 and number(row[5]) > 0


@pytest.mark.slow
def test_runaway_benchmark_reports_each_temperature():
    out = run_benchmark("runaway.py", "--model", "pixelsnail_gemstones", "--num", 4, "--temperatures", 1, 0.7)
    rows = table(out)
    assert [r[0] for r in rows] == ["held out", "T = 1", "T = 0.7"]
    for row in rows[1:]:
        drawn, entropy = number(row[4]), number(row[5].split("±")[0])
        assert 0 < drawn < 8 and abs(drawn - entropy) < 0.2  # four samples: a loose check of the fill loop
    assert number(rows[2][4]) < number(rows[1][4])  # a lower temperature draws more likely values


@pytest.mark.parametrize("name", ["sampling", "training_throughput", "models"])
def test_documents_quote_the_measured_tables(name):
    text = (RESULTS / f"{name}.md").read_text()
    lines = [line for line in text.splitlines() if line.startswith(("|", "machine:"))]
    assert len(lines) >= 4, f"benchmarks/results/{name}.md holds no table"
    readme = (REPO / "README.md").read_text()
    appendix = (REPO / "book" / "cpu_performance.md").read_text()
    documents = [(readme, "README.md")] + ([(appendix, "the appendix on CPU speed")] if name != "models" else [])
    for document, label in documents:
        missing = [line for line in lines if line not in document]
        assert not missing, f"{label} does not quote benchmarks/results/{name}.md: {missing[:3]}"
