"""What every model of the family shares: image shape, head, config, input checks."""

from __future__ import annotations

import keras
import tensorflow as tf

from .. import layers as L


class AutoregressiveModel(keras.Model):
    """Base class: ``model(x)`` maps images in [-1, 1] to head parameters.

    x: float32 (B, H, W, C) with (H, W, C) == ``image_shape``.
    returns: float32 (B, H, W, head.num_params).

    Subclasses set ``model_name``, ``defaults`` (their published CIFAR-10
    configuration) and implement ``forward(x, training)``.
    """

    model_name = None
    defaults: dict = {}
    min_image_size = 1

    def __init__(self, image_shape, head, hparams, **kwargs):
        super().__init__(name=kwargs.pop("name", self.model_name), **kwargs)
        self.image_shape = tuple(image_shape)
        self.head = head
        self._hparams = dict(hparams)

    @property
    def hparams(self) -> dict:
        return dict(self._hparams)

    @property
    def config(self) -> dict:
        """Everything needed to rebuild this model: name, image shape, hparams."""
        return {"model": self.model_name, "image_shape": list(self.image_shape), **self._hparams}

    def call(self, x, training=False):
        shape = tuple(x.shape[1:])
        if len(x.shape) != 4:
            raise ValueError(f"{self.model_name} expects images of shape (batch, H, W, C), got {tuple(x.shape)}")
        if shape != self.image_shape:
            raise ValueError(f"{self.model_name} was built for images of shape {self.image_shape}, got {shape}")
        dtype = tf.as_dtype(x.dtype)
        if not dtype.is_floating:
            raise TypeError(
                f"{self.model_name} takes float images scaled to [-1, 1], got dtype {dtype.name}; convert uint8 "
                "images with pixelcnn_lib.distributions.to_unit_range (pl.log_prob and pl.sample do this)"
            )
        return self.forward(tf.cast(x, tf.float32), training=training)

    def forward(self, x, training):
        raise NotImplementedError

    # cached sampling: a model that sets ``cached_sampling = True`` writes its forward pass a second time,
    # at one position, beside ``forward``: ``start_sampling`` makes its layers' caches, ``sample_row`` (for
    # streams that depend on rows above only) runs once at the start of each image row, ``sample_step``
    # draws one (sub-)pixel. ``pixelcnn_lib.cached_sampling`` compiles them and drives them.

    cached_sampling = False

    def start_sampling(self, batch):
        """The sampling caches (``layers.Caches``) for ``batch`` images."""
        raise NotImplementedError(f"{self.model_name} has no cached sampler")

    def sample_row(self, caches, canvas, i, variant=0):
        """Work done once per image row i, before its pixels: nothing unless a model overrides it."""

    def sample_step(self, caches, canvas, i, j, update, seed, variant=0):
        """Draw the sub-pixels ``update`` (B, C) of pixel (i, j), update the caches, return the canvas."""
        raise NotImplementedError(f"{self.model_name} has no cached sampler")

    def sampling_variant(self, *coordinates):
        """A Python int: which compiled version of ``sample_row`` / ``sample_step`` a row or position runs."""
        return 0


def pad_with_ones(x):
    """Append a channel of ones, so zero padding is distinguishable from black pixels."""
    return tf.concat([x, tf.ones_like(x[..., :1])], axis=-1)


def data_dependent_init(model, images):
    """Initialise weight-normalised layers from one batch (Salimans and Kingma, 2016).

    Runs ``model`` once, eagerly, on ``images`` (uint8 (B, H, W, C)); each
    weight-normalised layer, in the order the forward pass reaches it, sets its
    scale and bias so that its outputs on this batch have mean 0 and standard
    deviation ``init_scale``. Returns the number of layers initialised.
    """
    from ..distributions import to_unit_range
    from ..validation import check_images

    images = check_images(images, model.image_shape[-1])
    targets = [
        layer for layer in model._flatten_layers(include_self=False, recursive=True)
        if isinstance(layer, (L.WeightNormConv2D, L.WeightNormConv2DTranspose))
    ]
    for layer in targets:
        layer.init_pending = True
    try:
        model(to_unit_range(images), training=False)
    finally:
        pending = [layer.name for layer in targets if layer.init_pending]
        for layer in targets:
            layer.init_pending = False
    if pending:
        raise RuntimeError(f"data-dependent init did not reach layers {pending}; call it outside tf.function")
    return len(targets)
