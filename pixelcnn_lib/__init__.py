"""pixelcnn_lib: PixelCNN, Gated PixelCNN, PixelCNN++ and PixelSNAIL in TensorFlow / Keras 3.

    import pixelcnn_lib as pl
    model = pl.build_model("pixelsnail", image_shape=(32, 32, 3), filters=64, depth=2)
    nats = pl.log_prob(model, images_uint8)
    samples = pl.sample(model, 16, seed=0)
    shipped = pl.from_preset("pixelsnail_cifar10")  # pl.presets() lists the shipped models

``import pixelcnn_lib`` imports nothing else and changes nothing in the environment: each name below is imported
from its module when first used (so the command line can quiet TensorFlow before TensorFlow starts).
"""

import importlib

__version__ = "0.1.0"

_EXPORTS = {  # name -> the module that defines it
    "from_preset": "checkpoints", "presets": "checkpoints",
    "Categorical": "distributions", "DiscretizedLogisticMixture": "distributions", "bits_per_dim": "distributions",
    "MODELS": "models", "build_model": "models", "data_dependent_init": "models", "model_from_config": "models",
    "class_log_probs": "sampling", "complete": "sampling", "log_prob": "sampling", "sample": "sampling",
    "show_source": "source_code",
    "TrainConfig": "training", "train": "training",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name):
    if name in _EXPORTS:
        value = getattr(importlib.import_module(f".{_EXPORTS[name]}", __name__), name)
        globals()[name] = value  # imported once
        return value
    try:  # a module of the package, as ``pl.layers``
        return importlib.import_module(f".{name}", __name__)
    except ModuleNotFoundError as error:
        if error.name != f"{__name__}.{name}":
            raise
    raise AttributeError(f"module 'pixelcnn_lib' has no attribute {name!r}")


def __dir__():
    return sorted([*globals(), *_EXPORTS])
