"""Fast sampling with per-layer caches (the idea of "Fast PixelCNN++", Ramachandran et al., 2017).

Naive sampling runs the whole network on the whole canvas for every pixel,
although a new pixel only changes what comes after it. Cached sampling keeps,
for every convolution, the inputs it has already seen, and for every
attention layer, the keys and values of the pixels already generated. Each
step then computes the network at one position only:

* a shifted convolution reads its small window (e.g. 2x2 above-left) from its
  input cache, after the new input at the current position has been written
  (``WeightNormConv2D.start_cache`` and ``step`` in ``nn/convolutions.py``);
* 1x1 layers (network-in-network, gates, the attention's own residual blocks)
  are applied to the current position alone;
* attention compares the current query with the cached keys of all earlier
  pixels; once the pixel is drawn, its key and value (which contain the raw
  pixel) are appended (``CausalSelfAttention.step`` and ``store``).

Each model that supports it (``cached_sampling = True``) writes its pass at
one position beside its ``network``, with the same blocks in the same order:
``start_sampling``, ``sample_row`` and ``sample_step``. This module compiles
those and runs them through the fill loop of ``sampling.loop``, which naive
sampling uses too. The results equal naive sampling up to floating-point
rounding: with the same seed, the same draws are made from (numerically) the
same parameters.
"""

from __future__ import annotations

import weakref

from keras import ops

from .. import backend
from ..compiled import per_model
from ..models.base import AutoregressiveModel
from ..nn.heads import check_temperature
from ..nn.pixels import index
from .loop import fill


class CachedSampler:
    """A model's cached sampler for a fixed batch size: its caches and its compiled row and step functions."""

    skips_known = False  # every pixel, known or drawn, must enter the caches

    def __init__(self, model, batch):
        self._model = weakref.ref(model)  # kept by ``compiled.per_model``: it must not keep the model alive
        self.caches = model.start_sampling(batch)
        self._rows, self._steps = {}, {}
        self._by_rows = type(model).sample_row is not AutoregressiveModel.sample_row
        self.labels, self.temperature = None, None  # set by ``fill``

    @property
    def model(self):
        return self._model()

    def start(self):
        """Clear the caches and take the model's current weights."""
        self.caches.reset()

    def row(self, canvas, i):
        if not self._by_rows:
            return
        variant = self.model.sampling_variant(i)
        if variant not in self._rows:
            self._rows[variant] = backend.compile_function(
                lambda canvas, i, labels: self.model.sample_row(self.caches, canvas, i, labels, variant))
        self._rows[variant](canvas, index(i), self.labels)

    def step(self, canvas, i, j, update, seed):
        variant = self.model.sampling_variant(i, j)
        if variant not in self._steps:
            self._steps[variant] = backend.compile_function(
                lambda canvas, i, j, update, seed, labels, temperature: self.model.sample_step(
                    self.caches, canvas, i, j, update, seed, labels, temperature, variant))
        return self._steps[variant](canvas, index(i), index(j), update, seed,
                                    self.labels, self.temperature)

    def fill(self, canvas, unknown, seed, progress=None, labels=None, temperature=1.0):
        """Sample the unknown pixels: uint8 canvas (B, H, W, C), bool unknown (B, H, W), labels (B,) or None."""
        self.labels = None if labels is None else ops.convert_to_tensor(labels)
        self.temperature = check_temperature(temperature)
        passes = self.model.head.passes_per_pixel
        return fill(self, canvas, unknown, seed, passes, progress)


def cached_sampler(model, batch):
    """The cached sampler for ``model`` (reused across calls with the same batch size)."""
    if not getattr(model, "cached_sampling", False):
        from ..models import MODELS

        names = sorted(name for name, cls in MODELS.items() if cls.cached_sampling)
        raise ValueError(f"cached sampling is available for {names}, not {model.model_name!r}; use method='naive'")
    if backend.name() != "tensorflow":
        raise ValueError(f"cached sampling runs on the TensorFlow backend (its caches are variables written in place), "
                         f"not on {backend.name()!r}; use method='naive'")
    return per_model(model, ("cached sampler", batch), lambda: CachedSampler(model, batch))
