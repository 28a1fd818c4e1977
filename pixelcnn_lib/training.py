"""Training: maximum likelihood with Adam, learning-rate decay, Polyak (EMA) weights.

``train`` runs the whole loop: data-dependent initialisation, compiled training
steps (optionally XLA), a ``tf.distribute`` strategy (one device by default;
``MirroredStrategy`` across GPUs or CPU devices; ``TPUStrategy`` on a TPU),
atomic checkpoints every N steps and at the end, CSV and TensorBoard logs, and
resumption after a crash at exactly the step, learning rate and data order it
had reached. The loss is the negative log-likelihood in bits per dimension.
"""

from __future__ import annotations

import csv
import dataclasses
import json
import math
import shutil
import sys
import tempfile
import time
from pathlib import Path

import keras
import numpy as np
import tensorflow as tf

from . import checkpoints as ckpt
from .data import make_dataset, subset_indices
from .layers import CONV_PRECISIONS, conv_precision
from .models import build_model, data_dependent_init
from .progress import progress_bar
from .validation import check_images

LOG_FIELDS = ["step", "epoch", "bits_per_dim", "learning_rate", "images_per_second", "elapsed_seconds",
              "val_bits_per_dim", "val_raw_bits_per_dim"]
SCHEDULES = ("exponential", "cosine")


class TrainingDiverged(RuntimeError):
    """The loss became NaN or infinite."""


@dataclasses.dataclass
class TrainConfig:
    """Settings of a training run (defaults: the PixelCNN++ / PixelSNAIL papers')."""

    steps: int | None = None  # total optimisation steps; or give epochs
    epochs: int | None = None
    batch_size: int = 16  # global batch, split across replicas
    learning_rate: float = 1e-3  # the peak learning rate
    schedule: str = "exponential"  # "exponential": lr * lr_decay**step (the papers'); "cosine": to 0 at the last step
    lr_decay: float = 0.999995  # multiplied into the learning rate every step (exponential schedule)
    warmup_steps: int = 0  # linear warm-up from 0 to learning_rate (cosine schedule)
    beta_1: float = 0.95
    beta_2: float = 0.9995
    epsilon: float = 1e-7  # Keras's Adam adds it to sqrt(v); the references add 1e-6 (PixelSNAIL) under the root
    ema_decay: float = 0.9995  # Polyak averaging of the weights, warmed up: min(decay, (1 + t) / (10 + t))
    checkpoint_every: int = 500
    log_every: int = 50
    val_every: int = 0  # 0: only at the end (when validation images are given); independent of log_every
    val_size: int = 500  # a seeded subset of the validation images, balanced over classes where they are known
    init_batch_size: int = 64  # images for the data-dependent initialisation
    seed: int = 0
    time_limit: float = 0.0  # seconds of training (all parts of a resumed run together); 0: no limit
    flip: bool = False
    xla: bool = False
    conv_precision: str = "float32"  # "bfloat16": mixed precision, convolutions in bfloat16 (see layers.conv_precision)

    def __post_init__(self):
        if self.conv_precision not in CONV_PRECISIONS:
            raise ValueError(f"conv_precision must be one of {CONV_PRECISIONS}, got {self.conv_precision!r}")
        if self.schedule not in SCHEDULES:
            raise ValueError(f"schedule must be one of {SCHEDULES}, got {self.schedule!r}")
        if self.warmup_steps < 0:
            raise ValueError(f"warmup_steps must be >= 0, got {self.warmup_steps}")
        if self.warmup_steps and self.schedule != "cosine":
            raise ValueError("warmup_steps applies to schedule='cosine' only")

    def total_steps(self, num_images):
        if (self.steps is None) == (self.epochs is None):
            raise ValueError("give exactly one of steps or epochs")
        if self.steps is not None:
            if self.steps < 1:
                raise ValueError(f"steps must be positive, got {self.steps}")
            return int(self.steps)
        if self.epochs < 1:
            raise ValueError(f"epochs must be positive, got {self.epochs}")
        return int(self.epochs) * steps_per_epoch(num_images, self.batch_size)


def steps_per_epoch(num_images, batch_size):
    steps = num_images // batch_size
    if steps < 1:
        raise ValueError(f"batch_size {batch_size} is larger than the data set ({num_images} images)")
    return steps


class FusedAdam(keras.optimizers.Adam):
    """Keras's Adam, with each variable's update done by one fused kernel.

    Keras updates every variable with about fifteen small element-wise ops;
    TensorFlow's ``ResourceApplyAdam`` kernel does the same arithmetic in
    one. The bias-correction powers are computed once per step, not once
    per variable. The update is Adam's, unchanged:
    ``m += (g - m)(1 - b1)``, ``v += (g^2 - v)(1 - b2)``,
    ``w -= lr sqrt(1 - b2^t) / (1 - b1^t) * m / (sqrt(v) + eps)``.
    Anything the fused kernel does not cover (sparse gradients, AMSGrad,
    other dtypes) takes Keras's own path.
    """

    def _backend_update_step(self, grads, trainable_variables, learning_rate):
        step = tf.cast(self.iterations + 1, tf.float32)
        self._step_powers = (tf.pow(tf.cast(self.beta_1, tf.float32), step),
                             tf.pow(tf.cast(self.beta_2, tf.float32), step))
        try:
            super()._backend_update_step(grads, trainable_variables, learning_rate)
        finally:
            self._step_powers = None

    def update_step(self, gradient, variable, learning_rate):
        powers = getattr(self, "_step_powers", None)
        dense = isinstance(gradient, tf.Tensor) and gradient.dtype == tf.float32 == variable.dtype
        if powers is None or not dense or self.amsgrad or not hasattr(variable, "handle"):
            return super().update_step(gradient, variable, learning_rate)
        index = self._get_variable_index(variable)
        m, v = self._momentums[index].value, self._velocities[index].value
        tf.raw_ops.ResourceApplyAdam(
            var=variable.handle, m=m.handle, v=v.handle, beta1_power=powers[0], beta2_power=powers[1],
            lr=tf.cast(learning_rate, tf.float32), beta1=tf.cast(self.beta_1, tf.float32),
            beta2=tf.cast(self.beta_2, tf.float32), epsilon=tf.cast(self.epsilon, tf.float32), grad=gradient)


def learning_rate_schedule(config: TrainConfig, total_steps):
    """The learning rate per step: the papers' exponential decay, or a fixed-budget warm-up + cosine.

    "cosine" rises linearly from 0 to ``learning_rate`` over ``warmup_steps``,
    then follows half a cosine down to 0 at ``total_steps``: the schedule for
    runs whose length is fixed in advance, as every run of this book is.
    """
    if config.schedule == "exponential":
        return keras.optimizers.schedules.ExponentialDecay(config.learning_rate, decay_steps=1,
                                                           decay_rate=config.lr_decay)
    if config.warmup_steps >= total_steps:
        raise ValueError(f"warmup_steps ({config.warmup_steps}) must be fewer than the run's {total_steps} steps")
    return keras.optimizers.schedules.CosineDecay(
        0.0, decay_steps=total_steps - config.warmup_steps, alpha=0.0,
        warmup_target=config.learning_rate, warmup_steps=config.warmup_steps)


def make_optimizer(config: TrainConfig, total_steps):
    return FusedAdam(learning_rate_schedule(config, total_steps), beta_1=config.beta_1, beta_2=config.beta_2,
                     epsilon=config.epsilon)


def nll_bits_per_dim(model, images, training):
    """Mean negative log-likelihood of a uint8 batch, in bits per sub-pixel: the model's ``compute_loss``."""
    return model.compute_loss(x=images, y_pred=model(images, training=training))


def evaluate_bits_per_dim(model, images, batch_size=64, progress=None):
    """Average bits/dim of uint8 images (training=False).

    progress: a bar per batch (True, False, or None for the default of
    ``pixelcnn_lib.progress``).
    """
    images = check_images(images, model.image_shape[-1])
    step = _eval_step(model)
    total, count = 0.0, 0
    num_batches = -(-int(images.shape[0]) // batch_size)
    with progress_bar(num_batches, "evaluating", "batch", progress) as bar:
        for start in range(0, int(images.shape[0]), batch_size):
            chunk = images[start : start + batch_size]
            n = int(chunk.shape[0])
            total += float(step(chunk)) * n
            count += n
            bar.update(1)
            bar.set_postfix({"bits/dim": f"{total / count:.4f}"}, refresh=False)
    return total / count


def _eval_step(model):
    fn = getattr(model, "_pl_eval_step", None)
    if fn is None:
        fn = tf.function(lambda x: nll_bits_per_dim(model, x, training=False), reduce_retracing=True)
        model._pl_eval_step = fn
    return fn


class EMA:
    """Polyak averages of a model's trainable weights: avg <- d_t * avg + (1 - d_t) * w.

    The decay is warmed up, d_t = min(decay, (1 + t) / (10 + t)) at update t
    (``num_updates`` of ``tf.train.ExponentialMovingAverage``), so that the
    average forgets the initial weights within the first few hundred steps.
    The references average with a constant 0.9995, which over a run of a few
    thousand steps would still carry the untrained start.
    """

    def __init__(self, model, decay):
        self.decay = float(decay)
        self.variables = model.trainable_variables
        self.averages = [tf.Variable(v, trainable=False, name="ema") for v in self.variables]

    def decay_at(self, t):
        """The decay used by update number ``t`` (0-based)."""
        t = tf.cast(t, tf.float32)
        return tf.minimum(self.decay, (1.0 + t) / (10.0 + t))

    def update(self, t):
        d = self.decay_at(t)
        for avg, var in zip(self.averages, self.variables):
            avg.assign(d * avg + (1.0 - d) * var)

    def values(self):
        return [a.numpy() for a in self.averages]

    def swapped_in(self):
        """Context manager: the model holds the EMA weights inside the block."""
        ema = self

        class _Swap:
            def __enter__(self):
                self.saved = [v.numpy() for v in ema.variables]
                for var, avg in zip(ema.variables, ema.averages):
                    var.assign(avg)

            def __exit__(self, *exc):
                for var, value in zip(ema.variables, self.saved):
                    var.assign(value)

        return _Swap()


def is_chief(strategy=None):
    """Whether this process writes checkpoints, logs and exports: always, except for the non-chief workers of a
    multi-worker strategy (the chief is task "chief", or worker 0 when the cluster names no chief)."""
    resolver = getattr(strategy or tf.distribute.get_strategy(), "cluster_resolver", None)
    if resolver is None or not resolver.task_type:
        return True
    if resolver.task_type == "chief":
        return True
    has_chief = "chief" in resolver.cluster_spec().as_dict()
    return resolver.task_type == "worker" and resolver.task_id == 0 and not has_chief


def train(model_config: dict, images, output_dir, config: TrainConfig = TrainConfig(), val_images=None,
          resume=False, strategy=None, verbose=True, val_labels=None, progress=None):
    """Train a model and write checkpoints and logs to ``output_dir``.

    model_config: ``{"model": name, "image_shape": [H, W, C], **hparams}``
      (what ``model.config`` returns).
    images: uint8 (N, H, W, C) training images.
    val_images, val_labels: held-out images and (optional) their class
      labels; ``config.val_size`` of them, drawn once with ``config.seed``
      (balanced over the classes when labels are given), are evaluated with
      the averaged and with the raw weights every ``config.val_every`` steps.
    resume: continue from ``output_dir``'s checkpoint: same step count,
      learning rate and data order as if the run had never stopped. Without
      it, an existing checkpoint is an error (nothing is overwritten).
    strategy: a ``tf.distribute.Strategy`` (default: the current one). Under
      ``MultiWorkerMirroredStrategy`` every worker runs the same steps on its
      shard of each global batch, and only the chief (``is_chief``) writes to
      ``output_dir``; the others write to a temporary folder that is removed
      at the end, and read ``output_dir`` (a shared file system) to resume.
    verbose: print a line per logged step (where no progress bar is shown)
      and the run's events.
    progress: a bar per step with the current bits/dim (True, False, or None
      for the default of ``pixelcnn_lib.progress``).

    Returns a dict with the model (EMA weights loaded), the history rows and
    the final step.
    """
    out = Path(output_dir)
    images = np.asarray(check_images(images))
    model_config = dict(model_config)
    image_shape = tuple(model_config.get("image_shape", ()))
    if tuple(images.shape[1:]) != image_shape:
        raise ValueError(f"training images have shape {images.shape[1:]} but the model expects {image_shape}")
    total = config.total_steps(len(images))
    per_epoch = steps_per_epoch(len(images), config.batch_size)
    strategy = strategy or tf.distribute.get_strategy()
    if config.batch_size % strategy.num_replicas_in_sync:
        raise ValueError(f"batch_size {config.batch_size} must divide evenly over "
                         f"{strategy.num_replicas_in_sync} replicas")

    has_checkpoint = (out / ckpt.CHECKPOINT_FILE).exists()
    if has_checkpoint and not resume:
        raise ValueError(f"{out} already holds a checkpoint; pass resume=True (--resume) to continue it, "
                         "or choose another output directory")
    if resume and (out / ckpt.CONFIG_FILE).exists():
        found = ckpt.read_config(out)["model"]
        diffs = ckpt.config_differences(_normalised(model_config), _normalised(found))
        if diffs:
            raise ValueError(f"the checkpoint in {out} does not match the requested model: " + "; ".join(diffs))

    keras.utils.set_random_seed(config.seed)  # same seed, same initial weights
    with strategy.scope():
        name = model_config.pop("model")
        model = build_model(name, tuple(model_config.pop("image_shape")), **model_config)
        optimizer = make_optimizer(config, total)
        optimizer.build(model.trainable_variables)
        ema = EMA(model, config.ema_decay)

    source = out  # where a resumed run reads its checkpoint
    if not is_chief(strategy):  # the same work, written where nobody reads it
        out = Path(tempfile.mkdtemp(prefix="pixelcnn-worker-"))
    out.mkdir(parents=True, exist_ok=True)
    start_step = 0
    if resume and has_checkpoint:
        start_step = _restore(source, model, optimizer, ema)
        if verbose:
            print(f"resumed from step {start_step}", flush=True)
    else:
        init = images[subset_indices(len(images), config.init_batch_size, seed=config.seed)]
        data_dependent_init(model, init)
        for avg, var in zip(ema.averages, ema.variables):
            avg.assign(var)
        if resume and verbose:
            print("resumed from step 0 (no checkpoint yet)", flush=True)
    ckpt.atomic_write_json(out / ckpt.CONFIG_FILE, {
        "model": model.config, "training": dataclasses.asdict(config),
        "num_train_images": int(len(images)), "image_shape": list(model.image_shape),
    })

    if val_images is not None:
        val_images = np.asarray(check_images(val_images, model.image_shape[-1]))
        val_images = val_images[subset_indices(len(val_images), config.val_size, val_labels, seed=config.seed)]
    train_step = _make_train_step(model, optimizer, ema, strategy, config)
    logger = _Logger(out, start_step, verbose, total, progress)
    step = start_step
    window_loss, window_count, window_start = 0.0, 0, time.time()
    run_start = time.time() - logger.previous_elapsed

    out_of_time = False
    try:
        while step < total:
            epoch, offset = divmod(step, per_epoch)
            ds = make_dataset(images, config.batch_size, shuffle=True, flip=config.flip, seed=config.seed,
                              epoch=epoch).skip(offset).take(min(per_epoch - offset, total - step))
            ds = ds.with_options(_sharded_by_data())  # each worker reads its part of every global batch
            for batch in strategy.experimental_distribute_dataset(ds):
                loss = float(train_step(batch))
                if not math.isfinite(loss):
                    raise TrainingDiverged(
                        f"the loss became {loss} at step {step + 1}; the run stopped and the last good "
                        f"checkpoint in {out} (step {_saved_step(out)}) was kept. Try a lower learning rate.")
                step += 1
                window_loss += loss
                window_count += 1
                logger.advance(window_loss / window_count)
                out_of_time = bool(config.time_limit) and time.time() - run_start >= config.time_limit
                last = step == total or out_of_time
                validate = val_images is not None and (last or (config.val_every and step % config.val_every == 0))
                if step % config.log_every == 0 or last or validate:
                    now = time.time()
                    val = val_raw = None
                    if validate:
                        val_raw = evaluate_bits_per_dim(model, val_images, progress=False)
                        with ema.swapped_in():
                            val = evaluate_bits_per_dim(model, val_images, progress=False)
                    logger.write(step=step, epoch=epoch, bits_per_dim=window_loss / window_count,
                                 learning_rate=float(optimizer.learning_rate),
                                 images_per_second=window_count * config.batch_size / max(now - window_start, 1e-9),
                                 elapsed_seconds=now - run_start, val_bits_per_dim=val, val_raw_bits_per_dim=val_raw)
                    window_loss, window_count, window_start = 0.0, 0, time.time()
                if step % config.checkpoint_every == 0 or last:
                    _save(out, step, model, optimizer, ema)  # refuses non-finite weights
                if out_of_time:
                    break
            if out_of_time:
                if verbose:
                    logger.say(f"stopped at step {step} of {total}: the time limit of {config.time_limit:g} s is spent")
                break
    finally:
        logger.close()
        if out != source:
            shutil.rmtree(out, ignore_errors=True)

    for var, avg in zip(ema.variables, ema.averages):  # hand back the model with its EMA weights
        var.assign(avg)
    return {"model": model, "history": logger.rows, "step": step}


def _sharded_by_data():
    """Input options: a multi-worker strategy splits every global batch between the workers (the images are in
    memory, not in files, so there is nothing to shard by file)."""
    options = tf.data.Options()
    options.experimental_distribute.auto_shard_policy = tf.data.experimental.AutoShardPolicy.DATA
    return options


def _normalised(model_config):
    """A model config with defaults filled in, for comparison."""
    from .models import MODELS

    config = dict(model_config)
    name = config.get("model")
    if name in MODELS:
        config = {**MODELS[name].defaults, **config}
    config["image_shape"] = list(config.get("image_shape", []))
    return config


def _make_train_step(model, optimizer, ema, strategy, config):
    variables = model.trainable_variables

    def replica_step(batch):
        with tf.GradientTape() as tape, conv_precision(config.conv_precision):  # read while tracing
            loss = nll_bits_per_dim(model, batch, training=True)
            scaled = loss / strategy.num_replicas_in_sync
        grads = tape.gradient(scaled, variables)
        optimizer.apply_gradients(zip(grads, variables))
        return scaled

    @tf.function(jit_compile=config.xla)
    def train_step(batch):
        per_replica = strategy.run(replica_step, args=(batch,))
        loss = strategy.reduce(tf.distribute.ReduceOp.SUM, per_replica, axis=None)
        ema.update(optimizer.iterations - 1)  # the update number of the step just taken
        return loss

    return train_step


def _save(out, step, model, optimizer, ema):
    weights, averages = [v.numpy() for v in model.weights], ema.values()
    if not all(np.isfinite(w).all() for w in weights + averages):
        # the loss of this step was finite but its update was not: keep the previous checkpoint
        raise TrainingDiverged(
            f"the weights became NaN or infinite at step {step}; the run stopped and the last good "
            f"checkpoint in {out} (step {_saved_step(out)}) was kept. Try a lower learning rate.")
    arrays = {"step": np.asarray(step, np.int64)}
    arrays.update(ckpt.pack("model", weights))
    arrays.update(ckpt.pack("ema", averages))
    arrays.update(ckpt.pack("optimizer", [v.numpy() for v in optimizer.variables]))
    arrays.update(ckpt.pack("rng", [v.numpy() for v in _random_state(model)]))  # dropout: resume draws the same masks
    ckpt.save_arrays(out / ckpt.CHECKPOINT_FILE, arrays)


def _saved_step(out):
    path = Path(out) / ckpt.CHECKPOINT_FILE
    if not path.exists():
        return 0
    with np.load(path) as arrays:
        return int(arrays["step"])


def _restore(out, model, optimizer, ema):
    with np.load(Path(out) / ckpt.CHECKPOINT_FILE) as arrays:
        ckpt.assign_weights(model.weights, ckpt.unpack(arrays, "model"))
        ckpt.assign_weights(ema.averages, ckpt.unpack(arrays, "ema"), "EMA weights")
        ckpt.assign_weights(optimizer.variables, ckpt.unpack(arrays, "optimizer"), "optimizer state")
        ckpt.assign_weights(_random_state(model), ckpt.unpack(arrays, "rng"), "random-number state")
        return int(arrays["step"])


def _random_state(model):
    """The states of the model's seed generators (its dropout layers): variables that are not weights."""
    weights = {id(w) for w in model.weights}
    return [v for v in model.variables if id(v) not in weights]


class _Logger:
    """CSV log (rewritten on resume up to the checkpoint's step), TensorBoard and console lines."""

    def __init__(self, out, start_step, verbose, total, progress=None):
        self.path = Path(out) / "log.csv"
        self.rows = []
        if self.path.exists():
            with open(self.path, newline="") as f:
                self.rows = [r for r in csv.DictReader(f) if int(r["step"]) <= start_step]
        self.previous_elapsed = float(self.rows[-1]["elapsed_seconds"]) if self.rows else 0.0
        with open(self.path, "w", newline="") as f:
            writer = csv.DictWriter(f, LOG_FIELDS)
            writer.writeheader()
            writer.writerows(self.rows)
        self.file = open(self.path, "a", newline="")
        self.writer = csv.DictWriter(self.file, LOG_FIELDS)
        self.tensorboard = tf.summary.create_file_writer(str(Path(out) / "tensorboard"))
        self.verbose = verbose
        self.total = total
        # a terminal gets the bar alone; a notebook the bar and the lines; a file or CI log the lines alone
        self.bar = progress_bar(total, "training", "step", progress)
        self.bar.update(start_step)
        self.lines = verbose and (self.bar.disable or not sys.stderr.isatty())

    def write(self, **row):
        row = {k: ("" if v is None else (f"{v:.6g}" if isinstance(v, float) else v)) for k, v in row.items()}
        self.rows.append(row)
        self.writer.writerow(row)
        self.file.flush()
        step = int(row["step"])
        with self.tensorboard.as_default():
            for key in ("bits_per_dim", "learning_rate", "images_per_second", "val_bits_per_dim",
                        "val_raw_bits_per_dim"):
                if row[key] != "":
                    tf.summary.scalar(key, float(row[key]), step=step)
        val = (f"  val bits/dim {row['val_bits_per_dim']} (raw weights {row['val_raw_bits_per_dim']})"
               if row["val_bits_per_dim"] != "" else "")
        if self.lines:
            print(f"step {step}/{self.total}  bits/dim {row['bits_per_dim']}  "
                  f"{row['images_per_second']} img/s{val}", flush=True)
        elif self.verbose and val:
            self.bar.write(f"step {step}/{self.total}{val}")

    def advance(self, bits_per_dim):
        """One training step done; ``bits_per_dim``: the mean loss since the last logged step."""
        self.bar.update(1)
        self.bar.set_postfix({"bits/dim": f"{bits_per_dim:.4f}"}, refresh=False)

    def say(self, text):
        (print if self.lines else self.bar.write)(text)

    def close(self):
        self.bar.close()
        self.file.close()
        self.tensorboard.flush()


def load_config_file(path):
    """Read a JSON configuration file of the command line (see configs/)."""
    with open(path) as f:
        return json.load(f)
