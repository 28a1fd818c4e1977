"""The network's parts: causal convolutions, blocks, attention and the output heads (distributions).

``from pixelcnn_lib import nn as L`` gives every layer and function by name
(``L.MaskedConv2D``, ``L.causal_mask``, ``L.DiscretizedLogisticMixture``); the
modules hold them by kind:

* ``convolutions``: weight-normalised masked, shifted and transposed convolutions, shifts, masks, precision;
* ``blocks``: nonlinearities, gates, dropout, class biases, the gated residual block;
* ``attention``: PixelSNAIL's causal self-attention and its coordinate channels;
* ``heads``: the output distributions (256-way softmax, discretized logistic mixture) and bits per dimension;
* ``footprints``: how each layer connects positions, for the receptive-field tools;
* ``pixels``: drawing and writing one pixel, what a sampling step is made of;
* ``caches``: the TensorFlow variables of cached sampling (imported only when a cached sampler starts).
"""

from .attention import CausalSelfAttention, coordinate_channels, coordinate_channels_at, strictly_causal_mask
from .blocks import (
    NONLINEARITIES,
    ClassBias,
    Dropout,
    GatedResidualBlock,
    check_nonlinearity,
    concat_elu,
    gated_activation,
    sigmoid_gate,
)
from .convolutions import (
    CONV_PRECISIONS,
    DownRightShiftedConv2D,
    DownRightShiftedConv2DTranspose,
    DownShiftedConv2D,
    DownShiftedConv2DTranspose,
    MaskedConv2D,
    NetworkInNetwork,
    WeightNormConv2D,
    WeightNormConv2DTranspose,
    causal_mask,
    conv_precision,
    down_shift,
    initialise_from_outputs,
    right_shift,
)
from .heads import Categorical, DiscretizedLogisticMixture, bits_per_dim, from_unit_range, to_unit_range

__all__ = [
    "CONV_PRECISIONS", "NONLINEARITIES", "Categorical", "CausalSelfAttention", "ClassBias",
    "DiscretizedLogisticMixture",
    "DownRightShiftedConv2D", "DownRightShiftedConv2DTranspose", "DownShiftedConv2D", "DownShiftedConv2DTranspose",
    "Dropout", "GatedResidualBlock", "MaskedConv2D", "NetworkInNetwork", "WeightNormConv2D",
    "WeightNormConv2DTranspose", "bits_per_dim", "causal_mask", "check_nonlinearity", "concat_elu",
    "conv_precision",
    "coordinate_channels", "coordinate_channels_at", "down_shift", "from_unit_range", "gated_activation",
    "initialise_from_outputs", "right_shift", "sigmoid_gate", "strictly_causal_mask", "to_unit_range",
]
