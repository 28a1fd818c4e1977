"""Training throughput against TensorFlow Probability's PixelCNN, and FLOP/s against the machine's peak.

    .venv/bin/pip install -r benchmarks/requirements.txt
    .venv/bin/python benchmarks/training_throughput.py [--batch 16] [--rounds 10]

Both models use TFP's documented configuration: num_resnet=1,
num_hierarchies=2, num_filters=32, num_logistic_mix=5, dropout 0.3, on 32x32
RGB images (this library: ``pixelcnn_pp`` with depth=1, levels=2, filters=32,
num_mixtures=5, dropout=0.3). Each round runs one compiled Adam step of each
model on the same batch, alternating, so both see the same machine load.
FLOPs per step come from TensorFlow's graph profiler on this library's
compiled step (the profiler cannot see inside the nested functions of TFP's
tf_keras layers, so TFP's FLOP/s are not reported); the peak is the best
float32 matrix-multiply rate measured on this machine.
"""

import argparse
import os
import platform
import statistics
import time

os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")  # TFP's PixelCNN is built on tf_keras
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np
import tensorflow as tf

import pixelcnn_lib as pl
from pixelcnn_lib.training import TrainConfig, make_optimizer, nll_bits_per_dim

try:
    import tensorflow_probability as tfp
    import tf_keras
except ImportError as error:  # pragma: no cover - depends on the optional peers
    raise SystemExit(f"this benchmark needs the peers in benchmarks/requirements.txt ({error}); "
                     "install them with: .venv/bin/pip install -r benchmarks/requirements.txt")


def graph_flops(concrete_function):
    """Floating-point operations of one call of a concrete tf.function (static shapes)."""
    from tensorflow.python.profiler import model_analyzer, option_builder

    opts = option_builder.ProfileOptionBuilder.float_operation()
    opts["output"] = "none"
    info = model_analyzer.profile(concrete_function.graph, options=opts)
    return info.total_float_ops


def matmul_peak(seconds=3.0, n=2048):
    """Best float32 matmul FLOP/s over a few repetitions."""
    a = tf.random.normal((n, n))
    b = tf.random.normal((n, n))
    mm = tf.function(lambda a, b: tf.matmul(a, b))
    mm(a, b).numpy()
    best, end = 0.0, time.time() + seconds
    while time.time() < end:
        t = time.perf_counter()
        mm(a, b).numpy()
        best = max(best, 2 * n**3 / (time.perf_counter() - t))
    return best


def tfp_step_fn(image_shape):
    dist = tfp.distributions.PixelCNN(image_shape=image_shape, num_resnet=1, num_hierarchies=2, num_filters=32,
                                      num_logistic_mix=5, dropout_p=0.3)
    optimizer = tf_keras.optimizers.Adam(1e-3)

    @tf.function
    def step(images):
        x = tf.cast(images, tf.float32)
        with tf.GradientTape() as tape:
            loss = -tf.reduce_mean(dist.log_prob(x, training=True))
        variables = dist.trainable_variables
        optimizer.apply_gradients(zip(tape.gradient(loss, variables), variables))
        return loss

    return step, dist


def ours_step_fn(image_shape):
    model = pl.build_model("pixelcnn_pp", image_shape, filters=32, depth=1, levels=2, num_mixtures=5, dropout=0.3)
    optimizer = make_optimizer(TrainConfig(steps=1))
    variables = model.trainable_variables

    @tf.function
    def step(images):
        with tf.GradientTape() as tape:
            loss = nll_bits_per_dim(model, images, training=True)
        optimizer.apply_gradients(zip(tape.gradient(loss, variables), variables))
        return loss

    return step, model


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--rounds", type=int, default=10)
    args = parser.parse_args()
    shape = (32, 32, 3)
    rng = np.random.default_rng(0)
    batches = [rng.integers(0, 256, (args.batch, *shape), dtype=np.uint8) for _ in range(args.rounds + 2)]

    tfp_step, dist = tfp_step_fn(shape)
    our_step, model = ours_step_fn(shape)
    tfp_step(batches[0]).numpy()  # builds TFP's network lazily
    pl.data_dependent_init(model, batches[0])
    for step in (tfp_step, our_step):
        step(batches[1]).numpy()  # trace and warm up
    tfp_params = sum(int(np.prod(v.shape)) for v in dist.trainable_variables)
    flops = {"ours": graph_flops(our_step.get_concrete_function(tf.TensorSpec((args.batch, *shape), tf.uint8)))}
    times = {"tfp": [], "ours": []}
    for batch in batches[2:]:
        for name, step in (("tfp", tfp_step), ("ours", our_step)):
            start = time.perf_counter()
            step(batch).numpy()
            times[name].append(time.perf_counter() - start)
    peak = matmul_peak()

    print(f"machine: {platform.machine()}, {os.cpu_count()} CPU cores, TensorFlow {tf.__version__}, "
          f"TFP {tfp.__version__}; batch {args.batch} of 32x32x3; {args.rounds} alternating rounds; "
          f"float32 matmul peak {peak / 1e9:.1f} GFLOP/s")
    print("| model | params | median s/step | images/s | GFLOP/step | GFLOP/s | of peak |")
    print("|---|---|---|---|---|---|---|")
    rows = {"tfp": ("tfp.distributions.PixelCNN", tfp_params), "ours": ("pixelcnn_lib pixelcnn_pp", model.count_params())}
    speed = {}
    for key, (label, params) in rows.items():
        t = statistics.median(times[key])
        speed[key] = args.batch / t
        if key in flops:
            rate = flops[key] / t
            work = f"{flops[key] / 1e9:.2f} | {rate / 1e9:.1f} | {rate / peak:.0%}"
        else:
            work = "n/a | n/a | n/a"
        print(f"| {label} | {params:,} | {t:.3f} | {speed[key]:.1f} | {work} |")
    print(f"throughput ratio (pixelcnn_lib / TFP): {speed['ours'] / speed['tfp']:.2f}x")


if __name__ == "__main__":
    main()
