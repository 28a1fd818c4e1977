"""A training run's settings (``TrainConfig``), its learning-rate schedule and its optimizer."""

from __future__ import annotations

import dataclasses
import json

import keras

from ..nn.convolutions import CONV_PRECISIONS

LOG_FIELDS = ["step", "epoch", "bits_per_dim", "learning_rate", "images_per_second", "elapsed_seconds",
              "val_bits_per_dim", "val_raw_bits_per_dim"]


SCHEDULES = ("exponential", "cosine")


class TrainingDiverged(RuntimeError):
    """The loss became NaN or infinite."""


def _option(default, help):
    """A field of ``TrainConfig`` with the help text that its command-line option shows."""
    return dataclasses.field(default=default, metadata={"help": help})


@dataclasses.dataclass
class TrainConfig:
    """Settings of a training run (defaults: the PixelCNN++ / PixelSNAIL papers').

    Declared once: every field is an option of ``pixelcnn train`` (``--batch-size`` for ``batch_size``), with
    its help text and default from here.
    """

    steps: int | None = _option(None, "total optimisation steps (or give --epochs)")
    epochs: int | None = _option(None, "passes over the training images (or give --steps)")
    batch_size: int = _option(16, "global batch, split across replicas")
    learning_rate: float = _option(1e-3, "the peak learning rate")
    schedule: str = _option("exponential", "exponential: times --lr-decay every step (the papers'); cosine: linear "
                                           "warm-up over --warmup-steps, then a half cosine to 0 at the last step")
    lr_decay: float = _option(0.999995, "learning-rate factor per step (exponential schedule)")
    warmup_steps: int = _option(0, "steps of linear warm-up from 0 to the learning rate (cosine schedule)")
    beta_1: float = _option(0.95, "Adam's first-moment decay (as in the references)")
    beta_2: float = _option(0.9995, "Adam's second-moment decay")
    epsilon: float = _option(1e-7, "Adam's epsilon: Keras's Adam adds it to sqrt(v); the references add 1e-6 "
                                   "(PixelSNAIL) under the root")
    ema_decay: float = _option(0.9995, "Polyak averaging decay, warmed up: min(decay, (1 + t) / (10 + t))")
    checkpoint_every: int = _option(500, "steps between checkpoints")
    log_every: int = _option(50, "steps between log rows")
    val_every: int = _option(0, "validate every N steps (0: only at the end; independent of --log-every)")
    val_size: int = _option(500, "validation images: a seeded subset, balanced over classes where they are known")
    init_batch_size: int = _option(64, "images for the data-dependent initialisation")
    seed: int = _option(0, "seed of the initial weights, the data order, the flips and the held-out draws")
    time_limit: float = _option(0.0, "stop after this many seconds of training, all parts of a resumed run "
                                     "together (0: no limit)")
    flip: bool = _option(False, "mirror half the training images left-right")
    rotate: bool = _option(False, "turn each training image by a random multiple of 90 degrees (with --flip: "
                                  "all 8 symmetries)")
    xla: bool = _option(False, "compile the training step with XLA")
    conv_precision: str = _option("float32", "dtype of the convolutions (bfloat16: mixed precision, fast on "
                                             "CPUs with AMX/AVX512-BF16)")
    log_samples: int = _option(4, "images drawn from the averaged weights at the end, shown in TensorBoard "
                                  "(0: none)")

    #: the choices of the fields that take one of a few values
    CHOICES = {"schedule": SCHEDULES, "conv_precision": CONV_PRECISIONS}

    def __post_init__(self):
        for name, choices in self.CHOICES.items():
            if getattr(self, name) not in choices:
                raise ValueError(f"{name} must be one of {choices}, got {getattr(self, name)!r}")
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
