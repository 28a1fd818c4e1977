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

For Gated PixelCNN and PixelCNN++, the vertical (down-shifted) stream only
depends on rows above, so it is computed once per row, and the horizontal
(down-right-shifted) stream position by position; PixelCNN++'s coarser levels
are computed at the rows and positions their grids hold.

The results equal naive sampling up to floating-point rounding: with the same
seed, the same draws are made from (numerically) the same parameters.
"""

from __future__ import annotations

import numpy as np
import tensorflow as tf

from . import layers as L
from .distributions import _seed_pair, to_unit_range
from .progress import rows
from .sampling import channel_update, step_seed


def folded_kernel(conv):
    """A weight-normalised convolution's effective kernel g * v / ||v|| (masked) and bias.

    Returns (W, b) with W of shape (kh * kw * in, out), rows in (row, column,
    channel) order, so a flattened input window times W is the output.
    """
    kernel = conv.direction() * conv.g
    return tf.reshape(kernel, (-1, kernel.shape[-1])), conv.b


class Dense:
    """A 1x1 weight-normalised layer frozen for sampling: (B, in) -> (B, out)."""

    def __init__(self, conv):
        self.conv = conv
        w, b = folded_kernel(conv)
        self.w = tf.Variable(w, trainable=False)
        self.b = tf.Variable(b, trainable=False)

    def refresh(self):
        w, b = folded_kernel(self.conv)
        self.w.assign(w)
        self.b.assign(b)

    def __call__(self, x):
        return tf.matmul(x, self.w) + self.b


class WindowCache:
    """The input of one convolution, kept for the whole image, plus its padding.

    Stored as (positions, B, C) so that writing one position and reading one
    kernel window are in-place scatter/gather operations. ``write(i, j, x)``
    stores the input at (i, j); ``conv_at(i, j)`` returns the convolution's
    output at (i, j) from the kernel's window alone. Works for
    ``WeightNormConv2D`` layers (shifted or masked). For a stride-2 layer,
    ``conv_at(s * a, s * b)`` is its output at (a, b): the window of a strided
    convolution is the window of the stride-1 one at the scaled position.
    """

    def __init__(self, conv, batch, height, width, in_channels):
        if conv.strides not in ((1, 1), (2, 2)):
            raise ValueError(f"cached sampling supports strides 1 and 2, not {conv.strides}")
        top, bottom, left, right = conv.padding
        self.dense = Dense(conv)
        self.top, self.left = top, left
        self.kh, self.kw = conv.kernel_size
        self.padded_width = width + left + right
        self.values = tf.Variable(
            tf.zeros(((height + top + bottom) * self.padded_width, batch, in_channels)), trainable=False)
        rows, cols = np.meshgrid(np.arange(self.kh), np.arange(self.kw), indexing="ij")
        self.offsets = tf.constant((rows * self.padded_width + cols).ravel(), tf.int32)

    def reset(self):
        self.values.assign(tf.zeros_like(self.values))
        self.dense.refresh()

    def write(self, i, j, x):
        """x: (B, C), the convolution's input at (i, j)."""
        index = (i + self.top) * self.padded_width + (j + self.left)
        self.values.scatter_update(tf.IndexedSlices(x[None], index[None]))

    def conv_at(self, i, j):
        """The convolution's output at (i, j) as (B, F)."""
        window = self.values.sparse_read(i * self.padded_width + j + self.offsets)  # (kh*kw, B, C)
        batch = tf.shape(window)[1]
        flat = tf.reshape(tf.transpose(window, [1, 0, 2]), (batch, -1))
        return self.dense(flat)


class RowCache:
    """The input of one vertical-stack convolution, computed a whole row at a time.

    Stored as an image (B, H + pads, W + pads, C); ``write(i, x)`` stores input
    row i and ``conv_at(i)`` returns output row i (B, W, F): the interface of
    ``WindowCache`` with a row for a position. For a stride-2 layer,
    ``conv_at(2 * a)`` is its output row a (B, W / 2, F).
    """

    def __init__(self, conv, batch, height, width, in_channels):
        if conv.strides not in ((1, 1), (2, 2)):
            raise ValueError(f"cached sampling supports strides 1 and 2, not {conv.strides}")
        top, bottom, left, right = conv.padding
        self.conv = conv
        self.column_stride = conv.strides[1]
        self.top, self.left, self.width = top, left, width
        self.kh = conv.kernel_size[0]
        self.values = tf.Variable(tf.zeros((batch, height + top + bottom, width + left + right, in_channels)),
                                  trainable=False)

    def reset(self):
        self.values.assign(tf.zeros_like(self.values))

    def write(self, i, x):
        """x: (B, W, C), the input row i."""
        self.values[:, i + self.top, self.left : self.left + self.width, :].assign(x)

    def conv_at(self, i):
        window = self.values[:, i : i + self.kh, :, :]
        y = tf.nn.conv2d(window, self.conv.kernel(), strides=(1, 1, self.column_stride, 1), padding="VALID")
        return y[:, 0] + self.conv.b


class _RowMap:
    """One activation of a whole level, (H, B, W, F), written a row at a time and read by position."""

    def __init__(self, batch, height, width, channels):
        self.values = tf.Variable(tf.zeros((height, batch, width, channels)), trainable=False)

    def reset(self):
        self.values.assign(tf.zeros_like(self.values))

    def write_row(self, i, x):
        """x: (B, W, F), row i."""
        self.values.scatter_update(tf.IndexedSlices(x[None], i[None]))

    def read_row(self, i):
        return self.values.sparse_read(i[None])[0]

    def write(self, i, j, x):
        """x: (B, F) at (i, j)."""
        batch = tf.shape(x)[0]
        where = tf.stack([tf.fill([batch], i), tf.range(batch), tf.fill([batch], j)], 1)
        self.values.scatter_nd_update(where, x)

    def read(self, i, j):
        return tf.gather(self.read_row(i), j, axis=1)


def _background_at(i, j, height, width, batch):
    """The two coordinate channels of PixelSNAIL at (i, j): (B, 2)."""
    h, w = float(height), float(width)
    rows = (tf.cast(i, tf.float32) - h / 2.0) / h
    cols = (tf.cast(j, tf.float32) - w / 2.0) / w
    return tf.broadcast_to(tf.stack([rows, cols])[None, :], (batch, 2))


class _PointwiseBlock:
    """A ``GatedResidualBlock`` of 1x1 convolutions, frozen, on (B, C) vectors."""

    def __init__(self, block):
        self.f = block.nonlinearity
        self.conv1 = Dense(block.conv1)
        self.conv2 = Dense(block.conv2)
        self.aux = Dense(block.aux_nin) if block.has_aux else None

    def refresh(self):
        for d in (self.conv1, self.conv2, self.aux):
            if d is not None:
                d.refresh()

    def __call__(self, x, aux=None):
        f = self.f
        c = self.conv1(f(x))
        if aux is not None:
            c = c + self.aux(f(aux))
        return x + L.sigmoid_gate(self.conv2(f(c)))


class _CachedBlock:
    """A ``GatedResidualBlock`` of shifted convolutions with a cache for each.

    ``cache`` is ``WindowCache`` (one position (i, j) per step) or
    ``RowCache`` (one row i per step); ``step`` takes that position.
    """

    def __init__(self, block, cache, batch, h, w):
        width = block.widening * block.filters  # channels after the block's nonlinearity
        self.f = block.nonlinearity
        self.conv1 = cache(block.conv1, batch, h, w, width)
        self.conv2 = cache(block.conv2, batch, h, w, width)
        self.aux = Dense(block.aux_nin) if block.has_aux else None

    def reset(self):
        self.conv1.reset()
        self.conv2.reset()
        if self.aux is not None:
            self.aux.refresh()

    def step(self, x, *position, aux=None):
        """x, aux: the block's inputs at ``position`` ((B, C), or (B, W, C) for a row) -> its output there."""
        f = self.f
        self.conv1.write(*position, f(x))
        c = self.conv1.conv_at(*position)
        if aux is not None:
            c = c + self.aux(f(aux))
        self.conv2.write(*position, f(c))
        return x + L.sigmoid_gate(self.conv2.conv_at(*position))


class _AttentionCache:
    """A ``CausalSelfAttention`` layer, frozen, with the keys and values of earlier pixels.

    Keys and values are kept for all N positions, so one step is two small
    batched matrix products over the whole cache with the positions not yet
    drawn masked out (as in the model's own forward pass), and storing a
    position is an in-place scatter.
    """

    def __init__(self, att, batch, n):
        self.att = att
        self.n = n
        self.q_block, self.kv_block = _PointwiseBlock(att.q_block), _PointwiseBlock(att.kv_block)
        self.q_nin, self.kv_nin = Dense(att.q_nin), Dense(att.kv_nin)
        self.keys = tf.Variable(tf.zeros((batch, att.num_heads, n, att.key_dim)), trainable=False)
        self.values = tf.Variable(tf.zeros((batch, att.num_heads, n, att.value_dim)), trainable=False)
        heads = np.arange(batch * att.num_heads)
        self.slots = tf.constant(np.stack([heads // att.num_heads, heads % att.num_heads], 1), tf.int32)

    def reset(self):
        for part in (self.q_block, self.kv_block, self.q_nin, self.kv_nin):
            part.refresh()
        self.keys.assign(tf.zeros_like(self.keys))
        self.values.assign(tf.zeros_like(self.values))

    def attend(self, features, background, p):
        """Output at position p (B, heads * dv) from the pixels before p (zeros for the first pixel)."""
        att = self.att
        q = self.q_nin(self.q_block(tf.concat([features, background], -1)))
        q = tf.reshape(q, (-1, att.num_heads, 1, att.key_dim))
        earlier = tf.range(self.n) < p  # (N,)
        logits = tf.matmul(q, self.keys, transpose_b=True) / np.sqrt(att.key_dim)  # (B, heads, 1, N)
        logits = tf.where(earlier, logits, tf.constant(-1e9))
        weights = tf.nn.softmax(logits, axis=-1) * tf.cast(earlier, tf.float32)
        mixed = tf.matmul(weights, self.values)  # (B, heads, 1, dv)
        return tf.reshape(mixed, (-1, att.num_heads * att.value_dim))

    def append(self, image, features, background, p):
        """Store the key and value of position p, whose pixel ``image`` (B, C) is now known."""
        att = self.att
        kv = self.kv_nin(self.kv_block(tf.concat([image, features, background], -1)))
        k, v = tf.split(kv, [att.num_heads * att.key_dim, att.num_heads * att.value_dim], -1)
        where = tf.concat([self.slots, tf.fill([tf.shape(self.slots)[0], 1], p)], 1)  # (B * heads, 3)
        self.keys.scatter_nd_update(where, tf.reshape(k, (-1, att.key_dim)))
        self.values.scatter_nd_update(where, tf.reshape(v, (-1, att.value_dim)))


def _write_pixel(canvas, i, j, pixel):
    b = tf.shape(canvas)[0]
    index = tf.stack([tf.range(b), tf.fill([b], i), tf.fill([b], j)], axis=1)
    return tf.tensor_scatter_nd_update(canvas, index, pixel)


def _draw(head, params, seed):
    """Sample one pixel per image from (B, P) parameters: (B, C) uint8."""
    return head.sample(params[:, None, None, :], seed)[:, 0, 0, :]


class PixelSNAILSampler:
    """Cached ancestral sampling for ``pixelsnail`` models (both variants)."""

    def __init__(self, model, batch):
        self.model = model
        self.batch = batch
        h, w, c = model.image_shape
        self.h, self.w, self.c = h, w, c
        self.input_down = WindowCache(model.in_down, batch, h, w, c + 1)
        self.input_right = WindowCache(model.in_right, batch, h, w, c + 1)
        self.resnets = [[_CachedBlock(b, WindowCache, batch, h, w) for b in blocks] for blocks in model.resnets]
        self.attentions = [_AttentionCache(att, batch, h * w) for att in model.attentions]
        self.merges = [_PointwiseBlock(m) for m in model.merges]
        self.out = Dense(model.out)
        self._step = tf.function(self._step_impl)

    def reset(self):
        """Clear the caches and take the model's current weights."""
        self.input_down.reset()
        self.input_right.reset()
        for blocks in self.resnets:
            for cache in blocks:
                cache.reset()
        for part in self.attentions + self.merges + [self.out]:
            (part.reset if hasattr(part, "reset") else part.refresh)()

    def _step_impl(self, canvas, known, i, j, seed):
        """Draw pixel (i, j) (where not known), update every cache, return the canvas."""
        p = i * self.w + j
        bg = _background_at(i, j, self.h, self.w, self.batch)
        # first layer: down-shifted (row above) + right-shifted (pixel to the left) inputs
        above = self.input_down.conv_at(tf.maximum(i - 1, 0), j) * tf.cast(i > 0, tf.float32)
        left = self.input_right.conv_at(i, tf.maximum(j - 1, 0)) * tf.cast(j > 0, tf.float32)
        ul = above + left
        attended = []
        for blocks, attention, merge in zip(self.resnets, self.attentions, self.merges):
            for block in blocks:
                ul = block.step(ul, i, j)
            attended.append(ul)
            ul = merge(ul, aux=attention.attend(ul, bg, p))
        drawn = _draw(self.model.head, self.out(tf.nn.elu(ul)), seed)
        pixel = tf.where(known[:, i, j][:, None], canvas[:, i, j, :], drawn)

        # the pixel enters the caches: the padded input, then the keys and values
        x = to_unit_range(pixel)
        padded = tf.concat([x, tf.ones_like(x[:, :1])], -1)
        self.input_down.write(i, j, padded)
        self.input_right.write(i, j, padded)
        for attention, features in zip(self.attentions, attended):
            attention.append(x, features, bg, p)
        return _write_pixel(canvas, i, j, pixel)

    def fill(self, canvas, unknown, seed, progress=None):
        """Same contract as the naive sampler's fill: uint8 canvas, bool unknown (B, H, W)."""
        self.reset()
        base = _seed_pair(seed)
        known = tf.constant(~unknown)
        canvas = tf.constant(canvas)
        for i in rows(self.h, "sampling", progress):
            for j in range(self.w):
                canvas = self._step(canvas, known, tf.constant(i), tf.constant(j),
                                    step_seed(base, i * self.w + j, 1, 0))
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
        self.links = [Dense(link) for link in model.links]
        self.h_outs = [Dense(conv) for conv in model.h_outs]
        self.out1, self.out2 = Dense(model.out1), Dense(model.out2)
        self.v_pre = tf.Variable(tf.zeros((w, len(model.v_convs), batch, 2 * f)), trainable=False)
        self._row = tf.function(self._row_impl)
        self._step = tf.function(self._step_impl)

    def reset(self):
        for cache in self.v_rows + self.h_caches:
            cache.reset()
        for dense in self.links + self.h_outs + [self.out1, self.out2]:
            dense.refresh()

    def _row_impl(self, canvas, i):
        """Vertical stack for row i (depends on rows < i only); keeps each layer's pre-activation."""
        # layer 0 reads the image rows above: row i-1 is stored at row i (the model's down_shift)
        above = tf.maximum(i - 1, 0)
        first = self.v_rows[0]
        first.write(i, to_unit_range(canvas[:, above]) * tf.cast(i > 0, tf.float32))
        v_pre = first.conv_at(i) * tf.cast(i > 0, tf.float32)  # down_shift leaves row 0 at zero
        outputs = [v_pre]
        for cache in self.v_rows[1:]:
            cache.write(i, L.gated_activation(v_pre))
            v_pre = cache.conv_at(i)
            outputs.append(v_pre)
        self.v_pre.assign(tf.transpose(tf.stack(outputs), [2, 0, 1, 3]))  # (W, layers, B, 2F)

    def _step_impl(self, canvas, update, i, j, seed):
        model = self.model
        h = to_unit_range(canvas[:, i, j, :])
        v_pre = self.v_pre.sparse_read(j[None])[0]  # (layers, B, 2F)
        for k, (cache, link, h_out) in enumerate(zip(self.h_caches, self.links, self.h_outs)):
            cache.write(i, j, h)
            h_pre = cache.conv_at(i, j) + link(v_pre[k])
            h_new = h_out(L.gated_activation(h_pre, model.groups))
            h = h_new if k == 0 else h + h_new
        drawn = _draw(model.head, self.out2(tf.nn.relu(self.out1(tf.nn.relu(h)))), seed)
        pixel = tf.where(update, drawn, canvas[:, i, j, :])
        # later positions read this pixel through the first (type-A) layer: store its new value
        self.h_caches[0].write(i, j, to_unit_range(pixel))
        return _write_pixel(canvas, i, j, pixel)

    def fill(self, canvas, unknown, seed, progress=None):
        self.reset()
        base = _seed_pair(seed)
        passes = self.model.head.passes_per_pixel
        canvas = tf.constant(canvas)
        for i in rows(self.h, "sampling", progress):
            self._row(canvas, tf.constant(i))
            for j in range(self.w):
                todo = unknown[:, i, j]
                for p in range(passes):
                    update = channel_update(todo, self.c, passes, p)
                    seed_p = step_seed(base, i * self.w + j, passes, p)
                    canvas = self._step(canvas, tf.constant(update), tf.constant(i), tf.constant(j), seed_p)
        return canvas.numpy()


class PixelCNNPPSampler:
    """Cached sampling for ``pixelcnn_pp``: the ``u`` stream per row, the ``ul`` stream per position.

    The down-shifted stream ``u`` depends on rows above only, at every level,
    so at the start of image row i it is computed for row i at full
    resolution and for row i / 2^r at level r wherever 2^r divides i (up pass,
    then down pass from the deepest of those levels). The down-right-shifted
    stream ``ul`` is computed at (i, j) at full resolution and at
    (i / 2^r, j / 2^r) at level r wherever 2^r divides both. Every value a
    position needs is ready by then: a stride-2 convolution's window ends at
    the position it is computed for, and a transposed convolution's output at
    level r reads its level r + 1 input at (i // 2, j // 2), computed at an
    earlier (or the same) step. Row and position steps are compiled once per
    deepest level they reach.
    """

    def __init__(self, model, batch):
        self.model = model
        self.batch = batch
        h, w, c = model.image_shape
        self.h, self.w, self.c = h, w, c
        f, levels = model.hparams["filters"], model.levels
        self.levels = levels
        size = [(h >> r, w >> r) for r in range(levels)]

        def maps(blocks, r):
            return [_RowMap(batch, *size[r], f) for _ in blocks]

        # the u stream, row by row; down-pass lists are indexed by level (model.dn_u[k] is level levels-1-k)
        self.u_in = RowCache(model.u_in, batch, h, w, c + 1)
        self.up_u = [[_CachedBlock(b, RowCache, batch, *size[r]) for b in model.up_u[r]] for r in range(levels)]
        self.up_u_out = [maps(model.up_u[r], r) for r in range(levels)]
        self.u_down = [RowCache(model.down_u_sample[r], batch, *size[r], f) for r in range(levels - 1)]
        self.dn_u = [[_CachedBlock(b, RowCache, batch, *size[r]) for b in model.dn_u[levels - 1 - r]]
                     for r in range(levels)]
        self.dn_u_out = [maps(model.dn_u[levels - 1 - r], r) for r in range(levels)]
        # the ul stream, position by position
        self.ul_in_down = WindowCache(model.ul_in_down, batch, h, w, c + 1)
        self.ul_in_right = WindowCache(model.ul_in_right, batch, h, w, c + 1)
        self.up_ul = [[_CachedBlock(b, WindowCache, batch, *size[r]) for b in model.up_ul[r]] for r in range(levels)]
        self.ul_down = [WindowCache(model.down_ul_sample[r], batch, *size[r], f) for r in range(levels - 1)]
        self.dn_ul = [[_CachedBlock(b, WindowCache, batch, *size[r]) for b in model.dn_ul[levels - 1 - r]]
                      for r in range(levels)]
        # the down pass's result at each coarse level, read by the transposed convolution to the level above
        self.u_result = [None] + [_RowMap(batch, *size[r], f) for r in range(1, levels)]
        self.ul_result = [None] + [_RowMap(batch, *size[r], f) for r in range(1, levels)]
        self.out = Dense(model.out)
        self._rows = [tf.function(lambda canvas, i, deepest=r: self._row_impl(canvas, i, deepest))
                      for r in range(levels)]
        self._steps = [tf.function(lambda canvas, known, i, j, seed, deepest=r:
                                   self._step_impl(canvas, known, i, j, seed, deepest)) for r in range(levels)]

    def _parts(self):
        parts = [self.u_in, self.ul_in_down, self.ul_in_right, self.out] + self.u_down + self.ul_down
        for group in (self.up_u, self.up_u_out, self.dn_u, self.dn_u_out, self.up_ul, self.dn_ul):
            parts += [part for level in group for part in level]
        return parts + self.u_result[1:] + self.ul_result[1:]

    def reset(self):
        """Clear the caches and take the model's current weights."""
        for part in self._parts():
            (part.reset if hasattr(part, "reset") else part.refresh)()

    def _deepest(self, *coordinates):
        """The deepest level r whose grid holds this position (2^r divides every coordinate)."""
        r = 0
        while r + 1 < self.levels and all(x % 2 ** (r + 1) == 0 for x in coordinates):
            r += 1
        return r

    def _row_impl(self, canvas, i, deepest):
        """The u stream for image row i: row i >> r of every level r <= ``deepest``."""
        model, top = self.model, self.levels - 1
        above = tf.maximum(i - 1, 0)
        x = to_unit_range(canvas[:, above]) * tf.cast(i > 0, tf.float32)
        self.u_in.write(above, tf.concat([x, tf.ones_like(x[..., :1]) * tf.cast(i > 0, tf.float32)], -1))
        u = self.u_in.conv_at(above) * tf.cast(i > 0, tf.float32)  # the model's down_shift: row 0 is zero
        skips = [[u]] + [[] for _ in range(top)]
        for r in range(deepest + 1):  # up pass
            a = i // 2**r
            if r > 0:
                u = self.u_down[r - 1].conv_at(2 * a)
                skips[r].append(u)
            for block, out in zip(self.up_u[r], self.up_u_out[r]):
                u = block.step(u, a)
                out.write_row(a, u)
                skips[r].append(u)
            if r < top:
                self.u_down[r].write(a, u)
        for r in range(deepest, -1, -1):  # down pass
            a = i // 2**r
            if r == top:
                u = skips[r].pop()
            else:  # the transposed convolution from level r + 1, at row a (rows 2a' and 2a' + 1 come from row a')
                coarse = self.u_result[r + 1].read_row(a // 2)[:, None]
                u = model.up_u_sample[top - 1 - r](coarse)[:, a % 2]
            for block, out in zip(self.dn_u[r], self.dn_u_out[r]):
                u = block.step(u, a, aux=skips[r].pop())
                out.write_row(a, u)
            if r > 0:
                self.u_result[r].write_row(a, u)

    def _step_impl(self, canvas, known, i, j, seed, deepest):
        """Draw pixel (i, j) (where not known): the ul stream at (i >> r, j >> r) for r <= ``deepest``."""
        model, top = self.model, self.levels - 1
        above = self.ul_in_down.conv_at(tf.maximum(i - 1, 0), j) * tf.cast(i > 0, tf.float32)
        left = self.ul_in_right.conv_at(i, tf.maximum(j - 1, 0)) * tf.cast(j > 0, tf.float32)
        ul = above + left
        skips = [[ul]] + [[] for _ in range(top)]
        for r in range(deepest + 1):  # up pass
            a, b = i // 2**r, j // 2**r
            if r > 0:
                ul = self.ul_down[r - 1].conv_at(2 * a, 2 * b)
                skips[r].append(ul)
            for block, u in zip(self.up_ul[r], self.up_u_out[r]):
                ul = block.step(ul, a, b, aux=u.read(a, b))
                skips[r].append(ul)
            if r < top:
                self.ul_down[r].write(a, b, ul)
        for r in range(deepest, -1, -1):  # down pass
            a, b = i // 2**r, j // 2**r
            if r == top:
                ul = skips[r].pop()
            else:  # the 2x2 transposed convolution: each level r + 1 position makes a 2x2 block of level r
                coarse = self.ul_result[r + 1].read(a // 2, b // 2)[:, None, None]
                ul = model.up_ul_sample[top - 1 - r](coarse)[:, a % 2, b % 2]
            for block, u in zip(self.dn_ul[r], self.dn_u_out[r]):
                ul = block.step(ul, a, b, aux=tf.concat([u.read(a, b), skips[r].pop()], -1))
            if r > 0:
                self.ul_result[r].write(a, b, ul)
        drawn = _draw(model.head, self.out(tf.nn.elu(ul)), seed)
        pixel = tf.where(known[:, i, j][:, None], canvas[:, i, j, :], drawn)
        x = to_unit_range(pixel)
        padded = tf.concat([x, tf.ones_like(x[:, :1])], -1)
        self.ul_in_down.write(i, j, padded)
        self.ul_in_right.write(i, j, padded)
        return _write_pixel(canvas, i, j, pixel)

    def fill(self, canvas, unknown, seed, progress=None):
        """Same contract as the naive sampler's fill: uint8 canvas, bool unknown (B, H, W)."""
        self.reset()
        base = _seed_pair(seed)
        known = tf.constant(~unknown)
        canvas = tf.constant(canvas)
        for i in rows(self.h, "sampling", progress):
            self._rows[self._deepest(i)](canvas, tf.constant(i))
            for j in range(self.w):
                seed_ij = step_seed(base, i * self.w + j, 1, 0)
                canvas = self._steps[self._deepest(i, j)](canvas, known, tf.constant(i), tf.constant(j), seed_ij)
        return canvas.numpy()


SAMPLERS = {"pixelsnail": PixelSNAILSampler, "gated_pixelcnn": GatedPixelCNNSampler,
            "pixelcnn_pp": PixelCNNPPSampler}


def cached_sampler(model, batch):
    """The cached sampler for ``model`` (reused across calls with the same batch size)."""
    name = model.model_name
    if name not in SAMPLERS:
        raise ValueError(f"cached sampling is available for {sorted(SAMPLERS)}, not {name!r}; use method='naive'")
    samplers = model.__dict__.setdefault("_pl_cached_samplers", {})
    if batch not in samplers:
        samplers[batch] = SAMPLERS[name](model, batch)
    return samplers[batch]
