"""Training: maximum likelihood with Adam, learning-rate decay, Polyak (EMA) weights, on Keras's ``fit``.

``train`` runs a whole run: data-dependent initialisation, ``model.compile``
with Adam (optionally XLA: ``jit_compile``), then ``model.fit`` (the loss is
the model's ``compute_loss``, bits per dimension) under a ``tf.distribute``
strategy (one device by default; ``MirroredStrategy`` across GPUs or CPU
devices; ``MultiWorkerMirroredStrategy``; ``TPUStrategy`` on a TPU), with the
callbacks of ``callbacks.py``: Polyak averaging, a time limit, a NaN guard, validation,
atomic checkpoints every N steps and at the end, and CSV and TensorBoard logs
with sample images. A resumed run continues at exactly the step, learning
rate, data order and dropout masks it had reached. Each callback works with
any ``fit`` too, and says in one line why Keras's own does not do its job.
"""

from __future__ import annotations

import dataclasses
import json
import shutil
import tempfile
from pathlib import Path

import keras
import numpy as np
from keras import ops

from .. import checkpoints as ckpt
from .._extras import require
from ..data import subset_indices, training_batches
from ..models import build_model, data_dependent_init
from ..nn import conv_precision
from ..validation import check_images
from .callbacks import (
    Checkpoint,
    PolyakAverage,
    StopOnDivergence,
    TimeLimit,
    TrainingLog,
    Validation,
    fit_step,
    restore,
)
from .config import TrainConfig, _normalised, make_optimizer, steps_per_epoch

tf = require("tensorflow", "training")


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
        from ..validation import check_labels

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


