"""PixelCNN++ (Salimans et al., 2017).

Two causal streams, ``u`` (down-shifted: rows above) and ``ul`` (down-right-
shifted: rows above and pixels to the left), of gated residual blocks at
``levels`` resolutions (three in the paper): an up pass that halves the size with stride-2 shifted
convolutions, and a down pass that doubles it back with the matching transposed
convolutions, fed by skip connections from every up-pass block. The output is a
discretised logistic mixture with RGB coupling. As in openai/pixel-cnn
``pixel_cnn_pp/model.py`` (``model_spec``); ``nonlinearity`` is its
``resnet_nonlinearity`` (default "concat_elu", as in its ``train.py``).
"""

import tensorflow as tf

from .. import layers as L
from ..distributions import DiscretizedLogisticMixture
from .base import AutoregressiveModel, pad_with_ones


class PixelCNNPlusPlus(AutoregressiveModel):
    model_name = "pixelcnn_pp"
    defaults = {"filters": 160, "depth": 5, "num_mixtures": 10, "dropout": 0.5, "levels": 3,
                "nonlinearity": "concat_elu"}
    min_image_size = 8

    @staticmethod
    def size_multiple(hparams):
        """Each of the levels - 1 stride-2 down-samplings halves the image."""
        return 2 ** (hparams["levels"] - 1)

    def __init__(self, image_shape, filters, depth, num_mixtures, dropout, levels, nonlinearity, **kwargs):
        super().__init__(image_shape, DiscretizedLogisticMixture(num_mixtures, image_shape[-1]), dict(
            filters=filters, depth=depth, num_mixtures=num_mixtures, dropout=dropout, levels=levels,
            nonlinearity=nonlinearity), **kwargs)
        if not isinstance(levels, int) or levels < 1:
            raise ValueError(f"levels must be a positive int, got {levels!r}")
        f = filters
        self.levels = levels

        def u_block(has_aux=False):
            return L.GatedResidualBlock(f, L.DownShiftedConv2D, dropout, has_aux, nonlinearity=nonlinearity)

        def ul_block():
            return L.GatedResidualBlock(f, L.DownRightShiftedConv2D, dropout, has_aux=True, nonlinearity=nonlinearity)

        self.u_in = L.DownShiftedConv2D(f, (2, 3))
        self.ul_in_down = L.DownShiftedConv2D(f, (1, 3))
        self.ul_in_right = L.DownRightShiftedConv2D(f, (2, 1))
        self.up_u = [[u_block() for _ in range(depth)] for _ in range(levels)]
        self.up_ul = [[ul_block() for _ in range(depth)] for _ in range(levels)]
        self.down_u_sample = [L.DownShiftedConv2D(f, (2, 3), strides=2) for _ in range(levels - 1)]
        self.down_ul_sample = [L.DownRightShiftedConv2D(f, (2, 2), strides=2) for _ in range(levels - 1)]
        sizes = [depth] + [depth + 1] * (levels - 1)
        self.dn_u = [[u_block(has_aux=True) for _ in range(n)] for n in sizes]
        self.dn_ul = [[ul_block() for _ in range(n)] for n in sizes]
        self.up_u_sample = [L.DownShiftedConv2DTranspose(f) for _ in range(levels - 1)]
        self.up_ul_sample = [L.DownRightShiftedConv2DTranspose(f) for _ in range(levels - 1)]
        self.out = L.NetworkInNetwork(self.head.num_params)

    def forward(self, x, training):
        x = pad_with_ones(x)
        u = L.down_shift(self.u_in(x))
        ul = L.down_shift(self.ul_in_down(x)) + L.right_shift(self.ul_in_right(x))
        us, uls = [u], [ul]
        last = self.levels - 1
        for level in range(self.levels):  # up pass: 32 -> 16 -> 8 for CIFAR
            for u_block, ul_block in zip(self.up_u[level], self.up_ul[level]):
                u = u_block(u, training=training)
                ul = ul_block(ul, aux=u, training=training)
                us.append(u)
                uls.append(ul)
            if level < last:
                u = self.down_u_sample[level](u)
                ul = self.down_ul_sample[level](ul)
                us.append(u)
                uls.append(ul)
        u, ul = us.pop(), uls.pop()
        for level in range(self.levels):  # down pass: 8 -> 16 -> 32, consuming the skips
            for u_block, ul_block in zip(self.dn_u[level], self.dn_ul[level]):
                u = u_block(u, aux=us.pop(), training=training)
                ul = ul_block(ul, aux=tf.concat([u, uls.pop()], -1), training=training)
            if level < last:
                u = self.up_u_sample[level](u)
                ul = self.up_ul_sample[level](ul)
        return self.out(tf.nn.elu(ul))
