"""Fast sampling with per-layer caches (the idea of "Fast PixelCNN++", Ramachandran et al., 2017).

Naive sampling runs the whole network on the whole canvas for every pixel,
although a new pixel only changes what comes after it. The cached samplers here
keep, for every convolution, the inputs it has already seen, and for every
attention layer, the keys and values of the pixels already generated. Each step
then computes the network at one position only:

* a shifted convolution reads its small window (e.g. 2x2 above-left) from its
  input cache, after the new input at the current position has been written;
* 1x1 layers (network-in-network, gates, the attention's own residual blocks)
  are applied to the current position alone;
* attention compares the current query with the cached keys of all earlier
  pixels; once the pixel is drawn, its key and value (which contain the raw
  pixel) are appended.

For Gated PixelCNN, the vertical stack only depends on rows above, so it is
computed once per row, and the horizontal stack position by position.

The results equal naive sampling up to floating-point rounding: with the same
seed, the same draws are made from (numerically) the same parameters.
"""

from __future__ import annotations

import numpy as np
import tensorflow as tf

from . import layers as L
from .distributions import _seed_pair, to_unit_range


class WindowCache:
    """The input of one convolution, kept for the whole image, plus its padding.

    ``write(i, j, x)`` stores the input at (i, j); ``conv_at(i, j)`` returns the
    convolution's output at (i, j), reading only the kernel's window. Works
    for stride-1 ``WeightNormConv2D`` layers (shifted or masked).
    """

    def __init__(self, conv, batch, height, width, in_channels):
        if conv.strides != (1, 1):
            raise ValueError("cached sampling supports stride-1 convolutions only")
        top, bottom, left, right = conv.padding
        self.conv = conv
        self.top, self.left = top, left
        self.kh, self.kw = conv.kernel_size
        self.values = tf.Variable(tf.zeros((batch, height + top + bottom, width + left + right, in_channels)),
                                  trainable=False)

    def reset(self):
        self.values.assign(tf.zeros_like(self.values))

    def write(self, i, j, x):
        """x: (B, 1, 1, C), the convolution's input at (i, j)."""
        self.values[:, i + self.top, j + self.left, :].assign(x[:, 0, 0, :])

    def conv_at(self, i, j):
        """The convolution's output at (i, j) as (B, 1, 1, F)."""
        window = self.values[:, i : i + self.kh, j : j + self.kw, :]
        y = tf.einsum("bhwc,hwcf->bf", window, self.conv.direction())
        return (y * self.conv.g + self.conv.b)[:, None, None, :]


class RowCache:
    """Like ``WindowCache``, but computes the convolution for a whole row at once."""

    def __init__(self, conv, batch, height, width, in_channels):
        self.cache = WindowCache(conv, batch, height, width, in_channels)
        self.width = width

    def reset(self):
        self.cache.reset()

    def write_row(self, i, x):
        """x: (B, 1, W, C), the input row i."""
        c = self.cache
        c.values[:, i + c.top, c.left : c.left + self.width, :].assign(x[:, 0])

    def conv_row(self, i):
        """Output row i as (B, 1, W, F)."""
        c = self.cache
        window = c.values[:, i : i + c.kh, :, :]
        y = tf.nn.conv2d(window, c.conv.direction(), strides=1, padding="VALID")
        return y * c.conv.g + c.conv.b


def _pixel(x, i, j):
    """(B, H, W, C) -> (B, 1, 1, C) at (i, j)."""
    return x[:, i : i + 1, j : j + 1, :]


def _background_at(i, j, height, width, batch):
    """The two coordinate channels of PixelSNAIL at (i, j): (B, 1, 1, 2)."""
    h, w = float(height), float(width)
    rows = (tf.cast(i, tf.float32) - h / 2.0) / h
    cols = (tf.cast(j, tf.float32) - w / 2.0) / w
    return tf.broadcast_to(tf.stack([rows, cols])[None, None, None, :], (batch, 1, 1, 2))


class _GatedBlockCache:
    """Caches for the two shifted convolutions of a ``GatedResidualBlock``."""

    def __init__(self, block, batch, h, w):
        f = block.filters
        self.block = block
        self.conv1 = WindowCache(block.conv1, batch, h, w, 2 * f)
        self.conv2 = WindowCache(block.conv2, batch, h, w, 2 * f)

    def reset(self):
        self.conv1.reset()
        self.conv2.reset()

    def step(self, x, i, j, aux=None):
        block = self.block
        self.conv1.write(i, j, L.concat_elu(x))
        c = self.conv1.conv_at(i, j)
        if aux is not None:
            c = c + block.aux_nin(L.concat_elu(aux))
        self.conv2.write(i, j, L.concat_elu(c))
        return x + L.gated_activation(self.conv2.conv_at(i, j))


class PixelSNAILSampler:
    """Cached ancestral sampling for ``pixelsnail`` models (both variants)."""

    def __init__(self, model, batch):
        self.model = model
        self.batch = batch
        h, w, c = model.image_shape
        self.h, self.w, self.c = h, w, c
        self.input_down = WindowCache(model.in_down, batch, h, w, c + 1)
        self.input_right = WindowCache(model.in_right, batch, h, w, c + 1)
        self.resnets = [[_GatedBlockCache(b, batch, h, w) for b in blocks] for blocks in model.resnets]
        self.keys, self.values = [], []
        for att in model.attentions:
            self.keys.append(tf.Variable(tf.zeros((batch, att.num_heads, h * w, att.key_dim)), trainable=False))
            self.values.append(tf.Variable(tf.zeros((batch, att.num_heads, h * w, att.value_dim)), trainable=False))
        self._step = tf.function(self._step_impl)

    def reset(self):
        self.input_down.reset()
        self.input_right.reset()
        for blocks in self.resnets:
            for cache in blocks:
                cache.reset()
        for var in self.keys + self.values:
            var.assign(tf.zeros_like(var))

    def _attend(self, att, keys, values, ul, i, j):
        """Attention output at (i, j) over the cached keys/values of earlier pixels."""
        bg = _background_at(i, j, self.h, self.w, self.batch)
        q = att.q_nin(att.q_block(tf.concat([ul, bg], -1)))  # (B,1,1,heads*dk)
        q = tf.reshape(q, (self.batch, att.num_heads, 1, att.key_dim))
        n = self.h * self.w
        p = i * self.w + j
        logits = tf.matmul(q, keys, transpose_b=True) / np.sqrt(att.key_dim)  # (B, heads, 1, N)
        earlier = tf.cast(tf.range(n) < p, tf.float32)
        logits = tf.where(earlier > 0, logits, tf.fill(tf.shape(logits), -1e9))
        weights = tf.nn.softmax(logits, axis=-1) * earlier
        mixed = tf.matmul(weights, values)  # (B, heads, 1, dv)
        return tf.reshape(mixed, (self.batch, 1, 1, att.num_heads * att.value_dim))

    def _step_impl(self, canvas, known, i, j, seed):
        """Draw pixel (i, j) (where not known), update every cache, return the canvas."""
        model = self.model
        # first layer: down-shifted (row above) + right-shifted (pixel to the left) inputs
        above = self.input_down.conv_at(tf.maximum(i - 1, 0), j) * tf.cast(i > 0, tf.float32)
        left = self.input_right.conv_at(i, tf.maximum(j - 1, 0)) * tf.cast(j > 0, tf.float32)
        ul = above + left
        attended = []
        for blocks, att, merge, keys, values in zip(self.resnets, model.attentions, model.merges,
                                                    self.keys, self.values):
            for cache in blocks:
                ul = cache.step(ul, i, j)
            attended.append(ul)
            ul = merge(ul, aux=self._attend(att, keys, values, ul, i, j))
        params = model.out(tf.nn.elu(ul))
        drawn = model.head.sample(params, seed)[:, 0, 0, :]
        given = canvas[:, i, j, :]
        pixel = tf.where(known[:, i, j][:, None], given, drawn)

        # the drawn pixel enters the caches: padded input, then keys and values
        x = to_unit_range(pixel)[:, None, None, :]
        padded = tf.concat([x, tf.ones_like(x[..., :1])], -1)
        self.input_down.write(i, j, padded)
        self.input_right.write(i, j, padded)
        bg = _background_at(i, j, self.h, self.w, self.batch)
        p = i * self.w + j
        for att, ul_at, keys, values in zip(model.attentions, attended, self.keys, self.values):
            kv = att.kv_nin(att.kv_block(tf.concat([x, ul_at, bg], -1)))
            k, v = tf.split(kv, [att.num_heads * att.key_dim, att.num_heads * att.value_dim], -1)
            keys[:, :, p, :].assign(tf.reshape(k, (self.batch, att.num_heads, att.key_dim)))
            values[:, :, p, :].assign(tf.reshape(v, (self.batch, att.num_heads, att.value_dim)))
        b = tf.shape(canvas)[0]
        index = tf.stack([tf.range(b), tf.fill([b], i), tf.fill([b], j)], axis=1)
        return tf.tensor_scatter_nd_update(canvas, index, pixel)

    def fill(self, canvas, unknown, seed):
        """Same contract as the naive sampler's fill: uint8 canvas, bool unknown (B, H, W)."""
        self.reset()
        base = _seed_pair(seed)
        known = tf.constant(~unknown)
        canvas = tf.constant(canvas)
        for i in range(self.h):
            for j in range(self.w):
                step_seed = tf.stack([base[0], base[1] + (i * self.w + j) + 1])
                canvas = self._step(canvas, known, tf.constant(i), tf.constant(j), step_seed)
        return canvas.numpy()


class GatedPixelCNNSampler:
    """Cached sampling for ``gated_pixelcnn``: vertical stack per row, horizontal per position."""

    def __init__(self, model, batch):
        self.model = model
        self.batch = batch
        h, w, c = model.image_shape
        self.h, self.w, self.c = h, w, c
        f = model.hparams["filters"]
        self.v_rows = [RowCache(conv, batch, h, w, c if k == 0 else f) for k, conv in enumerate(model.v_convs)]
        self.h_caches = [WindowCache(conv, batch, h, w, c if k == 0 else f) for k, conv in enumerate(model.h_convs)]
        self.v_pre = tf.Variable(tf.zeros((len(model.v_convs), batch, 1, w, 2 * f)), trainable=False)
        self._row = tf.function(self._row_impl)
        self._step = tf.function(self._step_impl)

    def reset(self):
        for cache in self.v_rows + self.h_caches:
            cache.reset()

    def _row_impl(self, canvas, i):
        """Vertical stack for row i (depends on rows < i only); keeps each layer's pre-activation."""
        model = self.model
        # layer 0 reads the image rows above: write row i-1 of the image, shifted down by one
        x_above = to_unit_range(canvas[:, tf.maximum(i - 1, 0): tf.maximum(i - 1, 0) + 1])
        x_above = x_above * tf.cast(i > 0, tf.float32)
        first = self.v_rows[0]
        first.write_row(i, x_above)  # stored at row i: the layer's own down_shift
        v_pre = first.conv_row(i) * tf.cast(i > 0, tf.float32)  # down_shift leaves row 0 at zero
        outputs = [v_pre]
        v = L.gated_activation(v_pre)
        for cache in self.v_rows[1:]:
            cache.write_row(i, v)
            v_pre = cache.conv_row(i)
            outputs.append(v_pre)
            v = L.gated_activation(v_pre)
        self.v_pre.assign(tf.stack(outputs))

    def _step_impl(self, canvas, update, i, j, seed):
        model = self.model
        h = to_unit_range(_pixel(canvas, i, j))
        v_pre = self.v_pre[:, :, :, j : j + 1, :]  # (layers, B, 1, 1, 2F)
        for k, (cache, link, h_out) in enumerate(zip(self.h_caches, model.links, model.h_outs)):
            cache.write(i, j, h)
            h_pre = cache.conv_at(i, j) + link(v_pre[k])
            h_new = h_out(L.gated_activation(h_pre, model.groups))
            h = h_new if k == 0 else h + h_new
        params = model.out2(tf.nn.relu(model.out1(tf.nn.relu(h))))
        drawn = model.head.sample(params, seed)[:, 0, 0, :]
        pixel = tf.where(update, drawn, canvas[:, i, j, :])
        # later positions read this pixel through the first (type-A) layer: store its new value
        self.h_caches[0].write(i, j, to_unit_range(pixel)[:, None, None, :])
        b = tf.shape(canvas)[0]
        index = tf.stack([tf.range(b), tf.fill([b], i), tf.fill([b], j)], axis=1)
        return tf.tensor_scatter_nd_update(canvas, index, pixel)

    def fill(self, canvas, unknown, seed):
        self.reset()
        base = _seed_pair(seed)
        passes = self.model.head.passes_per_pixel
        canvas = tf.constant(canvas)
        for i in range(self.h):
            self._row(canvas, tf.constant(i))
            for j in range(self.w):
                todo = unknown[:, i, j]
                for p in range(passes):
                    if passes == 1:
                        update = np.repeat(todo[:, None], self.c, axis=1)
                    else:
                        update = np.zeros((len(todo), self.c), bool)
                        update[:, p] = todo
                    step_seed = tf.stack([base[0], base[1] + (i * self.w + j) * passes + p + 1])
                    canvas = self._step(canvas, tf.constant(update), tf.constant(i), tf.constant(j), step_seed)
        return canvas.numpy()


SAMPLERS = {"pixelsnail": PixelSNAILSampler, "gated_pixelcnn": GatedPixelCNNSampler}


def cached_sampler(model, batch):
    """The cached sampler for ``model`` (reused across calls with the same batch size)."""
    name = model.model_name
    if name not in SAMPLERS:
        raise ValueError(f"cached sampling is available for {sorted(SAMPLERS)}, not {name!r}; use method='naive'")
    samplers = model.__dict__.setdefault("_pl_cached_samplers", {})
    if batch not in samplers:
        samplers[batch] = SAMPLERS[name](model, batch)
    return samplers[batch]
