"""pixelcnn_lib: PixelCNN, Gated PixelCNN, PixelCNN++ and PixelSNAIL in TensorFlow / Keras 3.

    import pixelcnn_lib as pl
    model = pl.build_model("pixelsnail", image_shape=(32, 32, 3), filters=64, depth=2)
    nats = pl.log_prob(model, images_uint8)
    samples = pl.sample(model, 16, seed=0)
    shipped = pl.from_preset("pixelsnail_cifar10")  # pl.presets() lists the shipped models
"""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # keep TensorFlow's start-up chatter out of the book

from .checkpoints import from_preset, presets
from .distributions import Categorical, DiscretizedLogisticMixture, bits_per_dim
from .models import MODELS, build_model, data_dependent_init, model_from_config
from .sampling import class_log_probs, complete, log_prob, sample
from .source_code import show_source

__version__ = "0.1.0"

__all__ = [
    "Categorical", "DiscretizedLogisticMixture", "bits_per_dim",
    "MODELS", "build_model", "data_dependent_init", "model_from_config",
    "class_log_probs", "complete", "log_prob", "sample", "show_source", "from_preset", "presets",
]
