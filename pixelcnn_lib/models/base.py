"""What every model of the family shares: image shape, head, config, input checks."""

from __future__ import annotations

import math

import keras
import numpy as np
from keras import ops

from .. import backend
from .. import layers as L


class AutoregressiveModel(keras.Model):
    """Base class: ``model(x)`` maps images to head parameters.

    x: float32 (B, H, W, C) in [-1, 1], or the uint8 images themselves (they
    are scaled to [-1, 1] first), with (H, W, C) == ``image_shape``.
    returns: float32 (B, H, W, head.num_params).

    The models are ordinary Keras models: ``model.compile(optimizer=...)`` and
    ``model.fit(images)`` train on uint8 images with the loss in bits per
    dimension (``compute_loss``; no ``loss=`` is needed, and none is used),
    ``model.evaluate(images)`` returns that loss, ``model.predict(images)``
    the distribution parameters, and ``model.save("m.keras")`` /
    ``keras.models.load_model("m.keras")`` round-trip (``get_config``).

    Subclasses set ``model_name``, ``defaults`` (their published CIFAR-10
    configuration) and implement ``network(x, training)`` (not ``forward``, which on the PyTorch backend is
    ``torch.nn.Module``'s own and would bypass ``call``).
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
        dtype = backend.dtype_name(x)
        if backend.is_integer_dtype(dtype):  # pixel values 0..255, checked where they are known (eagerly)
            from ..distributions import to_unit_range
            from ..validation import check_images

            x = to_unit_range(check_images(x, self.image_shape[-1]))
        elif not dtype.startswith(("float", "bfloat")):
            raise TypeError(f"{self.model_name} takes integer images (0..255, e.g. uint8) or float images scaled to "
                            f"[-1, 1], got dtype {dtype}")
        return self.network(ops.cast(x, "float32"), training=training)

    def compute_loss(self, x=None, y=None, y_pred=None, sample_weight=None, training=True):
        """The loss of ``fit`` and ``evaluate``: the negative log-likelihood of the uint8 images ``x`` in bits per
        sub-pixel (``training.nll_bits_per_dim``), plus any losses the layers add. ``y`` must be None: the images
        are their own targets."""
        if y is not None:
            raise ValueError(f"{self.model_name} is trained on the images alone: fit(images), not fit(images, y)")
        if not backend.is_integer_dtype(backend.dtype_name(x)):
            raise TypeError(f"fit and evaluate take uint8 images (integer pixel values 0..255, which are the "
                            f"targets), got {backend.dtype_name(x)}")
        log_prob = self.head.log_prob(x, y_pred)  # (B, H, W) nats
        dims = float(np.prod(self.image_shape))
        loss = -ops.mean(ops.sum(log_prob, axis=[1, 2])) / (dims * math.log(2.0))
        loss = loss + sum(self.losses) if self.losses else loss
        # each replica's share, as Keras's own losses give it: the gradients are summed over the replicas,
        # and Keras multiplies the logged loss back
        replicas = backend.replicas_in_sync()
        return loss / replicas if replicas > 1 else loss

    def train_step(self, *args):
        """Keras's training step (any backend), whose logs get an axis of length one across workers.

        Under ``MultiWorkerMirroredStrategy``, ``fit`` averages each value of
        the step's logs over the workers along axis 0, which a scalar does not
        have (tensorflow#72388: Keras 3's ``fit`` fails there on every model);
        the averaged value is a scalar again.
        """
        logs = super().train_step(*args)
        if backend.across_workers(self):
            logs = {key: ops.reshape(value, (1,)) for key, value in logs.items()}
        return logs

    def get_config(self):
        return self.config

    @classmethod
    def from_config(cls, config):
        from . import model_from_config

        config = dict(config)
        if config.get("model") != cls.model_name:
            raise ValueError(f"{cls.__name__} cannot be built from the config of {config.get('model')!r}")
        return model_from_config(config)

    def network(self, x, training):
        raise NotImplementedError

    # cached sampling: a model that sets ``cached_sampling = True`` writes its forward pass a second time,
    # at one position, beside ``network``: ``start_sampling`` makes its layers' caches, ``sample_row`` (for
    # streams that depend on rows above only) runs once at the start of each image row, ``sample_step``
    # draws one (sub-)pixel. ``pixelcnn_lib.cached_sampling`` compiles them and drives them.

    cached_sampling = False

    def start_sampling(self, batch):
        """The sampling caches (``sampling_caches.Caches``) for ``batch`` images."""
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
    return ops.concatenate([x, ops.ones_like(x[..., :1])], axis=-1)


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
        raise RuntimeError(f"data-dependent init did not reach layers {pending}; "
                           "call it eagerly, outside a compiled function")
    return len(targets)
