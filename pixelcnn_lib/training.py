"""Training: maximum likelihood with Adam, learning-rate decay, Polyak (EMA) weights, on Keras's ``fit``.

``train`` runs a whole run: data-dependent initialisation, ``model.compile``
with Adam (optionally XLA: ``jit_compile``), then ``model.fit`` (the loss is
the model's ``compute_loss``, bits per dimension) under a ``tf.distribute``
strategy (one device by default; ``MirroredStrategy`` across GPUs or CPU
devices; ``MultiWorkerMirroredStrategy``; ``TPUStrategy`` on a TPU), with the
callbacks below: Polyak averaging, a time limit, a NaN guard, validation,
atomic checkpoints every N steps and at the end, and CSV and TensorBoard logs
with sample images. A resumed run continues at exactly the step, learning
rate, data order and dropout masks it had reached. Each callback works with
any ``fit`` too, and says in one line why Keras's own does not do its job.
"""

from __future__ import annotations

import contextlib
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
from keras import ops

from . import backend
from . import checkpoints as ckpt
from .data import subset_indices, training_batches
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
    flip: bool = False  # mirror half the training images left-right
    rotate: bool = False  # turn each training image by a random multiple of 90 degrees (with flip: all 8 symmetries)
    xla: bool = False
    conv_precision: str = "float32"  # "bfloat16": mixed precision, convolutions in bfloat16 (see layers.conv_precision)
    log_samples: int = 4  # images drawn from the averaged weights at the end, shown in TensorBoard; 0: none

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
    """Keras's Adam with the run's schedule and the papers' betas."""
    return keras.optimizers.Adam(learning_rate_schedule(config, total_steps), beta_1=config.beta_1,
                                 beta_2=config.beta_2, epsilon=config.epsilon)


def nll_bits_per_dim(model, inputs, training):
    """Mean negative log-likelihood of a uint8 batch (or ``{"images", "labels"}``), in bits per sub-pixel: the
    model's ``compute_loss``."""
    return model.compute_loss(x=inputs, y_pred=model(inputs, training=training), training=training)


def evaluate_bits_per_dim(model, images, batch_size=64, progress=None, labels=None):
    """Average bits/dim of uint8 images (training=False); ``labels`` (N,) for a class-conditional model.

    progress: a bar per batch (True, False, or None for the default of
    ``pixelcnn_lib.progress``).
    """
    from .sampling import model_labels

    images = check_images(images, model.image_shape[-1])
    labels = model_labels(model, labels, int(images.shape[0]))
    step = _eval_step(model)
    total, count = 0.0, 0
    num_batches = -(-int(images.shape[0]) // batch_size)
    with progress_bar(num_batches, "evaluating", "batch", progress) as bar:
        for start in range(0, int(images.shape[0]), batch_size):
            chunk = images[start : start + batch_size]
            n = int(chunk.shape[0])
            inputs = model.inputs_for(chunk, None if labels is None else labels[start : start + batch_size])
            total += float(step(inputs)) * n
            count += n
            bar.update(1)
            bar.set_postfix({"bits/dim": f"{total / count:.4f}"}, refresh=False)
    return total / count


def _eval_step(model):
    fn = getattr(model, "_pl_eval_step", None)
    if fn is None:
        fn = backend.compile_function(lambda x: nll_bits_per_dim(model, x, training=False))
        model._pl_eval_step = fn
    return fn


# --------------------------------------------------------------------------
# callbacks: the pieces of ``train``, each usable with any ``model.fit``
# --------------------------------------------------------------------------


def fit_step(model):
    """The number of optimisation steps ``model`` has taken (its optimizer's iteration count)."""
    return int(ops.convert_to_numpy(model.optimizer.iterations))


class PolyakAverage(keras.callbacks.Callback):
    """Polyak averages of a model's trainable weights: avg <- d_t * avg + (1 - d_t) * w after every step.

    The decay is warmed up, d_t = min(decay, (1 + t) / (10 + t)) at update t
    (``num_updates`` of ``tf.train.ExponentialMovingAverage``), so that the
    average forgets the initial weights within the first few hundred steps.
    The references average with a constant 0.9995, which over a run of a few
    thousand steps would still carry the untrained start; Keras's own
    ``use_ema`` has a constant momentum too, which is why this is a callback.

    ``attach(model)`` makes the averages (inside a distribution strategy's
    scope, where there is one); ``fit`` then updates them after each step,
    and ``swapped_in()`` puts them into the model for a block.
    """

    def __init__(self, decay):
        super().__init__()
        self.decay = float(decay)
        self.variables, self.averages, self._update = [], [], None

    def attach(self, model):
        self.variables = list(model.trainable_variables)
        self.averages = [keras.Variable(ops.convert_to_numpy(v), trainable=False, name="polyak_average")
                         for v in self.variables]
        self._update = backend.compile_function(self.update)
        return self

    def decay_at(self, t):
        """The decay used by update number ``t`` (0-based)."""
        t = ops.cast(t, "float32")
        return ops.minimum(self.decay, (1.0 + t) / (10.0 + t))

    def update(self, t):
        d = self.decay_at(t)
        for avg, var in zip(self.averages, self.variables):
            avg.assign(d * avg + (1.0 - d) * var)

    def reset(self):
        """Start the averages at the model's current weights."""
        for avg, var in zip(self.averages, self.variables):
            avg.assign(var)

    def values(self):
        return [ops.convert_to_numpy(a) for a in self.averages]

    def on_train_batch_end(self, batch, logs=None):
        self._update(self.model.optimizer.iterations - 1)  # the update number of the step just taken

    @contextlib.contextmanager
    def swapped_in(self):
        """The model holds the averaged weights inside the block, its own again after it."""
        saved = [ops.convert_to_numpy(v) for v in self.variables]
        for var, avg in zip(self.variables, self.averages):
            var.assign(avg)
        try:
            yield
        finally:
            for var, value in zip(self.variables, saved):
                var.assign(value)


class TimeLimit(keras.callbacks.Callback):
    """Stop ``fit`` after ``seconds`` of training, counting ``already`` seconds of earlier parts of the run."""

    def __init__(self, seconds, already=0.0):
        super().__init__()
        self.seconds, self.already = float(seconds), float(already)
        self.start = None

    def on_train_begin(self, logs=None):
        self.start = time.time() - self.already

    def on_train_batch_end(self, batch, logs=None):
        if self.seconds and time.time() - self.start >= self.seconds:
            self.model.stop_training = True


class StopOnDivergence(keras.callbacks.Callback):
    """Raise ``TrainingDiverged`` as soon as the loss is NaN or infinite, naming the last good checkpoint.

    ``keras.callbacks.TerminateOnNaN`` ends ``fit`` quietly, or with
    ``raise_error=True`` raises a plain ``RuntimeError``; a run that diverged
    must fail and say where its last good checkpoint is, which this one does.
    """

    def __init__(self, output_dir):
        super().__init__()
        self.output_dir = Path(output_dir)

    def on_train_batch_end(self, batch, logs=None):
        loss = float((logs or {}).get("loss", 0.0))  # the running mean: once a step is NaN, so is it
        if not math.isfinite(loss):
            raise TrainingDiverged(
                f"the loss became {loss} at step {fit_step(self.model)}; the run stopped and the last good "
                f"checkpoint in {self.output_dir} (step {_saved_step(self.output_dir)}) was kept. "
                "Try a lower learning rate.")


def _run_ends(model, total):
    """Whether the step just taken is the run's last: the planned total, or a callback stopped ``fit``."""
    return fit_step(model) >= total or model.stop_training


class Validation(keras.callbacks.Callback):
    """Every ``every`` steps and at the end, bits/dim of ``images`` with the averaged and the raw weights.

    The figures go into the step's ``logs`` as ``val_bits_per_dim`` and
    ``val_raw_bits_per_dim``, for the callbacks after this one. Evaluation
    runs in float32, whatever ``conv_precision`` training uses.
    """

    def __init__(self, images, average, total, every=0, labels=None):
        super().__init__()
        self.images, self.average, self.total, self.every = images, average, total, every
        self.labels = labels  # the images' classes, for a class-conditional model

    def on_train_batch_end(self, batch, logs=None):
        step = fit_step(self.model)
        if not (_run_ends(self.model, self.total) or (self.every and step % self.every == 0)):
            return
        with conv_precision("float32"):
            logs["val_raw_bits_per_dim"] = evaluate_bits_per_dim(self.model, self.images, progress=False,
                                                                 labels=self.labels)
            with self.average.swapped_in():
                logs["val_bits_per_dim"] = evaluate_bits_per_dim(self.model, self.images, progress=False,
                                                                 labels=self.labels)


class Checkpoint(keras.callbacks.Callback):
    """Every ``every`` steps and at the end, the whole training state in one atomically written ``.npz``.

    It holds the step, the weights, the Polyak averages, Adam's state and the
    dropout layers' random-number state, so a resumed run continues as if it
    had never stopped (``restore``). Non-finite weights are never written.
    Keras's ``BackupAndRestore`` (even with ``save_freq`` in batches and
    ``double_checkpoint``) saves the weights and the optimizer but restarts an
    interrupted epoch from its first batch, and keeps neither the Polyak
    averages nor the random state: a resumed run would not be the same run.
    """

    def __init__(self, output_dir, average, total, every):
        super().__init__()
        self.output_dir, self.average, self.total, self.every = Path(output_dir), average, total, every

    def on_train_batch_end(self, batch, logs=None):
        step = fit_step(self.model)
        if step % self.every == 0 or _run_ends(self.model, self.total):
            _save(self.output_dir, step, self.model, self.model.optimizer, self.average)


def _save(out, step, model, optimizer, average):
    weights, averages = [ops.convert_to_numpy(v) for v in model.weights], average.values()
    if not all(np.isfinite(w).all() for w in weights + averages):
        # the loss of this step was finite but its update was not: keep the previous checkpoint
        raise TrainingDiverged(
            f"the weights became NaN or infinite at step {step}; the run stopped and the last good "
            f"checkpoint in {out} (step {_saved_step(out)}) was kept. Try a lower learning rate.")
    arrays = {"step": np.asarray(step, np.int64)}
    arrays.update(ckpt.pack("model", weights))
    arrays.update(ckpt.pack("ema", averages))
    arrays.update(ckpt.pack("optimizer", [ops.convert_to_numpy(v) for v in optimizer.variables]))
    arrays.update(ckpt.pack("rng", [ops.convert_to_numpy(v) for v in _random_state(model)]))  # dropout masks
    ckpt.save_arrays(out / ckpt.CHECKPOINT_FILE, arrays)


def _saved_step(out):
    path = Path(out) / ckpt.CHECKPOINT_FILE
    if not path.exists():
        return 0
    with np.load(path) as arrays:
        return int(arrays["step"])


def restore(out, model, optimizer, average):
    """Load ``out``'s checkpoint into the model, optimizer and averages; returns its step."""
    with np.load(Path(out) / ckpt.CHECKPOINT_FILE) as arrays:
        ckpt.assign_weights(model.weights, ckpt.unpack(arrays, "model"))
        ckpt.assign_weights(average.averages, ckpt.unpack(arrays, "ema"), "EMA weights")
        ckpt.assign_weights(optimizer.variables, ckpt.unpack(arrays, "optimizer"), "optimizer state")
        ckpt.assign_weights(_random_state(model), ckpt.unpack(arrays, "rng"), "random-number state")
        return int(arrays["step"])


def _random_state(model):
    """The states of the model's seed generators (its dropout layers): variables that are not weights."""
    weights = {id(w) for w in model.weights}
    return [v for v in model.variables if id(v) not in weights]


class TrainingLog(keras.callbacks.Callback):
    """The run's log: a CSV row and TensorBoard scalars every ``every`` steps, sample images, a progress bar.

    Each row holds the mean bits/dim of the steps since the last row, the
    learning rate, images per second and (where ``Validation`` ran at that
    step) the validation figures. On resume the CSV is cut back to the
    checkpoint's step, so no step appears twice. At the end of the run,
    ``num_samples`` images drawn from the averaged weights go to TensorBoard.
    Keras's ``CSVLogger`` and ``TensorBoard`` write per epoch (or Keras's
    running mean per batch) and only append, hence this one.
    """

    def __init__(self, out, start_step, total, every, batch_size, average, steps_per_epoch, verbose=True,
                 progress=None, num_samples=0, seed=0):
        super().__init__()
        self.out, self.start_step, self.total, self.every = Path(out), start_step, total, every
        self.steps_per_epoch = steps_per_epoch
        self.batch_size, self.average, self.verbose, self.progress = batch_size, average, verbose, progress
        self.num_samples, self.seed = num_samples, seed
        self.path = self.out / "log.csv"
        self.rows = []
        if self.path.exists():
            with open(self.path, newline="") as f:
                self.rows = [r for r in csv.DictReader(f) if int(r["step"]) <= start_step]
        self.previous_elapsed = float(self.rows[-1]["elapsed_seconds"]) if self.rows else 0.0

    def on_train_begin(self, logs=None):
        with open(self.path, "w", newline="") as f:
            writer = csv.DictWriter(f, LOG_FIELDS)
            writer.writeheader()
            writer.writerows(self.rows)
        self.file = open(self.path, "a", newline="")
        self.writer = csv.DictWriter(self.file, LOG_FIELDS)
        self.tensorboard = tf.summary.create_file_writer(str(self.out / "tensorboard"))
        # a terminal gets the bar alone; a notebook the bar and the lines; a file or CI log the lines alone
        self.bar = progress_bar(self.total, "training", "step", self.progress)
        self.bar.update(self.start_step)
        self.lines = self.verbose and (self.bar.disable or not sys.stderr.isatty())
        self.run_start = time.time() - self.previous_elapsed
        self.window = (0, 0.0, time.time())  # (steps of this fit, its running-mean loss, time) at the last row

    def on_train_batch_end(self, batch, logs=None):
        step, done = fit_step(self.model), batch + 1  # done: steps of this fit call
        # Keras's loss is the mean since the fit began: the mean of the window is a difference of totals
        mean = float(logs["loss"])
        since, since_mean, since_time = self.window
        window_loss = (done * mean - since * since_mean) / (done - since)
        self.bar.update(1)
        self.bar.set_postfix({"bits/dim": f"{window_loss:.4f}"}, refresh=False)
        validated = "val_bits_per_dim" in logs
        if not (step % self.every == 0 or _run_ends(self.model, self.total) or validated):
            return
        now = time.time()
        self.write(step=step, epoch=(step - 1) // self.steps_per_epoch, bits_per_dim=window_loss,
                   learning_rate=float(ops.convert_to_numpy(self.model.optimizer.learning_rate)),
                   images_per_second=(done - since) * self.batch_size / max(now - since_time, 1e-9),
                   elapsed_seconds=now - self.run_start, val_bits_per_dim=logs.get("val_bits_per_dim"),
                   val_raw_bits_per_dim=logs.get("val_raw_bits_per_dim"))
        self.window = (done, mean, time.time())

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

    def say(self, text):
        (print if self.lines else self.bar.write)(text)

    def on_train_end(self, logs=None):
        step = fit_step(self.model)
        if self.num_samples and step > self.start_step:
            from .sampling import sample

            labels = (np.arange(self.num_samples) % self.model.num_classes if self.model.conditional else None)
            with conv_precision("float32"), self.average.swapped_in():
                images = sample(self.model, self.num_samples, seed=self.seed, progress=False, labels=labels)
            with self.tensorboard.as_default():
                tf.summary.image("samples", images, step=step, max_outputs=self.num_samples)
        self.close()

    def close(self):
        if getattr(self, "file", None) is None:
            return
        self.bar.close()
        self.file.close()
        self.file = None
        self.tensorboard.flush()


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


#: the keys of a run's config.json that ``train`` writes itself; the others are the caller's ``metadata``
_RUN_KEYS = ("model", "training", "num_train_images", "image_shape")


def _check_metadata(out, recorded, metadata):
    """A resumed run goes on with the metadata it started with (for example the held-out split: a different split
    would train on images the run has been validated on)."""
    for key in sorted(set(metadata) | set(recorded) - set(_RUN_KEYS)):
        if key not in metadata:
            raise ValueError(f"the run in {out} was started with {key!r} recorded in its config.json, and this resumed "
                             f"run has none: resume it with the same options (for example --holdout-per-class)")
        if key not in recorded or json.loads(json.dumps(metadata[key])) != recorded[key]:
            raise ValueError(f"the run in {out} was started with another {key!r} than this resumed run's "
                             f"(recorded: {recorded.get(key)!r:.200}); resume it with the same data and options")


def train(model_config: dict, images, output_dir, config: TrainConfig | None = None, val_images=None,
          resume=False, strategy=None, verbose=True, val_labels=None, progress=None, labels=None, metadata=None):
    """Train a model with ``model.fit`` and write checkpoints and logs to ``output_dir``.

    model_config: ``{"model": name, "image_shape": [H, W, C], **hparams}``
      (what ``model.config`` returns); with ``"num_classes"`` (and
      ``"class_names"``) the model is class-conditional.
    images: uint8 (N, H, W, C) training images; labels: their classes, int
      (N,), required for a class-conditional model (and only for one).
    val_images, val_labels: held-out images and (optional for an
      unconditional model) their class labels; ``config.val_size`` of them,
      drawn once with ``config.seed`` (balanced over the classes when labels
      are given), are evaluated with the averaged and with the raw weights
      every ``config.val_every`` steps.
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
    metadata: a dict written into the run's ``config.json`` beside the
      settings (for example the held-out split), and so into ``load_model``'s
      ``metadata``.

    The model is compiled with Adam (``make_optimizer``) and trained by
    ``fit`` with its ``compute_loss`` (bits/dim) and the callbacks of this
    module: ``PolyakAverage``, ``TimeLimit``, ``StopOnDivergence``,
    ``Validation``, ``Checkpoint`` and ``TrainingLog``.

    Returns a dict with the model (EMA weights loaded), the history rows and
    the final step.
    """
    config = TrainConfig() if config is None else config
    out = Path(output_dir)
    model_config = dict(model_config)
    images, labels, val_images, val_labels = _checked_data(model_config, images, labels, val_images, val_labels)
    total = config.total_steps(len(images))
    strategy = strategy or tf.distribute.get_strategy()
    if config.batch_size % strategy.num_replicas_in_sync:
        raise ValueError(f"batch_size {config.batch_size} must divide evenly over "
                         f"{strategy.num_replicas_in_sync} replicas")
    has_checkpoint = _check_resumable(out, resume, model_config, metadata)

    # 1. the model, compiled with Adam and its schedule, and the Polyak average of its weights
    model, average = _build(model_config, config, total, strategy)
    source = out  # where a resumed run reads its checkpoint
    if not is_chief(strategy):  # the same work, written where nobody reads it
        out = Path(tempfile.mkdtemp(prefix="pixelcnn-worker-"))
    out.mkdir(parents=True, exist_ok=True)
    # 2. its starting point: the last checkpoint, or data-dependent initialisation
    start_step = _start(model, average, source, resume and has_checkpoint, images, labels, config, verbose)
    if resume and not has_checkpoint and verbose:
        print("resumed from step 0 (no checkpoint yet)", flush=True)
    ckpt.atomic_write_json(out / ckpt.CONFIG_FILE, {
        "model": model.config, "training": dataclasses.asdict(config),
        "num_train_images": int(len(images)), "image_shape": list(model.image_shape), **(metadata or {}),
    })
    # 3. the callbacks: averaging, time limit, divergence guard, validation, log, checkpoints
    log = TrainingLog(out, start_step, total, config.log_every, config.batch_size, average,
                      steps_per_epoch(len(images), config.batch_size), verbose, progress,
                      num_samples=config.log_samples if is_chief(strategy) else 0, seed=config.seed)
    callbacks = [average, TimeLimit(config.time_limit, log.previous_elapsed), StopOnDivergence(out)]
    if val_images is not None:
        chosen = subset_indices(len(val_images), config.val_size, val_labels, seed=config.seed)
        callbacks.append(Validation(val_images[chosen], average, total, config.val_every,
                                    None if labels is None else val_labels[chosen]))
    # the log writes a step's row before the checkpoint of that step: a run killed between the two resumes from
    # the previous checkpoint and rewrites the row, instead of missing it
    callbacks += [log, Checkpoint(out, average, total, config.checkpoint_every)]
    # 4. fit, over exactly the batches the run has left
    try:
        if start_step < total:
            _fit(model, images, labels, config, start_step, total, callbacks)
    finally:
        log.close()
        if out != source:
            shutil.rmtree(out, ignore_errors=True)
    step = fit_step(model)
    if step < total and verbose:
        log.say(f"stopped at step {step} of {total}: the time limit of {config.time_limit:g} s is spent")

    for var, avg in zip(average.variables, average.averages):  # hand back the model with its EMA weights
        var.assign(avg)
    return {"model": model, "history": log.rows, "step": step}


def _checked_data(model_config, images, labels, val_images, val_labels):
    """The training and held-out images (uint8 numpy) and labels (int numpy or None), checked against the model."""
    images = np.asarray(check_images(images))
    conditional = model_config.get("num_classes") is not None
    if conditional and (labels is None or (val_images is not None and val_labels is None)):
        raise ValueError("a class-conditional model trains on labelled images: give labels= (and val_labels= "
                         "with val_images=)")
    if not conditional and labels is not None:
        raise ValueError("labels were given for an unconditional model; add num_classes to its config to "
                         "condition on them")
    if labels is not None:
        from .validation import check_labels

        labels = np.asarray(ops.convert_to_numpy(check_labels(labels, model_config["num_classes"], len(images))))
        if val_labels is not None:
            val_labels = np.asarray(ops.convert_to_numpy(
                check_labels(val_labels, model_config["num_classes"], len(val_images), "val_labels")))
    image_shape = tuple(model_config.get("image_shape", ()))
    if tuple(images.shape[1:]) != image_shape:
        raise ValueError(f"training images have shape {images.shape[1:]} but the model expects {image_shape}")
    if val_images is not None:
        val_images = np.asarray(check_images(val_images, image_shape[-1]))
    return images, labels, val_images, val_labels


def _check_resumable(out, resume, model_config, metadata):
    """Whether ``out`` holds a checkpoint; an error if it does and ``resume`` is off, or if the run recorded there
    is of another model or metadata."""
    has_checkpoint = (out / ckpt.CHECKPOINT_FILE).exists()
    if has_checkpoint and not resume:
        raise ValueError(f"{out} already holds a checkpoint; pass resume=True (--resume) to continue it, "
                         "or choose another output directory")
    if resume and (out / ckpt.CONFIG_FILE).exists():
        recorded = ckpt.read_config(out)
        diffs = ckpt.config_differences(_normalised(model_config), _normalised(recorded["model"]))
        if diffs:
            raise ValueError(f"the checkpoint in {out} does not match the requested model: " + "; ".join(diffs))
        _check_metadata(out, recorded, metadata or {})
    return has_checkpoint


def _build(model_config, config, total, strategy):
    """The model of ``model_config``, seeded and compiled with Adam (``make_optimizer``), and its Polyak average."""
    keras.utils.set_random_seed(config.seed)  # same seed, same initial weights
    model_config = dict(model_config)
    with strategy.scope():
        name = model_config.pop("model")
        model = build_model(name, tuple(model_config.pop("image_shape")), **model_config)
        model.compile(optimizer=make_optimizer(config, total), jit_compile=config.xla)
        model.optimizer.build(model.trainable_variables)
        average = PolyakAverage(config.ema_decay).attach(model)
    return model, average


def _start(model, average, source, restoring, images, labels, config, verbose):
    """The step the run starts from: the checkpoint's in ``source`` when ``restoring``, else 0 after data-dependent
    initialisation on seeded training images."""
    if restoring:
        start_step = restore(source, model, model.optimizer, average)
        if verbose:
            print(f"resumed from step {start_step}", flush=True)
        return start_step
    chosen = subset_indices(len(images), config.init_batch_size, labels, seed=config.seed)
    # the same seeded images, so the same result, on every worker
    data_dependent_init(model, images[chosen], None if labels is None else labels[chosen])
    average.reset()
    return 0


def _fit(model, images, labels, config, start_step, total, callbacks):
    """``model.fit`` over the batches of steps ``start_step`` .. ``total``, in the run's seeded order."""
    batches = training_batches(images, config.batch_size, start_step, total - start_step, flip=config.flip,
                               seed=config.seed, labels=labels, rotate=config.rotate)
    # int32 on the way in: under a strategy, Keras first averages a batch over the workers to build the
    # model, and the collective ops that do it take no uint8 (the model accepts any integer images)
    batches = batches.map(lambda x: tf.nest.map_structure(lambda t: tf.cast(t, tf.int32), x))
    # each worker reads its part of every global batch
    with conv_precision(config.conv_precision):  # read while the step is traced
        model.fit(batches.with_options(_sharded_by_data()), epochs=1, verbose=0, shuffle=False,
                  callbacks=callbacks)


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


def load_config_file(path):
    """Read a JSON configuration file of the command line (see configs/)."""
    with open(path) as f:
        return json.load(f)
