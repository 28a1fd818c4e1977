"""Training throughput against TensorFlow Probability's PixelCNN, and FLOP/s against the machine's peak.

    .venv/bin/pip install -r benchmarks/requirements.txt
    .venv/bin/python benchmarks/training_throughput.py [--batch 16] [--rounds 10]

Both models use TFP's documented configuration: num_resnet=1,
num_hierarchies=2, num_filters=32, num_logistic_mix=5, dropout 0.3, on 32x32
RGB images (this library: ``pixelcnn_pp`` with depth=1, levels=2, filters=32,
num_mixtures=5, dropout=0.3). TFP zeroes parts of 3x3 kernels to make them
causal; this library uses kernels of exactly the causal size (2x3, 2x2), so
the two networks compute the same function class with different amounts of
arithmetic, and TFP counts the masked-out entries in its parameters.

Each round runs one compiled Adam step of each model on the same batch,
alternating, so all see the same machine load. This library's step is the
one ``fit`` runs (the compiled model's ``train_step``: Keras's Adam and the
model's ``compute_loss``). It runs twice: with float32 convolutions (TFP's
precision) and with bfloat16 ones (``conv_precision``: mixed precision,
everything but the convolutions stays float32); ``--xla`` adds both with the
step XLA-compiled (``jit_compile``). FLOPs per step come from TensorFlow's graph profiler on this
library's compiled step (the profiler cannot see inside the nested functions
of TFP's tf_keras layers, so TFP's FLOP/s are not reported); the peak is the
best float32 matrix-multiply rate measured on this machine.
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
from pixelcnn_lib.nn.convolutions import conv_precision
from pixelcnn_lib.training import TrainConfig, make_optimizer

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


def ours_step_fn(image_shape, precision="float32", xla=False):
    """This library's training step as ``fit`` runs it: the compiled model's ``train_step`` (Keras's Adam, the
    model's ``compute_loss``) in one ``tf.function``, XLA-compiled when ``xla``."""
    model = pl.build_model("pixelcnn_pp", image_shape, filters=32, depth=1, levels=2, num_mixtures=5, dropout=0.3)
    model.compile(optimizer=make_optimizer(TrainConfig(steps=1), 1), jit_compile=xla)
    train_step = tf.function(lambda images: model.train_step(images)["loss"], jit_compile=xla)

    def step(images):
        with conv_precision(precision):  # read when the step is traced
            return train_step(images)

    step.get_concrete_function = lambda spec: _traced(train_step, spec, precision)
    return step, model


def _traced(function, spec, precision):
    with conv_precision(precision):
        return function.get_concrete_function(spec)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--rounds", type=int, default=10)
    parser.add_argument("--precisions", nargs="+", default=["float32", "bfloat16"], choices=["float32", "bfloat16"],
                        help="convolution precisions of this library's model to measure (TFP runs float32)")
    parser.add_argument("--xla", action="store_true", help="also measure each precision with the step XLA-compiled")
    args = parser.parse_args()
    shape = (32, 32, 3)
    rng = np.random.default_rng(0)
    batches = [rng.integers(0, 256, (args.batch, *shape), dtype=np.uint8) for _ in range(args.rounds + 2)]

    tfp_step, dist = tfp_step_fn(shape)
    tfp_step(batches[0]).numpy()  # builds TFP's network lazily
    steps = {"tfp": tfp_step}
    models = {}
    variants = [(p, False) for p in args.precisions] + ([(p, True) for p in args.precisions] if args.xla else [])
    for precision, xla in variants:
        name = precision + (" + XLA" if xla else "")
        steps[name], models[name] = ours_step_fn(shape, precision, xla)
        pl.data_dependent_init(models[name], batches[0])
    for step in steps.values():
        step(batches[1]).numpy()  # trace and warm up
    tfp_params = sum(int(np.prod(v.shape)) for v in dist.trainable_variables)
    spec = tf.TensorSpec((args.batch, *shape), tf.uint8)
    flops = {name: graph_flops(steps[name].get_concrete_function(spec)) for name in models}
    times = {name: [] for name in steps}
    for batch in batches[2:]:
        for name, step in steps.items():
            start = time.perf_counter()
            step(batch).numpy()
            times[name].append(time.perf_counter() - start)
    peak = matmul_peak()

    print(f"machine: {platform.machine()}, {os.cpu_count()} CPU cores, TensorFlow {tf.__version__}, "
          f"TFP {tfp.__version__}; batch {args.batch} of 32x32x3; {args.rounds} alternating rounds; "
          f"float32 matmul peak {peak / 1e9:.1f} GFLOP/s")
    print("| model | convolutions | params | median s/step | images/s | vs TFP | GFLOP/step | GFLOP/s | of fp32 peak |")
    print("|---|---|---|---|---|---|---|---|---|")
    tfp_speed = args.batch / statistics.median(times["tfp"])
    for name in steps:
        t = statistics.median(times[name])
        speed = args.batch / t
        if name == "tfp":
            label, precision, params, work = "tfp.distributions.PixelCNN", "float32", tfp_params, "n/a | n/a | n/a"
        else:
            label, precision, params = "pixelcnn_lib pixelcnn_pp", name, models[name].count_params()
            rate = flops[name] / t
            work = f"{flops[name] / 1e9:.2f} | {rate / 1e9:.1f} | {rate / peak:.0%}"
        print(f"| {label} | {precision} | {params:,} | {t:.3f} | {speed:.1f} | {speed / tfp_speed:.2f}x | {work} |")

if __name__ == "__main__":
    main()
