"""Gated PixelCNN (van den Oord et al., 2016, "Conditional Image Generation with PixelCNN Decoders").

Two stacks remove the blind spot of masked convolutions:

* the vertical stack sees every pixel in the rows above (down-shifted convolutions);
* the horizontal stack sees the pixels to the left in the current row (a 1xk
  masked convolution) and receives the vertical stack through a 1x1 link.

Both use the gated activation tanh(a) * sigmoid(b); the horizontal stack is
residual. A class-conditional model (``num_classes``) adds a learnt vector of
its class inside every gate of both stacks, tanh(W_f * x + V_f^T h) *
sigmoid(W_g * x + V_g^T h) (the paper's equation 4; ``layers.ClassBias``).
For RGB, the horizontal stack's masks and gates keep R, G, B channel groups
so each sub-pixel only sees the channels before it.
"""

import numpy as np
from keras import ops

from .. import nn as L
from ..nn.footprints import CENTRE, Link, kernel_name, shift
from ..nn.heads import Categorical, to_unit_range
from ..nn.pixels import draw_pixel, write_pixel
from .base import AutoregressiveModel


class GatedPixelCNN(AutoregressiveModel):
    model_name = "gated_pixelcnn"

    def __init__(self, image_shape, filters=384, depth=20, kernel=5, head_filters=1024, num_classes=None,
                 class_names=None, first_pixel_bias=False, **kwargs):
        hparams = self.declared(locals())  # the signature's defaults are the published configuration
        channels = image_shape[-1]
        super().__init__(image_shape, Categorical(channels), hparams, num_classes, class_names,
            first_pixel_bias, **kwargs)
        if filters % (2 * channels) and channels > 1:
            raise ValueError(f"gated_pixelcnn on RGB needs filters divisible by 6, got {filters}")
        if kernel % 2 == 0 or kernel < 3:
            raise ValueError(f"kernel must be odd and at least 3, got {kernel}")
        g = self.groups = channels
        f = filters
        half = kernel // 2
        self.v_convs = [L.DownShiftedConv2D(2 * f, (half if i == 0 else half + 1, kernel)) for i in range(depth)]
        self.h_convs = [L.MaskedConv2D(2 * f, (1, kernel), "A" if i == 0 else "B", g) for i in range(depth)]
        self.links = [L.NetworkInNetwork(2 * f) for _ in range(depth)]
        self.h_outs = [L.MaskedConv2D(f, 1, "B", g) for _ in range(depth)]
        if self.conditional:  # V^T h of each gate, one per stack and layer
            self.v_classes = [L.ClassBias(self.num_classes, 2 * f) for _ in range(depth)]
            self.h_classes = [L.ClassBias(self.num_classes, 2 * f) for _ in range(depth)]
        self.out1 = L.MaskedConv2D(head_filters, 1, "B", g)
        self.out2 = L.MaskedConv2D(self.head.num_params, 1, "B", g)

    def stacks(self, x, labels=None):
        """The vertical and horizontal stacks after every layer: [(v, h), ...], each (B, H, W, filters).

        ``x``: float32 images in [-1, 1]; ``labels`` (B,) for a class-
        conditional model. ``network`` reads the horizontal stack of the last
        layer; chapter 4 looks at all of them.
        """
        v, h, outputs = x, x, []
        for i, (v_conv, h_conv, link, h_out) in enumerate(zip(self.v_convs, self.h_convs, self.links, self.h_outs)):
            v_pre = v_conv(v)
            if i == 0:
                v_pre = L.down_shift(v_pre)  # the first layer must not see the current row
            h_pre = h_conv(h) + link(v_pre)  # the one-way link: the vertical stack feeds the horizontal one
            if labels is not None:  # the class enters both gates (added after the link, so once in h_pre)
                v_pre = v_pre + self.v_classes[i].on_grid(labels)
                h_pre = h_pre + self.h_classes[i].on_grid(labels)
            v = L.gated_activation(v_pre)  # tanh(a) * sigmoid(b): 2F channels in, F out
            h_new = h_out(L.gated_activation(h_pre, self.groups))
            h = h_new if i == 0 else h + h_new  # the residual connection, on the horizontal stack only
            outputs.append((v, h))
        return outputs

    def network(self, x, training, labels=None):
        _, h = self.stacks(x, labels)[-1]
        return self.out2(ops.relu(self.out1(ops.relu(h))))

    def receptive_spec(self):
        """The analytic description of this model (see ``pixelcnn_lib.nn.footprints``), step for step as ``network``."""
        steps = []
        for i, (v_conv, h_conv, link, h_out) in enumerate(zip(self.v_convs, self.h_convs, self.links, self.h_outs)):
            title = f"layer {i + 1}"
            v_in, h_in = ("x", "x") if i == 0 else ("v", "h")
            vertical = v_conv.footprint()
            v_label = f"vertical: down-shifted {kernel_name(v_conv)}"
            if i == 0:
                vertical, v_label = shift(vertical, -1, 0), v_label + ", then down_shift"
            horizontal = h_conv.footprint()
            h_label = f"horizontal: masked {kernel_name(h_conv)}, type {h_conv.mask_type}"
            if i > 0:
                horizontal = horizontal | CENTRE  # the residual connection of the horizontal stack
            steps += [
                [Link("v_pre", v_in, vertical, v_label, title)],
                [Link("h", h_in, horizontal, h_label, title), Link("h", "v_pre", CENTRE, "", title),
                 Link("v", "v_pre", CENTRE, "", title)],
            ]
        steps.append([Link("out", "h", CENTRE)])
        return steps

    cached_sampling = True

    def start_sampling(self, batch):
        """Caches: the vertical stack by rows, the horizontal one by positions, each layer's v_pre for a row."""
        h, w, _ = self.image_shape
        from ..nn import caches as C  # cached sampling is TensorFlow's speed path

        caches = C.Caches()
        for conv in self.v_convs:
            conv.start_cache(caches, batch, h, w, by="row")
        for layer in (*self.h_convs, *self.links, *self.h_outs, self.out1, self.out2):
            layer.start_cache(caches, batch, h, w)
        v_pre = np.zeros((w, len(self.v_convs), batch, 2 * self.hparams["filters"]), np.float32)
        caches.add("v_pre", C.variable(v_pre))
        return caches

    def sample_row(self, caches, canvas, i, labels=None, variant=0):
        """The vertical stack of ``stacks`` for row i (it sees rows < i only); keeps each layer's v_pre."""
        above = ops.maximum(i - 1, 0)
        v = to_unit_range(canvas[:, above]) * ops.cast(i > 0, "float32")
        outputs = []
        for k, v_conv in enumerate(self.v_convs):
            if k == 0:  # the first layer must not see the current row: its output at row i - 1, or zeros
                v_pre = v_conv.step(caches, v, above) * ops.cast(i > 0, "float32")
            else:
                v_pre = v_conv.step(caches, v, i)
            outputs.append(v_pre)  # the link reads v_pre before the class enters it, as in ``stacks``
            if labels is not None:
                v_pre = v_pre + self.v_classes[k](labels)[:, None, :]
            v = L.gated_activation(v_pre)
        caches["v_pre"].assign(ops.transpose(ops.stack(outputs), [2, 0, 1, 3]))  # (W, layers, B, 2F)

    def sample_step(self, caches, canvas, i, j, update, seed, labels=None, temperature=1.0, variant=0):
        """The horizontal stack of ``stacks`` and the head of ``network`` at (i, j)."""
        h = to_unit_range(canvas[:, i, j, :])
        v_pres = caches["v_pre"].sparse_read(j[None])[0]  # (layers, B, 2F)
        for k, (h_conv, link, h_out) in enumerate(zip(self.h_convs, self.links, self.h_outs)):
            h_pre = h_conv.step(caches, h, i, j) + link.step(caches, v_pres[k])
            if labels is not None:
                h_pre = h_pre + self.h_classes[k](labels)
            h_new = h_out.step(caches, L.gated_activation(h_pre, self.groups))
            h = h_new if k == 0 else h + h_new
        params = self.out2.step(caches, ops.relu(self.out1.step(caches, ops.relu(h))))
        params = self.at_first_pixel(params, i, j, labels)
        pixel = draw_pixel(self.head, params, canvas, i, j, update, seed, temperature)
        # later positions read this pixel through the first (type-A) layer: store its new value
        caches[self.h_convs[0]].write(i, j, to_unit_range(pixel))
        return write_pixel(canvas, i, j, pixel)
