"""The blocks built from the convolutions: nonlinearities, gates, dropout, class biases and the gated residual block.

Shapes are (batch, height, width, channels) throughout.
"""

from __future__ import annotations

import keras
from keras import ops

from .convolutions import NetworkInNetwork, serializable


def concat_elu(x):
    """ELU of [x, -x] along channels: keeps both signs' information. C -> 2C."""
    return ops.elu(ops.concatenate([x, -x], axis=-1))


NONLINEARITIES = {"concat_elu": concat_elu, "elu": ops.elu, "relu": ops.relu}


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
