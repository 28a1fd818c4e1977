"""PixelSNAIL's causal self-attention over all earlier pixels, and the coordinate channels its queries read.

Shapes are (batch, height, width, channels) throughout.
"""

from __future__ import annotations

import keras
import numpy as np
from keras import ops

from .blocks import Dropout, GatedResidualBlock
from .convolutions import NetworkInNetwork, serializable


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
        from .caches import KeyValueCache

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
