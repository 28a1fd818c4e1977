"""PixelSNAIL (Chen et al., 2017): gated residual blocks interleaved with causal attention.

One down-right-shifted stream at full resolution. Each of ``depth`` blocks
runs ``resnets_per_block`` gated residual blocks, then causal self-attention
over all earlier pixels (keys and values also see the raw image; two
coordinate channels tell positions apart), and merges the attention output
back with a 1x1 gated residual block.

Two variants, chosen with ``variant``:

* ``"original"``: one head with 16-dimensional keys and ``filters``-wide
  values, as in the paper's CIFAR-10 model;
* ``"multihead"``: ``num_heads`` heads of ``filters // num_heads`` dimensions
  each, as in the widely used PixelSNAIL prior of VQ-VAE-2 re-implementations.
"""

from .. import layers as L
from ..distributions import DiscretizedLogisticMixture
from .base import AutoregressiveModel, pad_with_ones

import tensorflow as tf

VARIANTS = ("original", "multihead")


class PixelSNAIL(AutoregressiveModel):
    model_name = "pixelsnail"
    defaults = {"filters": 256, "depth": 12, "resnets_per_block": 4, "num_mixtures": 10, "dropout": 0.5,
                "variant": "original", "num_heads": 8, "key_dim": 16}

    def __init__(self, image_shape, filters, depth, resnets_per_block, num_mixtures, dropout, variant,
                 num_heads, key_dim, **kwargs):
        channels = image_shape[-1]
        super().__init__(image_shape, DiscretizedLogisticMixture(num_mixtures, channels), dict(
            filters=filters, depth=depth, resnets_per_block=resnets_per_block, num_mixtures=num_mixtures,
            dropout=dropout, variant=variant, num_heads=num_heads, key_dim=key_dim), **kwargs)
        if variant not in VARIANTS:
            raise ValueError(f"variant must be one of {VARIANTS}, got {variant!r}")
        f = filters
        if variant == "original":
            heads, kdim, vdim = 1, key_dim, f
        else:
            if f % num_heads:
                raise ValueError(f"filters ({f}) must be divisible by num_heads ({num_heads})")
            heads, kdim, vdim = num_heads, f // num_heads, f // num_heads
        self.in_down = L.DownShiftedConv2D(f, (1, 3))
        self.in_right = L.DownRightShiftedConv2D(f, (2, 1))
        self.resnets = [
            [L.GatedResidualBlock(f, L.DownRightShiftedConv2D, dropout) for _ in range(resnets_per_block)]
            for _ in range(depth)
        ]
        self.attentions = [L.CausalSelfAttention(f, channels, heads, kdim, vdim, dropout) for _ in range(depth)]
        self.merges = [L.GatedResidualBlock(f, L.NetworkInNetwork, dropout, has_aux=True) for _ in range(depth)]
        self.out = L.NetworkInNetwork(self.head.num_params)

    def forward(self, x, training):
        padded = pad_with_ones(x)
        ul = L.down_shift(self.in_down(padded)) + L.right_shift(self.in_right(padded))
        for resnets, attention, merge in zip(self.resnets, self.attentions, self.merges):
            for block in resnets:
                ul = block(ul, training=training)
            mixed = attention(ul, x, training=training)
            ul = merge(ul, aux=mixed, training=training)
        return self.out(tf.nn.elu(ul))
