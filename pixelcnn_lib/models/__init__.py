"""The four models of the pixelCNN family and ``build_model``."""

from __future__ import annotations

import keras
import numpy as np

from ..validation import check_image_shape
from .base import AutoregressiveModel, data_dependent_init
from .gated_pixelcnn import GatedPixelCNN
from .pixelcnn import PixelCNN
from .pixelcnn_pp import PixelCNNPlusPlus
from .pixelsnail import PixelSNAIL

MODELS = {cls.model_name: cls for cls in (PixelCNN, GatedPixelCNN, PixelCNNPlusPlus, PixelSNAIL)}
for _cls in MODELS.values():  # so that keras.models.load_model("m.keras") finds them
    keras.saving.register_keras_serializable(package="pixelcnn_lib")(_cls)


def build_model(name, image_shape=(32, 32, 3), num_classes=None, class_names=None, first_pixel_bias=False,
                **hparams) -> AutoregressiveModel:
    """Build one of the family, with its weights created.

    Args:
      name: "pixelcnn", "gated_pixelcnn", "pixelcnn_pp" or "pixelsnail".
      image_shape: (H, W, C), square, C = 1 (grey) or 3 (RGB).
      num_classes: None (unconditional), or K: a class-conditional model,
        called with ``{"images": x, "labels": y}``, y int (B,) in 0..K-1.
      class_names: optional K names of the classes, saved with the model.
      first_pixel_bias: add a learnt offset (per class) to the head's
        parameters at the first pixel, a departure from the references that
        learns the first pixel's distribution quickly
        (``AutoregressiveModel.first_pixel``); off by default.
      **hparams: overrides of the model's ``defaults`` (its published CIFAR-10
        configuration); every model takes ``filters`` and ``depth``.

    Returns a ``keras.Model``; ``model(x)`` maps uint8 (B, H, W, C) images (or
    float32 ones in [-1, 1]) to (B, H, W, model.head.num_params).
    """
    if name not in MODELS:
        raise ValueError(f"unknown model name {name!r}; choose one of {sorted(MODELS)}")
    cls = MODELS[name]
    image_shape = check_image_shape(image_shape, cls.min_image_size)
    unknown = set(hparams) - set(cls.defaults)
    if unknown:
        raise TypeError(f"{name} has no hyper-parameter(s) {sorted(unknown)}; it takes {sorted(cls.defaults)}")
    config = {**cls.defaults, **hparams}
    multiple = cls.size_multiple(config) if hasattr(cls, "size_multiple") else 1
    if image_shape[0] % multiple:
        raise ValueError(f"{name} with these settings halves the image down to 1/{multiple}, so the size must be a "
                         f"multiple of {multiple}, got {image_shape[0]}")
    for key in ("filters", "depth"):
        if not isinstance(config[key], (int, np.integer)) or config[key] < 1:
            raise ValueError(f"{key} must be a positive int, got {config[key]!r}")
    model = cls(image_shape, **config, num_classes=num_classes, class_names=class_names,
                first_pixel_bias=first_pixel_bias)
    model(model.inputs_for(np.zeros((1, *image_shape), np.float32),
                           None if num_classes is None else np.zeros((1,), np.int32)))  # create the weights
    return model


def model_from_config(config: dict) -> AutoregressiveModel:
    """Inverse of ``model.config``."""
    config = dict(config)
    name = config.pop("model")
    image_shape = tuple(config.pop("image_shape"))
    return build_model(name, image_shape, **config)


__all__ = ["AutoregressiveModel", "MODELS", "build_model", "data_dependent_init", "model_from_config",
           "PixelCNN", "GatedPixelCNN", "PixelCNNPlusPlus", "PixelSNAIL"]
