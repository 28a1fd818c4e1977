"""Model sizes and training-step speed of the four models (five with both PixelSNAIL variants).

    .venv/bin/python benchmarks/models.py [--batch 16] [--steps 5] [--skip-default-timing]
                                          [--max-default-seconds 60]

For each model: the parameter count at its default (published CIFAR-10)
configuration and at a small configuration (``SMALL`` below), both for 32x32x3
images; the forward FLOPs per image (counted by the TensorFlow profiler on the
traced forward pass); and the time of one forward + backward pass (loss and
gradients of all weights, dropout on, compiled with ``tf.function``) on a batch
of random 32x32 RGB images: the median of ``--steps`` steps after one warm-up
step. The default configuration is timed too when its estimated step time
(small-config time scaled by the FLOP ratio) is under ``--max-default-seconds``,
unless ``--skip-default-timing`` is given.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import time

import keras
import numpy as np
import tensorflow as tf

import pixelcnn_lib as pl
from pixelcnn_lib.nn.heads import to_unit_range

IMAGE_SHAPE = (32, 32, 3)
tf.get_logger().setLevel("ERROR")  # the profiler's TF1 deprecation notices

#: row label -> (model name, hparams of the default row, hparams of the small row)
MODELS = {
    "pixelcnn": ("pixelcnn", {}, dict(filters=64, depth=4, head_filters=128)),
    "gated_pixelcnn": ("gated_pixelcnn", {}, dict(filters=60, depth=4, head_filters=128)),
    "pixelcnn_pp": ("pixelcnn_pp", {}, dict(filters=64, depth=1, num_mixtures=5)),
    "pixelsnail original": ("pixelsnail", dict(variant="original"),
                            dict(filters=64, depth=2, resnets_per_block=2, num_mixtures=5, variant="original")),
    "pixelsnail multihead": ("pixelsnail", dict(variant="multihead"),
                             dict(filters=64, depth=2, resnets_per_block=2, num_mixtures=5, variant="multihead",
                                  num_heads=4)),
}


def forward_flops(model, batch=1):
    """Floating-point operations of one forward pass on ``batch`` images (TensorFlow profiler count)."""
    from tensorflow.python.profiler import model_analyzer, option_builder

    fn = tf.function(lambda x: model(x, training=False))
    graph = fn.get_concrete_function(tf.TensorSpec((batch, *model.image_shape), tf.float32)).graph
    options = option_builder.ProfileOptionBuilder.float_operation()
    options["output"] = "none"
    return model_analyzer.profile(graph, options=options).total_float_ops


def time_training_step(model, batch, steps, seed=0):
    """Median seconds of one forward + backward pass (after one warm-up step that also traces)."""
    images = tf.constant(np.random.default_rng(seed).integers(0, 256, (batch, *model.image_shape), dtype=np.uint8))

    @tf.function
    def step(images):
        with tf.GradientTape() as tape:
            params = model(to_unit_range(images), training=True)
            loss = -tf.reduce_mean(model.head.log_prob(images, params))
        grads = tape.gradient(loss, model.trainable_weights)
        return loss, tf.add_n([tf.reduce_sum(tf.square(g)) for g in grads])

    step(images)[0].numpy()
    times = []
    for _ in range(steps):
        start = time.perf_counter()
        loss, _ = step(images)
        loss.numpy()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def describe(hparams):
    return ", ".join(f"{k}={v}" for k, v in hparams.items())


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--steps", type=int, default=5, help="timed steps per configuration (median reported)")
    parser.add_argument("--skip-default-timing", action="store_true", help="time only the small configurations")
    parser.add_argument("--max-default-seconds", type=float, default=60.0,
                        help="skip timing a default configuration whose estimated step time is longer")
    parser.add_argument("--models", nargs="+", default=list(MODELS), choices=list(MODELS))
    args = parser.parse_args()

    load = ", ".join(f"{v:.1f}" for v in os.getloadavg()) if hasattr(os, "getloadavg") else "n/a"
    print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} CPUs (os.cpu_count), "
          f"load average {load}; TensorFlow {tf.__version__}, Keras {keras.__version__}")
    print(f"images {IMAGE_SHAPE[0]}x{IMAGE_SHAPE[1]}x{IMAGE_SHAPE[2]}; step = forward + backward of a batch of "
          f"{args.batch}, tf.function, median of {args.steps} steps after one warm-up step")
    print()
    print("| model | params (default) | params (small) | fwd GFLOP/image default | small | "
          "step s (small) | step s (default) |")
    print("|---|---|---|---|---|---|---|")
    notes = []
    for label in args.models:
        name, default_hp, small_hp = MODELS[label]
        default = pl.build_model(name, IMAGE_SHAPE, **default_hp)
        small = pl.build_model(name, IMAGE_SHAPE, **small_hp)
        flops_default, flops_small = forward_flops(default), forward_flops(small)
        t_small = time_training_step(small, args.batch, args.steps)
        estimate = t_small * flops_default / flops_small
        if args.skip_default_timing:
            t_default = f"skipped (est. {estimate:.0f})"
        elif estimate > args.max_default_seconds:
            t_default = f"skipped (est. {estimate:.0f})"
        else:
            t_default = f"{time_training_step(default, args.batch, max(1, min(args.steps, 3))):.2f}"
        print(f"| {label} | {default.count_params():,} | {small.count_params():,} | {flops_default / 1e9:.2f} | "
              f"{flops_small / 1e9:.3f} | {t_small:.3f} | {t_default} |", flush=True)
        notes.append(f"  {label}: default {describe(default.hparams)}; small {describe(small.hparams)}")
        del default, small
    print()
    print("configurations:")
    print("\n".join(notes))
    print("est. = small-configuration step time x (default FLOPs / small FLOPs), for a default configuration "
          "not timed")


if __name__ == "__main__":
    main()
