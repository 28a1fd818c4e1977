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

from keras import ops

from .. import nn as L
from ..nn.heads import DiscretizedLogisticMixture, to_unit_range
from ..nn.pixels import draw_pixel, write_pixel
from .base import AutoregressiveModel, pad_with_ones


class PixelCNNPlusPlus(AutoregressiveModel):
    model_name = "pixelcnn_pp"
    min_image_size = 8

    @staticmethod
    def size_multiple(hparams):
        """Each of the levels - 1 stride-2 down-samplings halves the image."""
        return 2 ** (hparams["levels"] - 1)

    def __init__(self, image_shape, filters=160, depth=5, num_mixtures=10, dropout=0.5, levels=3,
                 nonlinearity="concat_elu", num_classes=None, class_names=None, first_pixel_bias=False, **kwargs):
        hparams = self.declared(locals())  # the signature's defaults are the published configuration
        super().__init__(image_shape, DiscretizedLogisticMixture(num_mixtures, image_shape[-1]), hparams,
                         num_classes, class_names, first_pixel_bias, **kwargs)
        if not isinstance(levels, int) or levels < 1:
            raise ValueError(f"levels must be a positive int, got {levels!r}")
        f = filters
        self.levels = levels

        def u_block(has_aux=False):
            return L.GatedResidualBlock(f, L.DownShiftedConv2D, dropout, has_aux, nonlinearity=nonlinearity,
                                        num_classes=self.num_classes)

        def ul_block():
            return L.GatedResidualBlock(f, L.DownRightShiftedConv2D, dropout, has_aux=True, nonlinearity=nonlinearity,
                                        num_classes=self.num_classes)

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

    def network(self, x, training, labels=None):
        x = pad_with_ones(x)
        u = L.down_shift(self.u_in(x))
        ul = L.down_shift(self.ul_in_down(x)) + L.right_shift(self.ul_in_right(x))
        us, uls = [u], [ul]
        last = self.levels - 1
        for level in range(self.levels):  # up pass: 32 -> 16 -> 8 for CIFAR
            for u_block, ul_block in zip(self.up_u[level], self.up_ul[level]):
                u = u_block(u, labels=labels, training=training)
                ul = ul_block(ul, aux=u, labels=labels, training=training)
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
                u = u_block(u, aux=us.pop(), labels=labels, training=training)
                ul = ul_block(ul, aux=ops.concatenate([u, uls.pop()], -1), labels=labels, training=training)
            if level < last:
                u = self.up_u_sample[level](u)
                ul = self.up_ul_sample[level](ul)
        return self.out(ops.elu(ul))

    def receptive_spec(self):
        """PixelCNN++ has none: it changes resolution on the way, which offsets cannot describe."""
        raise ValueError("pixelcnn_pp changes resolution, so it has no offset spec; use receptive_field_by_gradient")

    # Cached sampling. The down-shifted stream ``u`` depends on rows above only, at every level, so at the
    # start of image row i it is computed for row i at full resolution and for row i / 2^r at level r
    # (r = 0 is full resolution) wherever 2^r divides i: the up pass, then the down pass from the deepest
    # of those levels. The down-right-shifted stream ``ul`` is computed at (i, j) at full resolution and at
    # (i / 2^r, j / 2^r) at level r wherever 2^r divides both. Every value a position needs is ready by
    # then: a stride-2 convolution's window ends at the position it is computed for, and a transposed
    # convolution's output at level r reads its level r + 1 input at (i // 2, j // 2), computed at an
    # earlier (or the same) step. Level r's down-pass blocks are ``dn_u[levels - 1 - r]``, its
    # up-sampling to level r is ``up_u_sample[levels - 2 - r]``.

    cached_sampling = True

    def start_sampling(self, batch):
        h, w, _ = self.image_shape
        last, f = self.levels - 1, self.hparams["filters"]
        size = [(h >> r, w >> r) for r in range(self.levels)]
        from ..nn import caches as C  # cached sampling is TensorFlow's speed path

        caches = C.Caches()
        self.u_in.start_cache(caches, batch, h, w, by="row")
        self.ul_in_down.start_cache(caches, batch, h, w)
        self.ul_in_right.start_cache(caches, batch, h, w)
        for r in range(self.levels):
            for k, block in enumerate(self.up_u[r]):  # the u stream's outputs, read by the ul stream
                block.start_cache(caches, batch, *size[r], by="row")
                caches.add(("up_u", r, k), C.GridMap(batch, *size[r], f))
            for k, block in enumerate(self.dn_u[last - r]):
                block.start_cache(caches, batch, *size[r], by="row")
                caches.add(("dn_u", r, k), C.GridMap(batch, *size[r], f))
            for block in self.up_ul[r] + self.dn_ul[last - r]:
                block.start_cache(caches, batch, *size[r])
            if r < last:
                self.down_u_sample[r].start_cache(caches, batch, *size[r], by="row")
                self.down_ul_sample[r].start_cache(caches, batch, *size[r])
            if r > 0:  # the down pass's result at a coarse level, read by the transposed convolution above it
                caches.add(("u", r), C.GridMap(batch, *size[r], f))
                caches.add(("ul", r), C.GridMap(batch, *size[r], f))
        self.out.start_cache(caches, batch, h, w)
        return caches

    def sampling_variant(self, *coordinates):
        """The deepest level r whose grid holds this row or position (2^r divides every coordinate)."""
        r = 0
        while r + 1 < self.levels and all(x % 2 ** (r + 1) == 0 for x in coordinates):
            r += 1
        return r

    def sample_row(self, caches, canvas, i, labels=None, variant=0):
        """The u stream of ``network`` for image row i: row i >> r of every level r <= ``variant``."""
        last = self.levels - 1
        above = ops.maximum(i - 1, 0)
        shown = ops.cast(i > 0, "float32")  # the down_shift: row 0 sees zeros
        x = pad_with_ones(to_unit_range(canvas[:, above])) * shown
        u = self.u_in.step(caches, x, above) * shown
        us = [[u]] + [[] for _ in range(last)]
        for r in range(variant + 1):  # up pass
            a = i // 2**r
            if r > 0:
                u = caches[self.down_u_sample[r - 1]].conv_at(2 * a)
                us[r].append(u)
            for k, u_block in enumerate(self.up_u[r]):
                u = u_block.step(caches, u, a, labels=labels)
                caches[("up_u", r, k)].write_row(a, u)
                us[r].append(u)
            if r < last:
                caches[self.down_u_sample[r]].write(a, u)
        for r in range(variant, -1, -1):  # down pass, consuming the skips
            a = i // 2**r
            if r == last:
                u = us[r].pop()
            else:  # the transposed convolution from level r + 1, at row a (rows 2a' and 2a' + 1 come from row a')
                coarse = caches[("u", r + 1)].read_row(a // 2)[:, None]
                u = self.up_u_sample[last - 1 - r](coarse)[:, a % 2]
            for k, u_block in enumerate(self.dn_u[last - r]):
                u = u_block.step(caches, u, a, aux=us[r].pop(), labels=labels)
                caches[("dn_u", r, k)].write_row(a, u)
            if r > 0:
                caches[("u", r)].write_row(a, u)

    def sample_step(self, caches, canvas, i, j, update, seed, labels=None, temperature=1.0, variant=0):
        """The ul stream of ``network`` at (i >> r, j >> r) for every level r <= ``variant``; draws pixel (i, j)."""
        last = self.levels - 1
        above = caches[self.ul_in_down].conv_at(ops.maximum(i - 1, 0), j) * ops.cast(i > 0, "float32")
        left = caches[self.ul_in_right].conv_at(i, ops.maximum(j - 1, 0)) * ops.cast(j > 0, "float32")
        ul = above + left
        uls = [[ul]] + [[] for _ in range(last)]
        for r in range(variant + 1):  # up pass
            a, b = i // 2**r, j // 2**r
            if r > 0:
                ul = caches[self.down_ul_sample[r - 1]].conv_at(2 * a, 2 * b)
                uls[r].append(ul)
            for k, ul_block in enumerate(self.up_ul[r]):
                ul = ul_block.step(caches, ul, a, b, aux=caches[("up_u", r, k)].read(a, b), labels=labels)
                uls[r].append(ul)
            if r < last:
                caches[self.down_ul_sample[r]].write(a, b, ul)
        for r in range(variant, -1, -1):  # down pass
            a, b = i // 2**r, j // 2**r
            if r == last:
                ul = uls[r].pop()
            else:  # the 2x2 transposed convolution: each level r + 1 position makes a 2x2 block of level r
                coarse = caches[("ul", r + 1)].read(a // 2, b // 2)[:, None, None]
                ul = self.up_ul_sample[last - 1 - r](coarse)[:, a % 2, b % 2]
            for k, ul_block in enumerate(self.dn_ul[last - r]):
                u = caches[("dn_u", r, k)].read(a, b)
                ul = ul_block.step(caches, ul, a, b, aux=ops.concatenate([u, uls[r].pop()], -1), labels=labels)
            if r > 0:
                caches[("ul", r)].write(a, b, ul)
        params = self.out.step(caches, ops.elu(ul))
        params = self.at_first_pixel(params, i, j, labels)
        pixel = draw_pixel(self.head, params, canvas, i, j, update, seed, temperature)
        padded = pad_with_ones(to_unit_range(pixel))
        caches[self.ul_in_down].write(i, j, padded)
        caches[self.ul_in_right].write(i, j, padded)
        return write_pixel(canvas, i, j, pixel)
