"""PixelSNAIL (Chen et al., 2018): gated residual blocks interleaved with causal attention.

One down-right-shifted stream at full resolution. Each of ``depth`` blocks
runs ``resnets_per_block`` gated residual blocks, then causal self-attention
over all earlier pixels (two coordinate channels tell positions apart), and
merges the attention output back with a 1x1 gated residual block whose
auxiliary input is the attention output.

Two variants, chosen with ``variant``:

* ``"original"``: the reference CIFAR-10 model, ``h12_noup_smallkey``
  (``_base_noup_smallkey_spec`` in neocxi/pixelsnail-public
  ``pixel_cnn_pp/model.py``): one head with ``key_dim`` = 16 dimensional keys
  and queries and ``filters // 2`` wide values; keys and values are computed
  from the raw image, the features and the coordinates.
* ``"multihead"``: this library's multi-head variant: the original model
  with the attention of rosinality/vq-vae-2-pytorch ``pixelsnail.py``
  (``CausalAttention``): ``num_heads`` = 8 heads sharing ``filters // 2``
  channels for queries, keys and values, and dropout on the attention
  weights. Two things stay as in the original on purpose. Keys and values
  are computed from the raw image (rosinality computes them from the block's
  input: safe there, because its residual blocks use "causal" convolutions
  that widen the field to the upper right; with the original's
  down-right-shifted blocks, the last pixel of the row above would then be
  missed by all but the last two pixels of the row, a blind spot that
  ``tests/test_receptive_field.py`` measures with ``image_keys=False``).
  And the head stays the logistic mixture:
  rosinality's model predicts discrete VQ-VAE codes with a softmax.

Both use the reference's residual nonlinearity, ELU (``--resnet_nonlinearity``
defaults to ``elu`` in the reference ``train.py``, and its CIFAR-10 command
keeps it); ``nonlinearity="concat_elu"`` gives PixelCNN++'s.

``background=False`` and ``image_keys=False`` take the coordinate channels,
and the raw image in the keys and values, out of every attention layer (see
``CausalSelfAttention``): switches that the references do not have, for
measuring what each part is worth.
"""

from keras import ops

from .. import nn as L
from ..nn.footprints import CENTRE, EARLIER, Link, kernel_name, residual_links, shift
from ..nn.heads import DiscretizedLogisticMixture, to_unit_range
from ..nn.pixels import draw_pixel, write_pixel
from .base import AutoregressiveModel, pad_with_ones

VARIANTS = ("original", "multihead")


class PixelSNAIL(AutoregressiveModel):
    model_name = "pixelsnail"

    def __init__(self, image_shape, filters=256, depth=12, resnets_per_block=4, num_mixtures=10, dropout=0.5,
                 variant="original", num_heads=None, key_dim=None, nonlinearity="elu", background=True,
                 image_keys=True, num_classes=None, class_names=None, first_pixel_bias=False, **kwargs):
        hparams = self.declared(locals())  # the signature's defaults are the published configuration
        channels = image_shape[-1]
        super().__init__(image_shape, DiscretizedLogisticMixture(num_mixtures, channels), hparams, num_classes,
                         class_names, first_pixel_bias, **kwargs)
        f = filters
        self.variant = variant
        heads, kdim, vdim, attention_dropout = attention_shape(variant, f, num_heads, key_dim, dropout)
        L.check_nonlinearity(nonlinearity)

        def block(conv, has_aux=False):
            return L.GatedResidualBlock(f, conv, dropout, has_aux, nonlinearity=nonlinearity,
                                        num_classes=self.num_classes)

        self.in_down = L.DownShiftedConv2D(f, (1, 3))
        self.in_right = L.DownRightShiftedConv2D(f, (2, 1))
        self.resnets = [[block(L.DownRightShiftedConv2D) for _ in range(resnets_per_block)] for _ in range(depth)]
        self.attentions = [L.CausalSelfAttention(f, channels, heads, kdim, vdim, dropout, attention_dropout,
                                                 nonlinearity, num_classes=self.num_classes, background=background,
                                                 image_keys=image_keys) for _ in range(depth)]
        self.merges = [block(L.NetworkInNetwork, has_aux=True) for _ in range(depth)]
        self.out = L.NetworkInNetwork(self.head.num_params)

    def network(self, x, training, labels=None):
        padded = pad_with_ones(x)
        ul = L.down_shift(self.in_down(padded)) + L.right_shift(self.in_right(padded))
        for resnets, attention, merge in zip(self.resnets, self.attentions, self.merges):
            for block in resnets:
                ul = block(ul, labels=labels, training=training)
            mixed = attention(ul, x, labels=labels, training=training)
            ul = merge(ul, aux=mixed, labels=labels, training=training)
        return self.out(ops.elu(ul))

    def receptive_spec(self):
        """The analytic description of this model (see ``pixelcnn_lib.nn.footprints``), step for step as ``network``."""
        down = shift(self.in_down.footprint(), -1, 0)
        right = shift(self.in_right.footprint(), 0, -1)
        steps = [[
            Link("ul", "x", down, f"down-shifted {kernel_name(self.in_down)}, then down_shift", "input"),
            Link("ul", "x", right, f"down-right-shifted {kernel_name(self.in_right)}, then right_shift", "input"),
        ]]
        for i, (resnets, attention, merge) in enumerate(zip(self.resnets, self.attentions, self.merges)):
            title = f"block {i + 1}"
            for block in resnets:
                steps += residual_links(block, "ul", "t", layer=title,
                                        label=f"residual: down-right-shifted {kernel_name(block.conv1)}, twice")
            steps.append([
                Link("att", "ul", EARLIER, "causal attention: every earlier pixel", title),
                Link("att", "ul", CENTRE, "", title),  # the query comes from the current pixel's features
            ] + [Link("att", "x", EARLIER, "", title)] * attention.image_keys)  # keys and values see the raw pixels
            steps += residual_links(merge, "ul", "t", aux="att", layer=title)
        steps.append([Link("out", "ul", CENTRE)])
        return steps

    cached_sampling = True

    def start_sampling(self, batch):
        h, w, _ = self.image_shape
        from ..nn import caches as C  # cached sampling is TensorFlow's speed path

        caches = C.Caches()
        for layer in (self.in_down, self.in_right, *sum(self.resnets, []), *self.attentions, *self.merges, self.out):
            layer.start_cache(caches, batch, h, w)
        return caches

    def sample_step(self, caches, canvas, i, j, update, seed, labels=None, temperature=1.0, variant=0):
        """``network`` at pixel (i, j) alone, from the caches; then the drawn pixel enters them."""
        h, w, _ = self.image_shape
        p = i * w + j
        background = L.coordinate_channels_at(i, j, h, w, canvas.shape[0])
        # the input convolutions' outputs one row up and one pixel left (down_shift, right_shift)
        above = caches[self.in_down].conv_at(ops.maximum(i - 1, 0), j) * ops.cast(i > 0, "float32")
        left = caches[self.in_right].conv_at(i, ops.maximum(j - 1, 0)) * ops.cast(j > 0, "float32")
        ul = above + left
        features = []
        for resnets, attention, merge in zip(self.resnets, self.attentions, self.merges):
            for block in resnets:
                ul = block.step(caches, ul, i, j, labels=labels)
            features.append(ul)
            mixed = attention.step(caches, ul, background, p, labels=labels)
            ul = merge.step(caches, ul, aux=mixed, labels=labels)
        params = self.out.step(caches, ops.elu(ul))
        params = self.at_first_pixel(params, i, j, labels)
        pixel = draw_pixel(self.head, params, canvas, i, j, update, seed, temperature)

        # the pixel enters the caches: the padded input, then the keys and values
        x = to_unit_range(pixel)
        padded = pad_with_ones(x)
        caches[self.in_down].write(i, j, padded)
        caches[self.in_right].write(i, j, padded)
        for attention, f in zip(self.attentions, features):
            attention.store(caches, x, f, background, p, labels=labels)
        return write_pixel(canvas, i, j, pixel)


def attention_shape(variant, filters, num_heads, key_dim, dropout):
    """(heads, key_dim, value_dim, attention_dropout) of a variant; an error for a setting it ignores."""
    if variant not in VARIANTS:
        raise ValueError(f"variant must be one of {VARIANTS}, got {variant!r}")
    if variant == "original":
        if num_heads is not None:
            raise ValueError(f"the 'original' PixelSNAIL has one attention head; num_heads={num_heads!r} applies "
                             "to variant='multihead' only")
        kdim = 16 if key_dim is None else key_dim
        if not isinstance(kdim, int) or kdim < 1:
            raise ValueError(f"key_dim must be a positive int, got {key_dim!r}")
        if filters < 2:
            raise ValueError(f"the 'original' PixelSNAIL's values are filters // 2 wide; filters={filters} is too few")
        return 1, kdim, filters // 2, 0.0
    if key_dim is not None:
        raise ValueError(f"the 'multihead' PixelSNAIL's heads are (filters // 2) // num_heads wide; key_dim="
                         f"{key_dim!r} applies to variant='original' only")
    heads = 8 if num_heads is None else num_heads
    if not isinstance(heads, int) or heads < 1 or (filters // 2) % heads:
        raise ValueError(f"filters // 2 ({filters // 2}) must be divisible by num_heads ({num_heads!r})")
    return heads, (filters // 2) // heads, (filters // 2) // heads, dropout
