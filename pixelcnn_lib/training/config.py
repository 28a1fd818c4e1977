"""A training run's settings (``TrainConfig``), its learning-rate schedule and its optimizer."""

from __future__ import annotations

import dataclasses
import json

import keras

from ..nn import CONV_PRECISIONS

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


def load_config_file(path):
    """Read a JSON configuration file of the command line (see configs/)."""
    with open(path) as f:
        return json.load(f)


def _normalised(model_config):
    """A model config with defaults filled in, for comparison."""
    from ..models import MODELS

    config = dict(model_config)
    name = config.get("model")
    if name in MODELS:
        config = {**MODELS[name].defaults, **config}
    config["image_shape"] = list(config.get("image_shape", []))
    return config
