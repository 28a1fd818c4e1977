"""Sampling speed: naive vs cached, images per second.

    .venv/bin/python benchmarks/sampling.py [--batch 16] [--sizes 16 32] [--naive-steps 64]

Models: the small CPU PixelSNAIL of configs/pixelsnail_cpu.json, a small
Gated PixelCNN and the small CPU PixelCNN++ of configs/pixelcnn_pp_cpu.json,
random weights (speed does not depend on them). Naive
sampling runs the full network once per pixel, so its cost per pixel is the
same at every position: it is timed over ``--naive-steps`` pixels and scaled
to the whole image (``--naive-steps 0`` times every pixel). Cached sampling
is always timed over the whole image. Both are timed after one warm-up pixel
(tracing excluded).
"""

import argparse
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import tensorflow as tf

import pixelcnn_lib as pl
from pixelcnn_lib.backend import seed_pair
from pixelcnn_lib.sampling import NaiveSampler
from pixelcnn_lib.sampling.cached import cached_sampler

ROOT = Path(__file__).resolve().parent.parent


def from_cpu_config(name, size):
    """The model of configs/<name>_cpu.json for size x size RGB images."""
    cfg = json.loads((ROOT / "configs" / f"{name}_cpu.json").read_text())
    return pl.build_model(name, (size, size, 3), filters=cfg["filters"], depth=cfg["depth"], **cfg["hparams"])


def small_gated(size):
    return pl.build_model("gated_pixelcnn", (size, size, 3), filters=48, depth=6, head_filters=128)


def time_naive(model, batch, steps):
    """Seconds for one whole image batch with naive sampling (measured over ``steps`` pixels)."""
    h, w, c = model.image_shape
    step = NaiveSampler(model).step  # the naive sampler's compiled step (unconditional, temperature 1)
    canvas = tf.zeros((batch, h, w, c), tf.uint8)
    update = tf.ones((batch, c), bool)
    seed = seed_pair(0)
    passes = model.head.passes_per_pixel
    total = h * w * passes
    steps = total if steps <= 0 else min(steps, total)
    canvas = step(canvas, 0, 0, update, seed)  # warm-up / trace
    start = time.perf_counter()
    for k in range(steps):
        i, j = divmod((k // passes) % (h * w), w)
        canvas = step(canvas, i, j, update, seed)
    canvas.numpy()
    return (time.perf_counter() - start) * total / steps, steps < total


def time_cached(model, batch):
    h, w, c = model.image_shape
    sampler = cached_sampler(model, batch)
    unknown = np.ones((batch, h, w), bool)
    canvas = np.zeros((batch, h, w, c), np.uint8)
    warm = np.zeros_like(unknown)
    sampler.fill(canvas, warm, 0)  # traces the step functions
    start = time.perf_counter()
    sampler.fill(canvas, unknown, 0)
    return time.perf_counter() - start


THREADS = {"naive": 0, "cached": 1}  # inter-op threads: the default suits big convolutions, 1 suits tiny ops


def measure(args):
    """Child process: time one (model, size, method) with that method's threading."""
    if THREADS[args.method]:
        tf.config.threading.set_inter_op_parallelism_threads(THREADS[args.method])
    model = small_gated(args.size) if args.model == "gated_pixelcnn" else from_cpu_config(args.model, args.size)
    if args.method == "naive":
        seconds, extrapolated = time_naive(model, args.batch, args.naive_steps)
    else:
        seconds, extrapolated = time_cached(model, args.batch), False
    print(json.dumps({"seconds": seconds, "extrapolated": extrapolated, "params": model.count_params()}))


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--sizes", type=int, nargs="+", default=[16, 32])
    parser.add_argument("--naive-steps", type=int, default=64)
    parser.add_argument("--models", nargs="+", default=["pixelsnail", "gated_pixelcnn", "pixelcnn_pp"])
    parser.add_argument("--measure", nargs=3, metavar=("MODEL", "SIZE", "METHOD"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.measure:
        args.model, args.size, args.method = args.measure[0], int(args.measure[1]), args.measure[2]
        return measure(args)
    print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} CPU cores, "
          f"TensorFlow {tf.__version__}; batch {args.batch}; each method in its own process "
          f"(naive: default threads; cached: 1 inter-op thread, which suits its many tiny ops)")
    print("| model | size | params | naive s/batch | naive img/s | cached s/batch | cached img/s | speed-up |")
    print("|---|---|---|---|---|---|---|---|")
    for name in args.models:
        for size in args.sizes:
            result = {}
            for method in ("naive", "cached"):
                out = subprocess.run(
                    [sys.executable, __file__, "--measure", name, str(size), method, "--batch", str(args.batch),
                     "--naive-steps", str(args.naive_steps)],
                    check=True, capture_output=True, text=True).stdout
                result[method] = json.loads(out.strip().splitlines()[-1])
            naive, cached = result["naive"]["seconds"], result["cached"]["seconds"]
            mark = "*" if result["naive"]["extrapolated"] else ""
            print(f"| {name} | {size}x{size}x3 | {result['naive']['params']:,} | {naive:.1f}{mark} | "
                  f"{args.batch / naive:.3f}{mark} | {cached:.2f} | {args.batch / cached:.2f} | "
                  f"{naive / cached:.0f}x |",
                  flush=True)
    if args.naive_steps > 0:
        print(f"* naive timed over {args.naive_steps} pixel steps and scaled to the whole image "
              "(its cost per step does not depend on the position)")


if __name__ == "__main__":
    main()
