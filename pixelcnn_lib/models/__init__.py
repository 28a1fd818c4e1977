"""The four models of the pixelCNN family, ``build_model`` and ``MODELS`` (name -> class)."""

from __future__ import annotations

import keras

from .base import MODELS, AutoregressiveModel, build_model, data_dependent_init, model_from_config
from .gated_pixelcnn import GatedPixelCNN
from .pixelcnn import PixelCNN
from .pixelcnn_pp import PixelCNNPlusPlus
from .pixelsnail import PixelSNAIL

for _name in ("pixelcnn", "gated_pixelcnn", "pixelcnn_pp", "pixelsnail"):  # in the order of the book
    MODELS[_name] = MODELS.pop(_name)
for _cls in MODELS.values():  # so that keras.models.load_model("m.keras") finds them
    keras.saving.register_keras_serializable(package="pixelcnn_lib")(_cls)

__all__ = ["AutoregressiveModel", "MODELS", "build_model", "data_dependent_init", "model_from_config",
           "PixelCNN", "GatedPixelCNN", "PixelCNNPlusPlus", "PixelSNAIL"]
