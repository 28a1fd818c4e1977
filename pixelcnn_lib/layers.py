"""Causal building blocks of the pixelCNN family.

Every layer here keeps the autoregressive property: the output at pixel
(i, j) depends only on inputs that come earlier in raster order (or, for the
"vertical" layers, only on rows above). Chapter 3 draws each of them.

All convolutions use weight normalisation (Salimans and Kingma, 2016): the
kernel is ``g * v / ||v||`` with a learnt direction ``v`` and length ``g`` per
output channel. ``data_dependent_init`` (in ``models/base.py``) sets ``g``
and the bias from one batch so each layer starts with zero-mean, unit-variance
outputs.

Shapes are (batch, height, width, channels) throughout.
"""

from __future__ import annotations

import contextlib
import contextvars

import keras
import numpy as np
from keras import ops

from . import backend

serializable = keras.saving.register_keras_serializable(package="pixelcnn_lib")
"""Register a layer under "pixelcnn_lib>Name", so that ``.keras`` files and ``keras.saving`` find it."""

# --------------------------------------------------------------------------
# shifts and simple activations
# --------------------------------------------------------------------------


def down_shift(x):
    """Move every row down by one; the top row becomes zeros. (B,H,W,C) -> same."""
    # pad, then a plain slice: the gradients of both are cheap copies (a strided slice's is not)
    return ops.slice(ops.pad(x, [[0, 0], [1, 0], [0, 0], [0, 0]]), (0, 0, 0, 0), ops.shape(x))


def right_shift(x):
    """Move every column right by one; the left column becomes zeros."""
    return ops.slice(ops.pad(x, [[0, 0], [0, 0], [1, 0], [0, 0]]), (0, 0, 0, 0), ops.shape(x))


def concat_elu(x):
    """ELU of [x, -x] along channels: keeps both signs' information. C -> 2C."""
    return ops.elu(ops.concatenate([x, -x], axis=-1))


NONLINEARITIES = {"concat_elu": concat_elu, "elu": ops.elu, "relu": ops.relu}
"""The residual nonlinearities of the reference code (``resnet_nonlinearity`` in
openai/pixel-cnn and neocxi/pixelsnail-public ``train.py``): PixelCNN++ uses
``concat_elu``, the reference PixelSNAIL CIFAR-10 model ``elu``."""


def check_nonlinearity(name):
    """The function named ``name`` in ``NONLINEARITIES``; a clear error for anything else."""
    if name not in NONLINEARITIES:
        raise ValueError(f"nonlinearity must be one of {sorted(NONLINEARITIES)}, got {name!r}")
    return NONLINEARITIES[name]


def sigmoid_gate(x):
    """a * sigmoid(b) for the two halves a, b of the channels. 2F -> F.

    The gate of the gated residual block of PixelCNN++ and PixelSNAIL
    (``gated_resnet`` in openai/pixel-cnn ``pixel_cnn_pp/nn.py``): the
    sigmoid decides how much of the linear candidate ``a`` is added.
    """
    a, b = ops.split(x, 2, axis=-1)
    return a * ops.sigmoid(b)


def gated_activation(x, groups=1):
    """tanh(a) * sigmoid(b) for the two halves a, b of the channels. 2F -> F.

    The gate of Gated PixelCNN (van den Oord et al., 2016), not of the
    residual blocks of PixelCNN++ and PixelSNAIL (see ``sigmoid_gate``).

    With ``groups`` > 1 the channels form ``groups`` contiguous blocks (the RGB
    channel groups of a masked PixelCNN) and each block is gated within itself,
    so the output keeps the same block layout.
    """
    if groups == 1:
        a, b = ops.split(x, 2, axis=-1)
        return ops.tanh(a) * ops.sigmoid(b)
    channels = x.shape[-1]
    if channels % (2 * groups):
        raise ValueError(f"gated activation with {groups} groups needs channels divisible by {2 * groups}, "
                         f"got {channels}")
    leading = tuple(-1 if d is None else int(d) for d in x.shape[:-1])
    blocks = ops.reshape(x, (*leading, groups, 2, channels // (2 * groups)))
    gated = ops.tanh(blocks[..., 0, :]) * ops.sigmoid(blocks[..., 1, :])
    return ops.reshape(gated, (*leading, channels // 2))


def coordinate_channels(x):
    """The two "background" channels of PixelSNAIL: (row - H/2)/H and (col - W/2)/W.

    (B, H, W, C) -> (B, H, W, 2), the same for every image.
    """
    h, w = int(x.shape[1]), int(x.shape[2])
    rows = (np.arange(h, dtype=np.float32) - h / 2.0) / h
    cols = (np.arange(w, dtype=np.float32) - w / 2.0) / w
    grid = np.stack(np.broadcast_arrays(rows[:, None], cols[None, :]), axis=-1)  # (H, W, 2)
    return ops.zeros_like(x[..., :1], dtype="float32") + ops.convert_to_tensor(grid[None])


def coordinate_channels_at(i, j, height, width, batch):
    """``coordinate_channels`` at the one position (i, j): (B, 2)."""
    h, w = float(height), float(width)
    rows = (ops.cast(i, "float32") - h / 2.0) / h
    cols = (ops.cast(j, "float32") - w / 2.0) / w
    return ops.broadcast_to(ops.stack([rows, cols])[None, :], (batch, 2))


# --------------------------------------------------------------------------
# weight-normalised convolutions
# --------------------------------------------------------------------------

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
        from . import sampling_caches as C  # TensorFlow's speed path (see that module)

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


# --------------------------------------------------------------------------
# blocks
# --------------------------------------------------------------------------


@serializable
class Dropout(keras.layers.Dropout):
    """Keras's dropout layer (same seeding, same config), computed more cheaply.

    Each element is kept with probability ``1 - rate`` and scaled by
    ``1 / (1 - rate)``, as in Keras. The mask is one stateless uniform draw
    turned into a 0-or-scale factor, so the forward pass is a single multiply
    and so is its gradient; on CPU this is several times faster than
    ``tf.nn.experimental.stateless_dropout``, which Keras calls on TensorFlow.
    """

    def call(self, inputs, training=False):
        if not training or self.rate == 0.0:
            return inputs
        if self.noise_shape is not None:
            return super().call(inputs, training=training)
        u = keras.random.uniform(ops.shape(inputs), dtype=inputs.dtype, seed=self.seed_generator)
        keep = ops.where(u >= self.rate, ops.cast(1.0 / (1.0 - self.rate), inputs.dtype),
                         ops.cast(0.0, inputs.dtype))
        return inputs * keep


@serializable
class ClassBias(keras.layers.Layer):
    """A learnt vector per class, added to a layer's pre-activations: the V^T h of conditional PixelCNN.

    ``call(labels)`` maps int class labels (B,) in 0..num_classes-1 to (B,
    units): row ``labels[b]`` of a (num_classes, units) matrix. With ``h`` the
    one-hot class, this is ``h @ V``: Gated PixelCNN adds it inside every
    gate (van den Oord et al., 2016, eq. 4), and neocxi/pixelsnail-public
    ``pixel_cnn_pp/nn.py`` (``gated_resnet``, its ``h`` argument: ``hw``,
    initialised N(0, 0.05), added to the gate's pre-activations) in every
    gated residual block. The class is the same at every pixel, so the bias
    is added at every position alike and cannot break causality.
    """

    def __init__(self, num_classes, units, initial_stddev=0.05, **kwargs):
        super().__init__(**kwargs)
        self.num_classes, self.units, self.initial_stddev = int(num_classes), int(units), float(initial_stddev)

    def build(self, input_shape=None):
        initializer = (keras.initializers.RandomNormal(stddev=self.initial_stddev) if self.initial_stddev
                       else "zeros")
        self.embeddings = self.add_weight(name="embeddings", shape=(self.num_classes, self.units),
                                          initializer=initializer)

    def call(self, labels):
        return ops.take(self.embeddings, ops.cast(labels, "int32"), axis=0)

    def on_grid(self, labels):
        """``call`` shaped (B, 1, 1, units), to add to a (B, H, W, units) map."""
        return self(labels)[:, None, None, :]

    def get_config(self):
        return {**super().get_config(), "num_classes": self.num_classes, "units": self.units,
                "initial_stddev": self.initial_stddev}


@serializable
class GatedResidualBlock(keras.layers.Layer):
    """The gated residual block of PixelCNN++ and PixelSNAIL.

    out = x + a * sigmoid(b), where [a, b] = conv2(dropout(f(conv1(f(x)) +
    nin(f(aux))))), as in ``gated_resnet`` of openai/pixel-cnn
    (``pixel_cnn_pp/nn.py``) and neocxi/pixelsnail-public. ``f`` is the
    ``nonlinearity``: "concat_elu" (PixelCNN++; it doubles the channels, so the
    convolutions see 2F inputs) or "elu" (the reference PixelSNAIL CIFAR-10
    model; F inputs). ``filters`` must equal the channel count of ``x`` (the
    block is residual). ``conv`` is a factory ``conv(filters, **kw) -> layer``
    (e.g. ``DownShiftedConv2D``), which decides what the block may see.
    ``aux`` is an optional second input of the same height and width (the
    other stream, a skip connection, or the attention output), given when the
    block is built with ``has_aux=True``; it enters through a 1x1 convolution,
    so it must itself be causal. With ``num_classes`` the block is class-
    conditional: ``labels`` (B,) select a learnt vector (``ClassBias``) that is
    added to conv2's output before the gate, as ``gated_resnet``'s ``h`` in
    neocxi/pixelsnail-public ``pixel_cnn_pp/nn.py`` (and openai/pixel-cnn's).
    """

    def __init__(self, filters, conv=NetworkInNetwork, dropout=0.0, has_aux=False, nonlinearity="concat_elu",
                 num_classes=None, **kwargs):
        super().__init__(**kwargs)
        self.filters = int(filters)
        self.dropout_rate = float(dropout)
        self.has_aux = bool(has_aux)
        self.nonlinearity_name = nonlinearity
        self.nonlinearity = check_nonlinearity(nonlinearity)
        self.widening = 2 if nonlinearity == "concat_elu" else 1  # channels out of f per channel in
        self.conv_class = conv
        self.conv1 = conv(self.filters)
        self.conv2 = conv(2 * self.filters, init_scale=0.1)
        self.aux_nin = NetworkInNetwork(self.filters) if self.has_aux else None
        self.dropout = Dropout(self.dropout_rate)
        self.num_classes = None if num_classes is None else int(num_classes)
        self.class_bias = None if num_classes is None else ClassBias(num_classes, 2 * self.filters)

    def build(self, input_shape):
        pass  # the sub-layers build themselves on first call

    def get_config(self):
        return {**super().get_config(), "filters": self.filters,
                "conv": keras.saving.get_registered_name(self.conv_class), "dropout": self.dropout_rate,
                "has_aux": self.has_aux, "nonlinearity": self.nonlinearity_name, "num_classes": self.num_classes}

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        config["conv"] = keras.saving.get_registered_object(config["conv"])
        return cls(**config)

    def _check_labels(self, labels):
        if (labels is not None) != (self.class_bias is not None):
            raise ValueError(f"GatedResidualBlock built with num_classes={self.num_classes} "
                             f"was called with labels={'given' if labels is not None else None}")

    def call(self, x, aux=None, labels=None, training=False):
        if x.shape[-1] != self.filters:
            raise ValueError(f"GatedResidualBlock built for {self.filters} channels got {x.shape[-1]}")
        if (aux is not None) != self.has_aux:
            raise ValueError(f"GatedResidualBlock built with has_aux={self.has_aux} "
                             f"was called with aux={aux is not None}")
        self._check_labels(labels)
        f = self.nonlinearity
        c = self.conv1(f(x))
        if aux is not None:
            c = c + self.aux_nin(f(aux))
        c = f(c)
        if self.dropout_rate > 0:
            c = self.dropout(c, training=training)
        c = self.conv2(c)
        if labels is not None:
            c = c + self.class_bias.on_grid(labels)
        return x + sigmoid_gate(c)

    def start_cache(self, caches, batch, height, width, by="position"):
        """Register the sampling caches of the block's convolutions (see ``WeightNormConv2D.start_cache``)."""
        for conv in (self.conv1, self.conv2, self.aux_nin):
            if conv is not None:
                conv.start_cache(caches, batch, height, width, by)

    def step(self, caches, x, *position, aux=None, labels=None):
        """``call`` at ``position`` (none for a block of 1x1 convolutions), without dropout: x, aux (B, C) or a row
        (B, W, C); labels (B,)."""
        self._check_labels(labels)
        f = self.nonlinearity
        c = self.conv1.step(caches, f(x), *position)
        if aux is not None:
            c = c + self.aux_nin.step(caches, f(aux))
        c = self.conv2.step(caches, f(c), *position)
        if labels is not None:
            bias = self.class_bias(labels)
            c = c + (bias[:, None, :] if len(c.shape) == 3 else bias)
        return x + sigmoid_gate(c)


@serializable
class CausalSelfAttention(keras.layers.Layer):
    """Causal attention over all earlier pixels, as in PixelSNAIL (Chen et al., 2018).

    Queries come from the current features and the two coordinate channels;
    keys and values from the raw input image, the features and the
    coordinate channels. Each is first passed through a gated residual block
    of 1x1 convolutions, then a 1x1 projection. Pixel p attends only to pixels
    strictly before it in raster order: the keys contain the raw pixel value,
    so p must not see itself. The first pixel attends to nothing and gets
    zeros.

    ``num_heads=1, key_dim=16, value_dim=filters // 2`` is the reference
    "small key" attention (``_base_noup_smallkey_spec`` in
    neocxi/pixelsnail-public ``pixel_cnn_pp/model.py``). ``attention_dropout``
    drops attention weights in training (rosinality's ``CausalAttention``).

    With ``num_classes``, both gated residual blocks are class-conditional,
    as every ``gated_resnet`` of the reference is under its ``h``.

    ``background=False`` leaves the coordinate channels out of queries and
    keys, and ``image_keys=False`` the raw image out of keys and values: the
    reference has neither switch; they exist to measure what each part is
    worth (``scripts/ablate_pixelsnail_cifar10.sh``). Without the raw image,
    a key carries only the features at its position, which do not contain
    that position's own pixel.

    call(features (B,H,W,filters), image (B,H,W,image_channels) in [-1,1],
         labels (B,) or None) -> (B,H,W, heads*value_dim)
    """

    def __init__(self, filters, image_channels, num_heads=1, key_dim=16, value_dim=None, dropout=0.0,
                 attention_dropout=0.0, nonlinearity="concat_elu", num_classes=None, background=True,
                 image_keys=True, **kwargs):
        super().__init__(**kwargs)
        for name, flag in (("background", background), ("image_keys", image_keys)):
            if not isinstance(flag, bool):
                raise ValueError(f"{name} must be True or False, got {flag!r}")
        self.background, self.image_keys = background, image_keys
        self.filters = int(filters)
        self.num_heads = int(num_heads)
        self.key_dim = int(key_dim)
        self.value_dim = int(value_dim or self.filters // self.num_heads)
        self.attention_dropout_rate = float(attention_dropout)
        self.image_channels, self.dropout_rate = int(image_channels), float(dropout)
        self.nonlinearity_name = nonlinearity
        self.num_classes = None if num_classes is None else int(num_classes)
        coords = 2 if background else 0
        self.kv_block = GatedResidualBlock(image_channels * image_keys + self.filters + coords, NetworkInNetwork,
                                           dropout, nonlinearity=nonlinearity, num_classes=num_classes)
        self.q_block = GatedResidualBlock(self.filters + coords, NetworkInNetwork, dropout, nonlinearity=nonlinearity,
                                          num_classes=num_classes)
        self.kv_nin = NetworkInNetwork(self.num_heads * (self.key_dim + self.value_dim))
        self.q_nin = NetworkInNetwork(self.num_heads * self.key_dim)
        self.attention_dropout = Dropout(self.attention_dropout_rate)

    def build(self, input_shape):
        pass  # the sub-layers build themselves on first call

    def get_config(self):
        return {**super().get_config(), "filters": self.filters, "image_channels": self.image_channels,
                "num_heads": self.num_heads, "key_dim": self.key_dim, "value_dim": self.value_dim,
                "dropout": self.dropout_rate, "attention_dropout": self.attention_dropout_rate,
                "nonlinearity": self.nonlinearity_name, "num_classes": self.num_classes,
                "background": self.background, "image_keys": self.image_keys}

    def _query_input(self, features, background):
        return ops.concatenate([features, background], -1) if self.background else features

    def _key_input(self, features, image, background):
        """The keys' and values' input: the raw image, the features and the coordinates, as the switches say."""
        return ops.concatenate([image] * self.image_keys + [features] + [background] * self.background, -1)

    def attend(self, features, image, labels=None, training=False):
        """The attention weights (B, heads, N, N) and the values (B, heads, N, value_dim), N = H * W positions in
        raster order: row q of the weights is how much the query at position q takes from each key, zero for the
        keys at or after q."""
        background = coordinate_channels(features)
        kv = self.kv_nin(self.kv_block(self._key_input(features, image, background), labels=labels,
                                       training=training))
        q = self.q_nin(self.q_block(self._query_input(features, background), labels=labels, training=training))
        n = int(features.shape[1]) * int(features.shape[2])
        heads, dk, dv = self.num_heads, self.key_dim, self.value_dim
        keys, values = ops.split(kv, [heads * dk], axis=-1)

        def to_heads(t, d):  # (B, H, W, heads*d) -> (B, heads, N, d)
            return ops.transpose(ops.reshape(t, (-1, n, heads, d)), [0, 2, 1, 3])

        q, keys, values = to_heads(q, dk), to_heads(keys, dk), to_heads(values, dv)
        mask = ops.convert_to_tensor(strictly_causal_mask(n))  # (N, N): 1 where key index < query index
        logits = ops.matmul(q, ops.swapaxes(keys, -1, -2)) / np.sqrt(dk)
        logits = ops.where(mask > 0, logits, -1e9)
        return ops.softmax(logits, axis=-1) * mask, values  # the first pixel keeps all-zero weights

    def call(self, features, image, labels=None, training=False):
        weights, values = self.attend(features, image, labels, training)
        if self.attention_dropout_rate > 0:
            weights = self.attention_dropout(weights, training=training)
        mixed = ops.matmul(weights, values)  # (B, heads, N, value_dim)
        h, w = int(features.shape[1]), int(features.shape[2])
        return ops.reshape(ops.transpose(mixed, [0, 2, 1, 3]), (-1, h, w, self.num_heads * self.value_dim))

    def start_cache(self, caches, batch, height, width, by="position"):
        """Register the key-value cache: a slot for each of the height * width positions, per head.

        One step is then two small batched matrix products over the whole
        cache, the slots not yet filled masked out as ``call`` masks later
        positions, and storing a position is an in-place scatter.
        """
        n, heads = height * width, self.num_heads
        from .sampling_caches import KeyValueCache

        for part in (self.q_block, self.kv_block, self.q_nin, self.kv_nin):
            part.start_cache(caches, batch, 1, 1)
        caches.add(self, KeyValueCache(batch, heads, n, self.key_dim, self.value_dim))

    def step(self, caches, features, background, p, labels=None):
        """``call`` at raster position p: (B, heads * dv) from the pixels stored before p (zeros for the first).

        features (B, filters), background (B, 2): the coordinate channels at p; labels (B,) or None.
        """
        q = self.q_nin.step(caches, self.q_block.step(caches, self._query_input(features, background),
                                                      labels=labels))
        q = ops.reshape(q, (-1, self.num_heads, 1, self.key_dim))
        keys, values = caches[self].read()
        earlier = ops.arange(keys.shape[2]) < p  # (N,): the strictly causal mask's row p
        logits = ops.matmul(q, ops.swapaxes(keys, -1, -2)) / np.sqrt(self.key_dim)  # (B, heads, 1, N)
        logits = ops.where(earlier, logits, -1e9)
        weights = ops.softmax(logits, axis=-1) * ops.cast(earlier, "float32")
        mixed = ops.matmul(weights, values)  # (B, heads, 1, dv)
        return ops.reshape(mixed, (-1, self.num_heads * self.value_dim))

    def store(self, caches, image, features, background, p, labels=None):
        """Store the key and value of position p, whose pixel ``image`` (B, C) is now known."""
        kv = self.kv_nin.step(caches, self.kv_block.step(caches, self._key_input(features, image, background),
                                                         labels=labels))
        k, v = ops.split(kv, [self.num_heads * self.key_dim], -1)
        caches[self].store(p, ops.reshape(k, (-1, self.key_dim)), ops.reshape(v, (-1, self.value_dim)))


def strictly_causal_mask(n):
    """(n, n) float mask with ones where column < row: strictly earlier positions."""
    idx = np.arange(n)
    return (idx[None, :] < idx[:, None]).astype(np.float32)


def _pair(v):
    if isinstance(v, (int, np.integer)):
        return (int(v), int(v))
    v = tuple(int(a) for a in v)
    if len(v) != 2:
        raise ValueError(f"expected an int or a pair, got {v}")
    return v
