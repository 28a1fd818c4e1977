"""pixelcnn_lib: PixelCNN, Gated PixelCNN, PixelCNN++ and PixelSNAIL in TensorFlow / Keras 3.

    import pixelcnn_lib as pl
    model = pl.build_model("pixelsnail", image_shape=(32, 32, 3), filters=64, depth=2)
    nats = pl.log_prob(model, images_uint8)
    samples = pl.sample(model, 16, seed=0)
    shipped = pl.from_preset("pixelsnail_cifar10")  # pl.presets() lists the shipped models

``import pixelcnn_lib`` imports nothing else and changes nothing in the environment: each name below is imported
from its module when first used (so the command line can quiet TensorFlow before TensorFlow starts).
"""

from ._lazy import lazy_exports

__version__ = "0.1.0"

_EXPORTS = {  # name -> the module that defines it
    "MODELS": "models", "build_model": "models", "data_dependent_init": "models", "model_from_config": "models",
    "Categorical": "nn.heads", "DiscretizedLogisticMixture": "nn.heads", "bits_per_dim": "nn.heads",
    "class_log_probs": "sampling.api", "complete": "sampling.api", "log_prob": "sampling.api",
    "sample": "sampling.api",
    "from_preset": "pretrained", "presets": "pretrained",
    "TrainConfig": "training.config", "train": "training.trainer",
    "show_source": "teaching.source_code",
}
__all__ = sorted(_EXPORTS)
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
