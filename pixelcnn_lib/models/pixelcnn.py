"""PixelCNN with masked convolutions (van den Oord et al., 2016, "Pixel Recurrent Neural Networks").

A 7x7 type-A masked convolution, then residual blocks of masked 1x1 / 3x3 / 1x1
type-B convolutions, then two masked 1x1 layers and a 256-way softmax per
sub-pixel. RGB channels are ordered R, G, B inside each pixel by the masks'
channel groups. Stacked 3x3 masks leave a blind spot (chapter 3).

``num_mixtures=K`` swaps the softmax for PixelCNN++'s discretised logistic
mixture of K components (a departure from the paper, for comparing the two
heads on the same network, as chapter 2 does): the mixture couples a pixel's
colours itself, so the masks then treat the pixel as one group and every
output at a pixel sees earlier pixels only.

A class-conditional model (``num_classes``) adds a learnt vector of its class
(``layers.ClassBias``) to every residual block's 3x3 output before its ReLU:
the plain PixelCNN has no gates to put it in (Gated PixelCNN adds it inside
its gates), so it enters the pre-activations, as the conditional PixelCNN of
van den Oord et al. (2016) adds V^T h to them.
"""

import numpy as np
from keras import ops

from .. import nn as L
from ..nn.footprints import CENTRE, Link, kernel_name
from ..nn.heads import Categorical, DiscretizedLogisticMixture
from .base import AutoregressiveModel


class PixelCNN(AutoregressiveModel):
    model_name = "pixelcnn"

    def __init__(self, image_shape, filters=128, depth=15, first_kernel=7, kernel=3, head_filters=1024,
                 num_mixtures=None, num_classes=None, class_names=None, first_pixel_bias=False, **kwargs):
        hparams = self.declared(locals())  # the signature's defaults are the published configuration
        channels = image_shape[-1]
        if num_mixtures is None:
            head, g = Categorical(channels), channels  # one mask group per colour: R, then G, then B
        elif isinstance(num_mixtures, (int, np.integer)) and not isinstance(num_mixtures, bool) and num_mixtures > 0:
            head, g = DiscretizedLogisticMixture(int(num_mixtures), channels), 1  # the whole pixel is one group
        else:
            raise ValueError(f"num_mixtures must be None (the 256-way softmax) or a positive int, got {num_mixtures!r}")
        super().__init__(image_shape, head, hparams, num_classes, class_names, first_pixel_bias, **kwargs)

        def masked(f, k, kind):
            return L.MaskedConv2D(f, k, kind, colour_groups=g)

        self.first = masked(2 * filters, first_kernel, "A")
        self.blocks = [
            [masked(filters, 1, "B"), masked(filters, kernel, "B"), masked(2 * filters, 1, "B")]
            for _ in range(depth)
        ]
        if self.conditional:
            self.class_biases = [L.ClassBias(self.num_classes, filters) for _ in range(depth)]
        self.out1 = masked(head_filters, 1, "B")
        self.out2 = masked(self.head.num_params, 1, "B")

    def network(self, x, training, labels=None):
        h = self.first(x)
        for k, (reduce, spatial, expand) in enumerate(self.blocks):
            r = reduce(ops.relu(h))
            r = spatial(ops.relu(r))
            if labels is not None:
                r = r + self.class_biases[k].on_grid(labels)
            h = h + expand(ops.relu(r))
        return self.out2(ops.relu(self.out1(ops.relu(h))))

    def receptive_spec(self):
        """The analytic description of this model (see ``pixelcnn_lib.nn.footprints``), step for step as ``network``."""
        k = kernel_name(self.first)
        steps = [[Link("h", "x", self.first.footprint(), f"masked {k}, type A", "layer 1")]]
        for i, (reduce, spatial, expand) in enumerate(self.blocks):
            title = f"layer {i + 2}"
            steps += [
                [Link("r", "h", reduce.footprint(), "", title)],
                [Link("r", "r", spatial.footprint(), f"masked {kernel_name(spatial)}, type B", title)],
                [Link("h", "h", CENTRE, "", title), Link("h", "r", expand.footprint(), "", title)],
            ]
        steps.append([Link("out", "h", CENTRE)])
        return steps
