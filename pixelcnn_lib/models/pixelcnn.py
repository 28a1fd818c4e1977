"""PixelCNN with masked convolutions (van den Oord et al., 2016, "Pixel Recurrent Neural Networks").

A 7x7 type-A masked convolution, then residual blocks of masked 1x1 / 3x3 / 1x1
type-B convolutions, then two masked 1x1 layers and a 256-way softmax per
sub-pixel. RGB channels are ordered R, G, B inside each pixel by the masks'
channel groups. Stacked 3x3 masks leave a blind spot (chapter 3).
"""

import tensorflow as tf

from .. import layers as L
from ..distributions import Categorical
from .base import AutoregressiveModel


class PixelCNN(AutoregressiveModel):
    model_name = "pixelcnn"
    defaults = {"filters": 128, "depth": 15, "first_kernel": 7, "kernel": 3, "head_filters": 1024}

    def __init__(self, image_shape, filters, depth, first_kernel, kernel, head_filters, **kwargs):
        channels = image_shape[-1]
        super().__init__(image_shape, Categorical(channels), dict(
            filters=filters, depth=depth, first_kernel=first_kernel, kernel=kernel, head_filters=head_filters),
            **kwargs)
        g = channels

        def masked(f, k, kind):
            return L.MaskedConv2D(f, k, kind, color_groups=g)

        self.first = masked(2 * filters, first_kernel, "A")
        self.blocks = [
            [masked(filters, 1, "B"), masked(filters, kernel, "B"), masked(2 * filters, 1, "B")]
            for _ in range(depth)
        ]
        self.out1 = masked(head_filters, 1, "B")
        self.out2 = masked(self.head.num_params, 1, "B")

    def forward(self, x, training):
        h = self.first(x)
        for reduce, spatial, expand in self.blocks:
            r = reduce(tf.nn.relu(h))
            r = spatial(tf.nn.relu(r))
            h = h + expand(tf.nn.relu(r))
        return self.out2(tf.nn.relu(self.out1(tf.nn.relu(h))))
