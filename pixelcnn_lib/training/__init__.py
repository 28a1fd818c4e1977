"""Training: ``train(model_config, images, output_dir, TrainConfig(...))`` on Keras's ``fit``.

* ``config``: ``TrainConfig``, the learning-rate schedule, the optimizer;
* ``trainer``: ``train``, in its steps (check the data, build or restore, callbacks, fit), and the
  distribution across devices and workers (``tf.distribute``);
* ``callbacks``: Polyak averaging, time limit, divergence guard, validation, checkpoints, logs;
* ``evaluation``: bits per dimension (the loss) and its average over images.

The names below load on first use: ``evaluate_bits_per_dim`` imports no TensorFlow, ``train`` does (its data
pipeline is ``tf.data`` and its strategies ``tf.distribute``).
"""

from .._lazy import lazy_exports

_EXPORTS = {
    "TrainConfig": "config", "learning_rate_schedule": "config", "make_optimizer": "config",
    "load_config_file": "config", "TrainingDiverged": "config", "LOG_FIELDS": "config",
    "evaluate_bits_per_dim": "evaluation", "nll_bits_per_dim": "evaluation",
    "PolyakAverage": "callbacks", "TimeLimit": "callbacks", "StopOnDivergence": "callbacks", "Validation": "callbacks",
    "Checkpoint": "callbacks", "TrainingLog": "callbacks", "restore": "callbacks",
    "train": "trainer", "is_chief": "trainer",
}
__all__ = sorted(_EXPORTS)
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
