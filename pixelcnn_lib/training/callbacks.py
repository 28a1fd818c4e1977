"""The callbacks of a training run: the pieces of ``train``, each usable with any ``model.fit``.

Each says in one line why Keras's own callback does not do its job.
"""

from __future__ import annotations

import contextlib
import csv
import math
import sys
import time
from pathlib import Path

import keras
import numpy as np
from keras import ops

from .. import backend
from .. import checkpoints as ckpt
from .._extras import require
from ..nn import conv_precision
from ..progress import progress_bar
from .config import LOG_FIELDS, TrainingDiverged
from .evaluation import evaluate_bits_per_dim

tf = require("tensorflow", "training")


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
            from ..sampling.api import sample

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
