"""Causal, weight-normalised convolutions: the masked, shifted and transposed kernels of the pixelCNN family.

Every layer here keeps the autoregressive property: the output at pixel
(i, j) depends only on inputs that come earlier in raster order (or, for the
"vertical" layers, only on rows above). Chapter 3 draws each of them.

All convolutions use weight normalisation (Salimans and Kingma, 2016): the
kernel is ``g * v / ||v||`` with a learnt direction ``v`` and length ``g`` per
output channel, written once in ``_WeightNormConvolution``.
``data_dependent_init`` (in ``models/base.py``) sets ``g`` and the bias from
one batch so each layer starts with zero-mean, unit-variance outputs. Each
layer also has an incremental form for cached sampling (``start_cache`` and
``step``, with the caches of ``nn/caches.py``).

Shapes are (batch, height, width, channels) throughout.
"""

from __future__ import annotations

import contextlib
import contextvars

import keras
import numpy as np
from keras import ops

from .. import backend

serializable = keras.saving.register_keras_serializable(package="pixelcnn_lib")
"""Register a layer under "pixelcnn_lib>Name", so that ``.keras`` files and ``keras.saving`` find it."""


def down_shift(x):
    """Move every row down by one; the top row becomes zeros. (B,H,W,C) -> same."""
    # pad, then a plain slice: the gradients of both are cheap copies (a strided slice's is not)
    return ops.slice(ops.pad(x, [[0, 0], [1, 0], [0, 0], [0, 0]]), (0, 0, 0, 0), ops.shape(x))


def right_shift(x):
    """Move every column right by one; the left column becomes zeros."""
    return ops.slice(ops.pad(x, [[0, 0], [0, 0], [1, 0], [0, 0]]), (0, 0, 0, 0), ops.shape(x))


_CONV_DTYPE = contextvars.ContextVar("pixelcnn_conv_dtype", default=None)

CONV_PRECISIONS = ("float32", "bfloat16")


@contextlib.contextmanager
def conv_precision(dtype):
    """Run the convolutions traced inside this block in ``dtype``.

    ``dtype`` is "bfloat16" or "float32"/None (the default,
    full precision). Each convolution casts its input and kernel down, and
    casts its output back to the input's dtype. Everything else (weights,
    biases, activations, the loss, the optimizer) stays float32: this is
    mixed precision for the one op that dominates the cost. On CPUs with
    AMX or AVX512-BF16 units, oneDNN runs bfloat16 convolutions several
    times faster than float32 ones.

    The setting is read when a compiled step is traced, so enter the block
    around the first call (``train`` does this for its step).
    """
    try:
        name = "float32" if dtype is None else keras.backend.standardize_dtype(dtype)
    except ValueError:
        name = repr(dtype)
    if name not in CONV_PRECISIONS:
        raise ValueError(f"conv_precision must be one of {CONV_PRECISIONS}, got {dtype!r}")
    token = _CONV_DTYPE.set(None if name == "float32" else name)
    try:
        yield
    finally:
        _CONV_DTYPE.reset(token)


def _convolve_in_precision(conv, x, kernel):
    """``conv(x, kernel)`` in the dtype of the enclosing ``conv_precision`` block."""
    dtype = _CONV_DTYPE.get()
    if dtype is None or dtype == backend.dtype_name(x):
        return conv(x, kernel)
    return ops.cast(conv(ops.cast(x, dtype), ops.cast(kernel, dtype)), x.dtype)


class _WeightNormConvolution(keras.layers.Layer):
    """What the weight-normalised convolutions share (Salimans & Kingma, 2016): a kernel ``v``, a length ``g`` and a
    bias ``b`` per output channel, the effective kernel ``g * v / ||v||``, and the data-dependent initialisation of
    ``g`` and ``b`` from the outputs of the unit-norm kernel on one batch (``initialise_from_outputs``). A subclass
    gives the kernel's shape (``kernel_shape``, with the output channels on axis ``out_axis``), an optional mask and
    the convolution itself (``convolve``)."""

    out_axis = 3  # the kernel's axis of output channels
    fixed_arguments = ()  # arguments a subclass sets itself from the others: left out of its config

    def __init__(self, filters, kernel_size, strides, init_scale, **kwargs):
        super().__init__(**kwargs)
        self.filters = int(filters)
        self.kernel_size = _pair(kernel_size)
        self.strides = _pair(strides)
        self.init_scale = float(init_scale)
        self.init_pending = False

    def kernel_shape(self, in_channels):
        raise NotImplementedError

    def kernel_mask(self, in_channels):
        """(kh, kw, in, out) array of 0/1 multiplied into the kernel, or None."""
        return None

    def build(self, input_shape):
        in_channels = int(input_shape[-1])
        self.v = self.add_weight(name="v", shape=self.kernel_shape(in_channels),
                                 initializer=keras.initializers.RandomNormal(stddev=0.05))
        self.g = self.add_weight(name="g", shape=(self.filters,), initializer="ones")
        self.b = self.add_weight(name="b", shape=(self.filters,), initializer="zeros")
        self.mask = self.kernel_mask(in_channels)  # a numpy constant: a tensor made here would belong to a graph

    def direction(self):
        """The unit-norm kernel v / ||v|| (masked first), per output channel."""
        v = self.v if self.mask is None else self.v * self.mask
        axes = [axis for axis in range(4) if axis != self.out_axis]
        return v * ops.rsqrt(ops.sum(ops.square(v), axis=axes, keepdims=True) + 1e-12)

    def kernel(self):
        """The effective kernel g * v / ||v||: the length folded into the direction.

        Scaling the small kernel instead of the large output saves a full pass
        over the activations (and another in the backward pass).
        """
        shape = [1, 1, 1, 1]
        shape[self.out_axis] = self.filters
        return self.direction() * ops.reshape(self.g, shape)

    def convolve(self, x, kernel):
        raise NotImplementedError

    def call(self, x):
        if self.init_pending and backend.is_concrete(x):
            initialise_from_outputs(self, self.convolve(x, self.direction()))
        return self.convolve(x, self.kernel()) + self.b

    def own_config(self):
        return {}

    def get_config(self):
        config = {**super().get_config(), "filters": self.filters, "kernel_size": self.kernel_size,
                  "strides": self.strides, **self.own_config(), "init_scale": self.init_scale}
        return {k: v for k, v in config.items() if k not in self.fixed_arguments}


@serializable
class WeightNormConv2D(_WeightNormConvolution):
    """Convolution with weight normalisation, explicit padding and an optional mask.

    Args:
      filters: output channels.
      kernel_size: int or (kh, kw).
      strides: int or (sh, sw).
      padding: (top, bottom, left, right) zeros added before a 'VALID' conv.
        The asymmetric paddings are what make the shifted convolutions causal.
      init_scale: target standard deviation of the outputs after
        data-dependent initialisation.
    """

    def __init__(self, filters, kernel_size=1, strides=1, padding=(0, 0, 0, 0), init_scale=1.0, **kwargs):
        super().__init__(filters, kernel_size, strides, init_scale, **kwargs)
        self.padding = tuple(int(p) for p in padding)

    def kernel_shape(self, in_channels):
        return (*self.kernel_size, in_channels, self.filters)

    def convolve(self, x, kernel):
        """The raw convolution of ``x`` with ``kernel``, after the layer's zero padding.

        (A separate pad beats the conv op's own explicit padding: oneDNN's
        backward pass is slower with explicit padding on CPU.)
        """
        top, bottom, left, right = self.padding

        def conv(x, kernel):
            if any(self.padding):
                x = ops.pad(x, [[0, 0], [top, bottom], [left, right], [0, 0]])
            return ops.conv(x, kernel, strides=self.strides, padding="valid")

        return _convolve_in_precision(conv, x, kernel)

    def footprint(self):
        """Offsets (dy, dx) that this (built, stride-1) convolution reads, from its kernel, padding and mask.

        Output (i, j) reads the padded input at rows i .. i+kh-1, that is the
        original rows i - top .. i - top + kh - 1 (likewise for columns); a tap
        counts when its mask is non-zero for some pair of channels. The
        analytic receptive fields (``receptive_field.analytic_receptive_field``)
        are made of these.
        """
        if tuple(self.strides) != (1, 1):
            raise ValueError(f"footprint handles stride 1 only, got strides {self.strides}")
        if not self.built:
            raise ValueError(f"layer {self.name} is not built yet: call it once first")
        kh, kw = self.kernel_size
        top, _, left, _ = self.padding
        taps = np.ones((kh, kw), bool) if self.mask is None else self.mask.reshape(kh, kw, -1).any(axis=-1)
        return frozenset((int(a) - top, int(b) - left) for a, b in zip(*np.nonzero(taps)))

    def own_config(self):
        return {"padding": self.padding}

    # the incremental form, for sampling: ``call`` at one position (or one row) from a cache of earlier inputs

    def start_cache(self, caches, batch, height, width, by="position"):
        """Register this layer's sampling cache in ``caches``, for a (height, width) input grid.

        A 1x1 unstrided convolution needs no memory (``PointwiseCache``); any
        other keeps its input for the whole grid, as one position at a time
        (``WindowCache``, by="position") or a whole row at a time
        (``RowCache``, by="row"). ``step`` at (i, j) sees the inputs written up
        to (i, j) in raster order: the whole output there for a
        down-right-shifted or masked convolution, whose window ends at (i, j);
        a down-shifted one's window reaches right of (i, j), so its output at
        row i is read with ``conv_at`` once the row is written (as ``down_shift``
        does) or computed by rows.
        """
        from . import caches as C  # TensorFlow's speed path (see that module)

        if self.kernel_size == (1, 1) and self.strides == (1, 1) and not any(self.padding):
            cache = C.PointwiseCache(self)
        else:
            kind = {"position": C.WindowCache, "row": C.RowCache}[by]
            cache = kind(self, batch, height, width, int(self.v.shape[2]))
        caches.add(self, cache)

    def step(self, caches, x, *position):
        """``call`` at ``position`` ((i, j), or the row i): store input ``x`` there, return the output there."""
        return caches[self].step(x, *position)


def initialise_from_outputs(layer, y):
    """Data-dependent init: set ``g`` and ``b`` so that ``y * g + b`` has zero mean and
    standard deviation ``init_scale`` per channel, where ``y`` is the output of the
    unit-norm kernel on one batch."""
    mean, var = ops.moments(y, axes=[0, 1, 2])
    scale = layer.init_scale / ops.sqrt(var + 1e-10)
    layer.g.assign(scale)
    layer.b.assign(-mean * scale)
    layer.init_pending = False


@serializable
class NetworkInNetwork(WeightNormConv2D):
    """A 1x1 convolution: a dense layer applied at every pixel. Causal by construction."""

    def __init__(self, filters, **kwargs):
        super().__init__(filters, kernel_size=1, **kwargs)

    fixed_arguments = ("kernel_size", "padding")  # set by this layer from the others, so not in its config


@serializable
class DownShiftedConv2D(WeightNormConv2D):
    """Sees the current row and the kh-1 rows above, centred horizontally.

    Padding: kh-1 rows on top, (kw-1)/2 columns on each side. The output at
    row i depends on input rows i-kh+1 .. i only; preceded by ``down_shift``
    it sees strictly earlier rows (the "vertical stack" of PixelCNN++).
    """

    def __init__(self, filters, kernel_size=(2, 3), strides=1, **kwargs):
        kh, kw = _pair(kernel_size)
        if kw % 2 == 0:
            raise ValueError(f"DownShiftedConv2D needs an odd kernel width, got {kw}")
        side = (kw - 1) // 2
        super().__init__(filters, (kh, kw), strides, padding=(kh - 1, 0, side, side), **kwargs)

    fixed_arguments = ("padding",)  # set by this layer from the others, so not in its config


@serializable
class DownRightShiftedConv2D(WeightNormConv2D):
    """Sees the current pixel, the pixels to its left and the rows above on its left.

    Padding: kh-1 rows on top and kw-1 columns on the left, so the kernel's
    bottom-right tap sits on the current pixel (the "horizontal stack").
    """

    def __init__(self, filters, kernel_size=(2, 2), strides=1, **kwargs):
        kh, kw = _pair(kernel_size)
        super().__init__(filters, (kh, kw), strides, padding=(kh - 1, 0, kw - 1, 0), **kwargs)

    fixed_arguments = ("padding",)  # set by this layer from the others, so not in its config


@serializable
class MaskedConv2D(WeightNormConv2D):
    """The masked convolution of PixelCNN (van den Oord et al., 2016).

    The kernel is zeroed at every position after the centre in raster order.
    At the centre, channels are split into ``colour_groups`` contiguous blocks
    (R, G, B for colour images; channel n of N belongs to block n * groups // N):
    mask type 'A' lets output block j see input
    blocks i < j, type 'B' blocks i <= j. With one group, 'A' hides the
    centre and 'B' keeps it. Type 'A' is for the first layer (which sees the
    image), 'B' for every later one.
    """

    def __init__(self, filters, kernel_size, mask_type, colour_groups=1, **kwargs):
        if mask_type not in ("A", "B"):
            raise ValueError(f"mask_type must be 'A' or 'B', got {mask_type!r}")
        if colour_groups not in (1, 3):
            raise ValueError(f"colour_groups must be 1 or 3, got {colour_groups!r}")
        kh, kw = _pair(kernel_size)
        if kh % 2 == 0 or kw % 2 == 0:
            raise ValueError(f"MaskedConv2D needs an odd kernel, got {kh}x{kw}")
        super().__init__(filters, (kh, kw), padding=(kh // 2, kh // 2, kw // 2, kw // 2), **kwargs)
        self.mask_type = mask_type
        self.colour_groups = colour_groups

    def kernel_mask(self, in_channels):
        return causal_mask(self.kernel_size, in_channels, self.filters, self.mask_type, self.colour_groups)

    fixed_arguments = ("padding",)  # it follows from the kernel size

    def get_config(self):
        return {**super().get_config(), "mask_type": self.mask_type, "colour_groups": self.colour_groups}


def causal_mask(kernel_size, in_channels, out_channels, mask_type, colour_groups=1):
    """The 0/1 kernel mask of a masked convolution, shape (kh, kw, in, out)."""
    kh, kw = _pair(kernel_size)
    if in_channels < colour_groups or out_channels < colour_groups:
        raise ValueError(
            f"masked convolution needs at least {colour_groups} channels in and out, "
            f"got {in_channels} and {out_channels}"
        )
    mask = np.zeros((kh, kw, in_channels, out_channels), dtype=np.float32)
    ci, cj = kh // 2, kw // 2
    mask[:ci] = 1.0
    mask[ci, :cj] = 1.0
    group_in = np.arange(in_channels) * colour_groups // in_channels
    group_out = np.arange(out_channels) * colour_groups // out_channels
    if mask_type == "A":
        centre = group_in[:, None] < group_out[None, :]
    else:
        centre = group_in[:, None] <= group_out[None, :]
    mask[ci, cj] = centre.astype(np.float32)
    return mask


@serializable
class WeightNormConv2DTranspose(_WeightNormConvolution):
    """Transposed convolution with weight normalisation and a causal crop.

    The 'VALID' transposed convolution gives ((H-1)s + kh, (W-1)s + kw); the
    output keeps rows [0, Hs) and columns [crop_left, crop_left + Ws), which
    makes it causal in the same way as the matching shifted convolution.

    Departure from the reference: the data-dependent initialisation takes its
    mean and standard deviation over the cropped output, the values the next
    layer receives. openai/pixel-cnn ``pixel_cnn_pp/nn.py`` ``deconv2d`` takes
    them over the whole 'VALID' output, before ``down_shifted_deconv2d`` and
    ``down_right_shifted_deconv2d`` crop it, border rows and columns included.
    """

    out_axis = 2  # a transposed convolution's kernel is (kh, kw, out, in)

    def __init__(self, filters, kernel_size, strides=2, crop_left=0, init_scale=1.0, **kwargs):
        super().__init__(filters, kernel_size, strides, init_scale, **kwargs)
        self.crop_left = int(crop_left)

    def kernel_shape(self, in_channels):
        return (*self.kernel_size, self.filters, in_channels)

    def convolve(self, x, kernel):
        """The 'VALID' transposed convolution of ``x`` with ``kernel``, cropped to (H s, W s)."""
        h, w = int(x.shape[1]), int(x.shape[2])
        sh, sw = self.strides

        def conv(x, kernel):  # a plain slice: its gradient is a cheap pad, unlike a strided slice's
            y = ops.conv_transpose(x, kernel, strides=(sh, sw), padding="valid")  # ((h-1)s + kh, (w-1)s + kw)
            return ops.slice(y, (0, 0, self.crop_left, 0), (ops.shape(y)[0], h * sh, w * sw, self.filters))

        return _convolve_in_precision(conv, x, kernel)

    def own_config(self):
        return {"crop_left": self.crop_left}


@serializable
class DownShiftedConv2DTranspose(WeightNormConv2DTranspose):
    """Up-sampling partner of ``DownShiftedConv2D`` (kernel 2x3, stride 2)."""

    def __init__(self, filters, kernel_size=(2, 3), strides=2, **kwargs):
        kw = _pair(kernel_size)[1]
        super().__init__(filters, kernel_size, strides, crop_left=(kw - 1) // 2, **kwargs)

    fixed_arguments = ("crop_left",)  # set by this layer from the others, so not in its config


@serializable
class DownRightShiftedConv2DTranspose(WeightNormConv2DTranspose):
    """Up-sampling partner of ``DownRightShiftedConv2D`` (kernel 2x2, stride 2)."""

    def __init__(self, filters, kernel_size=(2, 2), strides=2, **kwargs):
        super().__init__(filters, kernel_size, strides, crop_left=0, **kwargs)

    fixed_arguments = ("crop_left",)  # set by this layer from the others, so not in its config


def _pair(v):
    if isinstance(v, (int, np.integer)):
        return (int(v), int(v))
    v = tuple(int(a) for a in v)
    if len(v) != 2:
        raise ValueError(f"expected an int or a pair, got {v}")
    return v
