"""Receptive fields: which input pixels can change the prediction at a pixel.

Two independent ways to find them, which the tests hold against each other:

* **by gradient** (``receptive_field_by_gradient``): differentiate the output
  at a target pixel of a real model (or any stack of layers) with respect to
  its input. A masked kernel tap or a padded-away position contributes an
  exact zero, so the input (sub-)pixels with a non-zero gradient are exactly
  the ones the prediction depends on.
* **analytically** (``analytic_receptive_field``): follow the footprints of
  the layers (read from their own kernel masks, paddings and shifts)
  backwards from the target, one step at a time.

An analytic description ("spec", see ``pixelcnn_lib.nn.footprints``) is a list
of steps of ``Link`` s between streams. Every model writes its own,
``receptive_spec()``, beside its ``network``, from its layers' own
``footprint()``; ``model_spec`` returns it. ``LayerStack`` builds the small
stacks that chapter 3's explorer studies, with their specs.
"""

from __future__ import annotations

import functools

import keras
import numpy as np
from keras import ops

from .. import backend
from .. import nn as L
from ..models import build_model
from ..nn.footprints import CENTRE, EARLIER, Link, kernel_name, residual_links, shift  # noqa: F401

BLOCKS = {
    "masked": "masked convolutions, type A then B (PixelCNN)",
    "gated": "vertical and horizontal stacks (Gated PixelCNN)",
    "shifted": "down- and down-right-shifted streams (PixelCNN++)",
    "attention": "shifted stream with causal attention (PixelSNAIL)",
}


# --------------------------------------------------------------------------
# by gradient
# --------------------------------------------------------------------------


def receptive_field_by_gradient(model, image_shape, target, output_channels=None, samples=None, seed=0, images=None):
    """Gradient magnitude of the prediction at ``target`` with respect to every input sub-pixel.

    Args:
      model: a callable mapping float32 images (B, H, W, C) in [-1, 1] to
        (B, H, W, P): a model from ``pl.build_model``, a ``LayerStack`` or a
        single layer. Keras layers are called with ``training=False``.
      image_shape: (H, W, C).
      target: (row, col), or a list of such pairs.
      output_channels: which of the P outputs at the target to differentiate
        (an int, a slice or a list of ints); all of them by default.
      samples: number of random input images whose gradient magnitudes are
        added up (3 by default; more samples make an accidental zero even
        less likely); all targets and samples go through the model as one
        batch.
      seed: seed of the random inputs.
      images: instead of random inputs, these images (N, H, W, C): uint8
        0..255, or floats in [-1, 1]. Their gradient magnitudes are added
        up; pass ``samples`` or ``images``, not both.

    Returns:
      float32 numpy (H, W, C), or (T, H, W, C) for a list of T targets.
      Entries are zero exactly where the input sub-pixel cannot change the
      prediction: ``field > 0`` is the receptive field.
    """
    h, w, c = _check_image_shape(image_shape)
    single = _is_pair(target)
    if not single and not isinstance(target, (list, tuple)):
        raise ValueError(f"target must be a (row, col) pair or a list of them, got {target!r}")
    targets = [target] if single else list(target)
    if not targets:
        raise ValueError("target must be a (row, col) pair or a non-empty list of them")
    for t in targets:
        if not _is_pair(t):
            raise ValueError(f"each target must be a (row, col) pair, got {t!r}")
        if not (0 <= t[0] < h and 0 <= t[1] < w):
            raise ValueError(f"target {tuple(t)} lies outside the {h}x{w} image")
    if images is None:
        samples = 3 if samples is None else samples
        if not isinstance(samples, (int, np.integer)) or samples < 1:
            raise ValueError(f"samples must be a positive int, got {samples!r}")
        images = np.random.default_rng(seed).uniform(-1.0, 1.0, size=(samples, h, w, c)).astype(np.float32)
    elif samples is not None:
        raise ValueError("pass samples (random inputs) or images, not both")
    else:
        images = _check_images(images, (h, w, c))
    samples, count = len(images), len(targets)
    select = np.zeros((count, h, w, 1), np.float32)  # one-hot: batch element t differentiates target t
    for i, (row, col) in enumerate(targets):
        select[i, row, col, 0] = 1.0
    x = np.repeat(images[:, None], count, axis=1).reshape(samples * count, h, w, c)  # sample-major
    select = np.tile(select, (samples, 1, 1, 1))

    def objective(x):
        y = _call(model, x)
        if len(y.shape) != 4 or tuple(y.shape[1:3]) != (h, w):
            raise ValueError(f"the model must map (B, {h}, {w}, {c}) to (B, {h}, {w}, P), got {tuple(y.shape)}")
        return ops.sum(_select_channels(y, output_channels) * ops.convert_to_tensor(select, y.dtype))

    gradient = np.abs(backend.input_gradient(objective, x)).reshape(samples, count, h, w, c)
    total = gradient.sum(axis=0)
    return total[0] if single else total


def _check_images(images, image_shape):
    """Images (N, *image_shape), uint8 0..255 or floats in [-1, 1] -> float32 in [-1, 1]."""
    images = np.asarray(images)
    if images.ndim != 4 or images.shape[1:] != tuple(image_shape) or len(images) == 0:
        raise ValueError(f"images must be an array (N, {', '.join(map(str, image_shape))}) with N >= 1, "
                         f"got shape {images.shape}")
    if images.dtype == np.uint8:
        return images.astype(np.float32) / 127.5 - 1.0
    if not np.issubdtype(images.dtype, np.floating):
        raise ValueError(f"images must be uint8 (0..255) or floats in [-1, 1], got dtype {images.dtype}")
    if not np.isfinite(images).all() or np.abs(images).max() > 1.0:
        raise ValueError("float images must be finite and in [-1, 1] (convert uint8 with x / 127.5 - 1)")
    return images.astype(np.float32)


def _call(model, x):
    if isinstance(model, keras.layers.Layer):
        return model(x, training=False)
    if callable(model):
        return model(x)
    raise TypeError(f"model must be callable (a keras model or layer, or a function), got {type(model).__name__}")


def _select_channels(y, channels):
    if channels is None:
        return y
    p = int(y.shape[-1])
    if isinstance(channels, slice):
        index = list(range(p))[channels]
    elif isinstance(channels, (int, np.integer)):
        index = [int(channels)]
    else:
        index = [int(i) for i in channels]
    if not index or min(index) < -p or max(index) >= p:
        raise ValueError(f"output_channels {channels!r} do not select from the model's {p} outputs")
    return ops.take(y, index, axis=-1)


# --------------------------------------------------------------------------
# analytically
# --------------------------------------------------------------------------


def analytic_receptive_field(spec, image_shape, target, input="x", output=None):
    """The pixels that the prediction at ``target`` depends on, from a spec.

    Args:
      spec: a list of steps, each a list of ``Link``; or an object with a
        ``spec`` attribute (a ``LayerStack``).
      image_shape: (H, W) or (H, W, C); channels do not matter here.
      target: (row, col).
      input: the stream that holds the image.
      output: the stream the prediction comes from; by default the first
        output of the last step.

    Returns bool numpy (H, W): True where the input pixel is in the field.
    """
    steps = getattr(spec, "spec", spec)
    if not steps or not all(isinstance(link, Link) for step in steps for link in step):
        raise TypeError("spec must be a non-empty list of steps, each a list of Link")
    if len(image_shape) not in (2, 3):
        raise ValueError(f"image_shape must be (H, W) or (H, W, C), got {tuple(image_shape)}")
    h, w = int(image_shape[0]), int(image_shape[1])
    if not _is_pair(target) or not (0 <= target[0] < h and 0 <= target[1] < w):
        raise ValueError(f"target must be a (row, col) inside the {h}x{w} image, got {target!r}")
    output = output or steps[-1][0].output
    needed = {output: {tuple(int(t) for t in target)}}
    for step in reversed(steps):
        written = {link.output for link in step}
        reads = {stream: set(pos) for stream, pos in needed.items() if stream not in written}
        for link in step:
            if link.output in needed:
                reads.setdefault(link.input, set()).update(_reach(needed[link.output], link.offsets, h, w))
        needed = reads
    unknown = sorted(set(needed) - {input})
    if unknown:
        raise ValueError(f"streams {unknown} are read but never written by the spec")
    field = np.zeros((h, w), bool)
    for row, col in needed.get(input, ()):
        field[row, col] = True
    return field


def _reach(positions, offsets, h, w):
    """Input positions read by ``positions`` through ``offsets``, inside the image."""
    if not positions:
        return set()
    if offsets == EARLIER:
        last = max(row * w + col for row, col in positions)
        return {divmod(k, w) for k in range(last)}
    return {
        (row + dy, col + dx)
        for row, col in positions
        for dy, dx in offsets
        if 0 <= row + dy < h and 0 <= col + dx < w
    }


def conv_footprint(conv):
    """Offsets (dy, dx) that a built stride-1 ``WeightNormConv2D`` reads: its own ``footprint()``."""
    if not isinstance(conv, L.WeightNormConv2D):
        raise TypeError(f"conv_footprint needs a WeightNormConv2D, got {type(conv).__name__}")
    return conv.footprint()


def model_spec(model):
    """The analytic spec of a model from ``pl.build_model``: its own ``receptive_spec()`` (all but PixelCNN++,
    which changes resolution on the way, which offsets cannot describe: use ``receptive_field_by_gradient``)."""
    if not hasattr(model, "receptive_spec"):
        raise TypeError(f"expected a model made by pl.build_model, got {type(model).__name__}")
    return model.receptive_spec()


# --------------------------------------------------------------------------
# the stacks of chapter 3's explorer
# --------------------------------------------------------------------------


class ShiftedStack(keras.Model):
    """The two streams of PixelCNN++ at one resolution (no down-sampling).

    ``u`` sees the rows above (down-shifted convolutions), ``ul`` the rows
    above and the pixels to the left (down-right-shifted convolutions, plus
    ``u`` through a 1x1 link). ``depth`` gated residual blocks per stream
    follow the input layer. ``kernel`` k gives (k//2+1) x k down-shifted and
    (k//2+1) x (k//2+1) down-right-shifted kernels (2x3 and 2x2 for k = 3,
    as in the paper). Returns the ``ul`` stream, (B, H, W, filters).
    """

    def __init__(self, kernel=3, depth=1, filters=8, **kwargs):
        super().__init__(**kwargs)
        if kernel % 2 == 0 or kernel < 3:
            raise ValueError(f"kernel must be odd and at least 3, got {kernel}")
        rows = kernel // 2 + 1
        self.u_in = L.DownShiftedConv2D(filters, (rows, kernel))
        self.ul_in_down = L.DownShiftedConv2D(filters, (1, kernel))
        self.ul_in_right = L.DownRightShiftedConv2D(filters, (rows, kernel // 2))
        down = functools.partial(L.DownShiftedConv2D, kernel_size=(rows, kernel))
        down_right = functools.partial(L.DownRightShiftedConv2D, kernel_size=(rows, rows))
        self.u_blocks = [L.GatedResidualBlock(filters, down) for _ in range(depth)]
        self.ul_blocks = [L.GatedResidualBlock(filters, down_right, has_aux=True) for _ in range(depth)]

    def call(self, x, training=False):
        u = L.down_shift(self.u_in(x))
        ul = L.down_shift(self.ul_in_down(x)) + L.right_shift(self.ul_in_right(x))
        for u_block, ul_block in zip(self.u_blocks, self.ul_blocks):
            u = u_block(u, training=training)
            ul = ul_block(ul, aux=u, training=training)
        return ul

    @property
    def spec(self):
        steps = [[
            Link("u", "x", shift(conv_footprint(self.u_in), -1, 0),
                 f"u: down-shifted {kernel_name(self.u_in)}, then down_shift", "input"),
            Link("ul", "x", shift(conv_footprint(self.ul_in_down), -1, 0),
                 f"ul: down-shifted {kernel_name(self.ul_in_down)}, then down_shift", "input"),
            Link("ul", "x", shift(conv_footprint(self.ul_in_right), 0, -1),
                 f"ul: down-right-shifted {kernel_name(self.ul_in_right)}, then right_shift", "input"),
        ]]
        for i, (u_block, ul_block) in enumerate(zip(self.u_blocks, self.ul_blocks)):
            title = f"block {i + 1}"
            steps += residual_links(u_block, "u", "t", label=f"u: down-shifted {kernel_name(u_block.conv1)}, twice",
                               layer=title)
            steps += residual_links(ul_block, "ul", "t", aux="u",
                               label=f"ul: down-right-shifted {kernel_name(ul_block.conv1)}, twice", layer=title)
        return steps


def stack_key(block, kernel, depth):
    """The ``LayerStack`` that (block, kernel, depth) builds: attention ignores the kernel (PixelSNAIL fixes it)."""
    return (block, 3 if block == "attention" else kernel, depth)


class LayerStack:
    """One of the explorer's four building blocks, built small, with its analytic spec.

    ``block``: "masked", "gated", "shifted" or "attention" (see ``BLOCKS``).
    ``kernel``: 3 or 5 (the masked and gated kernels, and the shifted
    kernels as in ``ShiftedStack``; PixelSNAIL's kernels are fixed at 2x2).
    ``depth``: the number of layers (or blocks) after the input layer.

    The masked, gated and attention blocks are the library's real models
    (``pixelcnn``, ``gated_pixelcnn``, ``pixelsnail``) with few filters;
    ``shifted`` is a ``ShiftedStack``. ``stack(x)`` runs it; ``spec`` is its
    analytic description; ``patterns()`` lists the footprint of each layer.
    """

    def __init__(self, block, kernel=3, depth=1, image_shape=(7, 7, 1), filters=8):
        if block not in BLOCKS:
            raise ValueError(f"unknown block {block!r}; choose one of {list(BLOCKS)}")
        if not isinstance(depth, (int, np.integer)) or depth < 1:
            raise ValueError(f"depth must be a positive int, got {depth!r}")
        self.block, self.kernel, self.depth = block, int(kernel), int(depth)
        self.image_shape = _check_image_shape(image_shape)
        if block == "masked":
            self.model = build_model("pixelcnn", self.image_shape, filters=filters, depth=depth,
                                     first_kernel=kernel, kernel=kernel, head_filters=2 * filters)
        elif block == "gated":
            channels = self.image_shape[-1]
            self.model = build_model("gated_pixelcnn", self.image_shape, filters=2 * channels * filters,
                                     depth=depth + 1, kernel=kernel, head_filters=2 * filters)
        elif block == "attention":
            self.model = build_model("pixelsnail", self.image_shape, filters=2 * filters, depth=depth,
                                     resnets_per_block=1, num_mixtures=1, dropout=0.0, key_dim=4)
        else:
            self.model = ShiftedStack(kernel, depth, filters)
            self.model(np.zeros((1, *self.image_shape), np.float32))  # build, so the masks exist
        self.spec = self.model.spec if block == "shifted" else model_spec(self.model)

    def __call__(self, x, training=False):
        return self.model(x, training=training)

    def patterns(self):
        """[(layer title, [(label, offsets), ...]), ...]: the labelled footprints, layer by layer."""
        return spec_patterns(self.spec)

    def field(self, target, samples=3, seed=0):
        """Bool (H, W) (or (T, H, W) for a list of targets): the receptive field by gradient."""
        return receptive_field_by_gradient(self.model, self.image_shape, target,
                                           samples=samples, seed=seed).any(axis=-1)

    def analytic_field(self, target):
        """Bool (H, W): the receptive field from the spec."""
        return analytic_receptive_field(self.spec, self.image_shape, target)


def spec_patterns(spec):
    """[(layer title, [(label, offsets), ...]), ...]: the labelled footprints of a spec, layer by layer."""
    rows = {}
    for step in getattr(spec, "spec", spec):
        for link in step:
            if link.label:
                entries = rows.setdefault(link.layer, [])
                if (link.label, link.offsets) not in entries:
                    entries.append((link.label, link.offsets))
    return list(rows.items())


def earlier_pixels(image_shape, target):
    """Bool (H, W): the pixels strictly before ``target`` in raster order (what a model may see)."""
    h, w = image_shape[:2]
    row, col = target
    return (np.arange(h * w) < row * w + col).reshape(h, w)


def unseen_earlier(field, target):
    """Bool (H, W): the earlier pixels that the field misses. ``field`` is (H, W) or (H, W, C).

    They are out of reach (a deeper stack would see them) or in a blind spot
    (no depth helps); a model deep enough for the image has only the latter.
    """
    field = np.asarray(field)
    if field.ndim == 3:
        field = field.any(axis=-1)
    return earlier_pixels(field.shape, target) & ~(field > 0)


def field_text(field, target=None):
    """A field as text, one line per row: 'x' seen, '.' not seen, 'o' the target.

    ``field``: (H, W) or (H, W, C), non-zero where the input is seen.
    """
    field = np.asarray(field)
    if field.ndim == 3:
        field = field.any(axis=-1)
    if field.ndim != 2:
        raise ValueError(f"field must be (H, W) or (H, W, C), got shape {field.shape}")
    marks = np.where(field > 0, "x", ".")
    if target is not None:
        marks[tuple(target)] = "o"
    return "\n".join(" ".join(row) for row in marks)


def _check_image_shape(image_shape):
    shape = tuple(int(d) for d in image_shape)
    if len(shape) != 3 or min(shape) < 1:
        raise ValueError(f"image_shape must be (H, W, C) with positive sizes, got {tuple(image_shape)}")
    return shape


def _is_pair(t):
    return isinstance(t, (tuple, list, np.ndarray)) and len(t) == 2 and all(
        isinstance(v, (int, np.integer)) for v in t)


__all__ = [
    "BLOCKS", "CENTRE", "EARLIER", "Link", "LayerStack", "ShiftedStack", "analytic_receptive_field",
    "conv_footprint", "earlier_pixels", "field_text", "model_spec", "receptive_field_by_gradient", "shift",
    "spec_patterns", "unseen_earlier",
]


def attention_maps(model, images, labels=None):
    """What every attention layer of a PixelSNAIL attends to, at ``images``.

    images: uint8 (B, H, W, C); labels: as for ``pl.log_prob`` (a class-conditional model needs them). Returns one
    float32 numpy array per attention layer, (B, heads, N, N) with N = H * W positions in raster order: row q is the
    distribution over the earlier positions from which the query at position q takes its values (zeros for the
    first position, which has none). Dropout is off. The arrays are the layers' own weights
    (``CausalSelfAttention.attend``), recorded during one forward pass.
    """
    from ..models.base import _inputs, model_labels
    from ..nn.heads import to_unit_range

    attentions = list(getattr(model, "attentions", None) or [])
    if not attentions:
        raise ValueError(f"attention_maps needs a model with attention layers (a PixelSNAIL), got "
                         f"{type(model).__name__}")
    images = np.asarray(images)
    if images.dtype != np.uint8 or images.ndim != 4 or images.shape[1:] != tuple(model.image_shape):
        raise ValueError(f"images must be uint8 of shape (B, {', '.join(map(str, model.image_shape))}), got "
                         f"{images.dtype} {images.shape}")
    labels = model_labels(model, labels, len(images))
    recorded = []

    def recording(layer):
        def call(features, image, labels=None, training=False):
            weights, _ = layer.attend(features, image, labels, training)
            recorded.append(keras.ops.convert_to_numpy(weights))
            return type(layer).call(layer, features, image, labels=labels, training=training)
        return call

    for layer in attentions:
        object.__setattr__(layer, "call", recording(layer))
    try:
        model(_inputs(to_unit_range(images), labels), training=False)
    finally:
        for layer in attentions:
            object.__delattr__(layer, "call")
    return recorded
