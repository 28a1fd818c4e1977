"""The sampling caches of cached sampling: TensorFlow variables written in place, one step at a time.

Cached sampling (``sampling/cached.py``) is the TensorFlow backend's speed
path: each layer's cache is a ``tf.Variable`` updated by in-place scatters
inside a compiled step, which ``keras.ops`` cannot express on every backend
(JAX arrays are immutable). The layers' ``start_cache`` register these
caches; their ``step`` methods compute with ``keras.ops`` on what the caches
hold.
"""

from __future__ import annotations

import numpy as np

from .._extras import require

tf = require("tensorflow", "cached sampling")


def variable(initial):
    """A non-trainable cache variable holding ``initial``."""
    return tf.Variable(initial, trainable=False)


class Caches:
    """The sampling caches of a model, one per layer (looked up by the layer) plus named stores.

    ``reset()`` empties every cache and takes the layers' current weights.
    """

    def __init__(self):
        self._parts = {}

    @staticmethod
    def _key(key):
        return key if isinstance(key, (str, tuple)) else id(key)

    def add(self, key, cache):
        self._parts[self._key(key)] = (key, cache)  # the key is kept alive, so its id stays its own
        return cache

    def __getitem__(self, key):
        return self._parts[self._key(key)][1]

    def reset(self):
        for _, part in self._parts.values():
            if isinstance(part, tf.Variable):
                part.assign(tf.zeros_like(part))
            elif hasattr(part, "reset"):
                part.reset()


def folded_kernel(conv):
    """A weight-normalised convolution's effective kernel g * v / ||v|| (masked) and bias.

    Returns (W, b) with W of shape (kh * kw * in, out), rows in (row, column,
    channel) order, so a flattened input window times W is the output.
    """
    kernel = conv.kernel()
    return tf.reshape(kernel, (-1, kernel.shape[-1])), conv.b


class PointwiseCache:
    """A 1x1 convolution frozen for sampling: (..., in) -> (..., out), at any position."""

    def __init__(self, conv):
        self.conv = conv
        w, b = folded_kernel(conv)
        self.w = tf.Variable(w, trainable=False)
        self.b = tf.Variable(b, trainable=False)

    def reset(self):
        w, b = folded_kernel(self.conv)
        self.w.assign(w)
        self.b.assign(b)

    def __call__(self, x):
        return tf.matmul(x, self.w) + self.b

    def step(self, x, *position):
        return self(x)


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
        self.dense = PointwiseCache(conv)
        self.top, self.left = top, left
        self.kh, self.kw = conv.kernel_size
        self.padded_width = width + left + right
        self.values = tf.Variable(
            tf.zeros(((height + top + bottom) * self.padded_width, batch, in_channels)), trainable=False)
        rows, cols = np.meshgrid(np.arange(self.kh), np.arange(self.kw), indexing="ij")
        self.offsets = tf.constant((rows * self.padded_width + cols).ravel(), tf.int32)

    def reset(self):
        self.values.assign(tf.zeros_like(self.values))
        self.dense.reset()

    def write(self, i, j, x):
        """x: (B, C), the convolution's input at (i, j)."""
        index = (i + self.top) * self.padded_width + (j + self.left)
        self.values.scatter_update(tf.IndexedSlices(x[None], tf.reshape(index, [1])))

    def conv_at(self, i, j):
        """The convolution's output at (i, j) as (B, F)."""
        window = self.values.sparse_read(i * self.padded_width + j + self.offsets)  # (kh*kw, B, C)
        batch = tf.shape(window)[1]
        flat = tf.reshape(tf.transpose(window, [1, 0, 2]), (batch, -1))
        return self.dense(flat)

    def step(self, x, i, j):
        self.write(i, j, x)
        return self.conv_at(i, j)


class RowCache:
    """The input of one convolution, computed a whole row at a time.

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

    def step(self, x, i):
        self.write(i, x)
        return self.conv_at(i)


class GridMap:
    """One activation of a whole grid, (H, B, W, F), written a row or a position at a time and read back."""

    def __init__(self, batch, height, width, channels):
        self.values = tf.Variable(tf.zeros((height, batch, width, channels)), trainable=False)

    def reset(self):
        self.values.assign(tf.zeros_like(self.values))

    def write_row(self, i, x):
        """x: (B, W, F), row i."""
        self.values.scatter_update(tf.IndexedSlices(x[None], tf.reshape(i, [1])))

    def read_row(self, i):
        return self.values.sparse_read(tf.reshape(i, [1]))[0]

    def write(self, i, j, x):
        """x: (B, F) at (i, j)."""
        batch = tf.shape(x)[0]
        where = tf.stack([tf.fill([batch], i), tf.range(batch), tf.fill([batch], j)], 1)
        self.values.scatter_nd_update(where, x)

    def read(self, i, j):
        return tf.gather(self.read_row(i), j, axis=1)


class KeyValueCache:
    """The keys and values of an attention layer's heads, a slot per raster position: (B, heads, N, d) each."""

    def __init__(self, batch, heads, n, key_dim, value_dim):
        self.keys = variable(tf.zeros((batch, heads, n, key_dim)))
        self.values = variable(tf.zeros((batch, heads, n, value_dim)))
        slots = np.arange(batch * heads)
        self.slots = tf.constant(np.stack([slots // heads, slots % heads], 1), tf.int32)  # (B * heads, 2)

    def reset(self):
        self.keys.assign(tf.zeros_like(self.keys))
        self.values.assign(tf.zeros_like(self.values))

    def read(self):
        """The keys and values as tensors."""
        return tf.convert_to_tensor(self.keys), tf.convert_to_tensor(self.values)

    def store(self, p, keys, values):
        """Write position p's keys (B * heads, dk) and values (B * heads, dv), rows in (image, head) order."""
        where = tf.concat([self.slots, tf.fill([tf.shape(self.slots)[0], 1], p)], 1)  # (B * heads, 3)
        self.keys.scatter_nd_update(where, keys)
        self.values.scatter_nd_update(where, values)
