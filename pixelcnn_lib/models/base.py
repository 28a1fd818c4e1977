"""What every model of the family shares: image shape, head, config, input checks."""

from __future__ import annotations

import inspect
import math

import keras
import numpy as np
from keras import ops

from .. import backend
from .. import nn as L
from ..validation import check_image_shape, check_labels

MODELS: dict = {}  # model name -> class: every subclass with a ``model_name`` registers itself
_NOT_HPARAMS = {"self", "image_shape", "num_classes", "class_names", "first_pixel_bias"}


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

    A class-conditional model (``num_classes=K``) takes a dict instead of the
    images, ``{"images": x, "labels": y}`` with int labels y (B,) in
    0..K-1, everywhere: ``model(inputs)``, ``fit``, ``evaluate``,
    ``predict``. ``class_names`` (optional, K strings) travel with the
    saved model, so a label can be given by name (``class_index``).

    Subclasses set ``model_name``, ``defaults`` (their published CIFAR-10
    configuration) and implement ``network(x, training, labels)`` (not ``forward``, which on the PyTorch backend
    is ``torch.nn.Module``'s own and would bypass ``call``); ``labels`` is None for an unconditional model.
    """

    model_name = None
    defaults: dict = {}
    min_image_size = 1

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        if cls.model_name is not None:
            # the hyper-parameters are declared once, as the arguments of ``__init__`` with their defaults (the
            # published configuration); ``defaults``, ``hparams``, ``get_config``, ``build_model``'s checks and
            # the command line's ``--hparam`` all follow from them
            cls.defaults = {name: p.default for name, p in inspect.signature(cls.__init__).parameters.items()
                            if name not in _NOT_HPARAMS and p.kind is p.POSITIONAL_OR_KEYWORD}
            MODELS[cls.model_name] = cls

    @classmethod
    def declared(cls, arguments):
        """The hyper-parameters among ``__init__``'s ``arguments`` (its ``locals()``), by name."""
        return {name: arguments[name] for name in cls.defaults}

    def __init__(self, image_shape, head, hparams, num_classes=None, class_names=None, first_pixel_bias=False,
                 **kwargs):
        super().__init__(name=kwargs.pop("name", self.model_name), **kwargs)
        self.image_shape = tuple(image_shape)
        self.head = head
        self._hparams = dict(hparams)
        self.num_classes, self.class_names = check_classes(num_classes, class_names)
        if not isinstance(first_pixel_bias, bool):
            raise ValueError(f"first_pixel_bias must be True or False, got {first_pixel_bias!r}")
        # a departure from the references, off by default: see ``first_pixel``
        self.first_pixel_bias = L.ClassBias(num_classes or 1, head.num_params, initial_stddev=0.0) \
            if first_pixel_bias else None

    @property
    def hparams(self) -> dict:
        return dict(self._hparams)

    @property
    def conditional(self) -> bool:
        """Whether the model is class-conditional (built with ``num_classes``)."""
        return self.num_classes is not None

    @property
    def config(self) -> dict:
        """Everything needed to rebuild this model: name, image shape, hparams (and classes, if conditional)."""
        config = {"model": self.model_name, "image_shape": list(self.image_shape), **self._hparams}
        if self.conditional:
            config["num_classes"] = self.num_classes
            if self.class_names is not None:
                config["class_names"] = list(self.class_names)
        if self.first_pixel_bias is not None:
            config["first_pixel_bias"] = True
        return config

    def class_index(self, name):
        """The label of the class called ``name``; a clear error for a name the model does not know."""
        if not self.conditional:
            raise ValueError(f"{self.model_name} is unconditional: it has no classes")
        if self.class_names is None:
            raise ValueError(f"this model's {self.num_classes} classes have no names; give labels 0..."
                             f"{self.num_classes - 1}")
        if name not in self.class_names:
            raise ValueError(f"the model has no class {name!r}; its classes are {list(self.class_names)}")
        return self.class_names.index(name)

    def split_inputs(self, inputs):
        """(images, labels) of what the model is given: the images alone, or ``{"images": ..., "labels": ...}``
        for a class-conditional model (labels None for an unconditional one). Checks the labels."""
        from ..validation import check_labels

        if isinstance(inputs, dict):
            unknown = sorted(set(inputs) - {"images", "labels"})
            if unknown or "images" not in inputs:
                raise ValueError(f"{self.model_name} takes a dict with keys 'images' and 'labels', got keys "
                                 f"{sorted(inputs)}")
            images, labels = inputs["images"], inputs.get("labels")
        else:
            images, labels = inputs, None
        if not self.conditional:
            if labels is not None:
                raise ValueError(f"labels were given to an unconditional {self.model_name}; build it with "
                                 "num_classes=K to condition on classes")
            return images, None
        if labels is None:
            raise ValueError(f"this {self.model_name} is class-conditional ({self.num_classes} classes): give "
                             "{'images': images, 'labels': labels}, labels int (B,) in 0.."
                             f"{self.num_classes - 1}")
        return images, check_labels(labels, self.num_classes, images.shape[0])

    def inputs_for(self, images, labels=None):
        """What ``call`` takes for ``images`` and ``labels``: the images, or the dict of both."""
        return images if labels is None else {"images": images, "labels": labels}

    def call(self, inputs, training=False):
        x, labels = self.split_inputs(inputs)
        shape = tuple(x.shape[1:])
        if len(x.shape) != 4:
            raise ValueError(f"{self.model_name} expects images of shape (batch, H, W, C), got {tuple(x.shape)}")
        if shape != self.image_shape:
            raise ValueError(f"{self.model_name} was built for images of shape {self.image_shape}, got {shape}")
        dtype = backend.dtype_name(x)
        if backend.is_integer_dtype(dtype):  # pixel values 0..255, checked where they are known (eagerly)
            from ..nn.heads import to_unit_range
            from ..validation import check_images

            x = to_unit_range(check_images(x, self.image_shape[-1]))
        elif not dtype.startswith(("float", "bfloat")):
            raise TypeError(f"{self.model_name} takes integer images (0..255, e.g. uint8) or float images scaled to "
                            f"[-1, 1], got dtype {dtype}")
        params = self.network(ops.cast(x, "float32"), training=training, labels=labels)
        if self.first_pixel_bias is None:
            return params
        h, w, _ = self.image_shape
        at_first = np.zeros((1, h, w, 1), np.float32)
        at_first[0, 0, 0, 0] = 1.0
        return params + at_first * self.first_pixel(labels, ops.shape(x)[0])[:, None, None, :]

    def first_pixel(self, labels, batch):
        """The learnt offset of the head's parameters at the first pixel, (B, P) (``first_pixel_bias=True``).

        A departure from the reference models, off by default. The first
        pixel has no earlier pixels: its features are the same for every
        image, and its distribution is set by weights that every other pixel
        shares and whose gradients those other 1,023 pixels (at 32x32)
        dominate. On a short budget it is learnt last, yet every sample starts
        from it, and a first draw the data never shows (a saturated red where
        the photographs have a white background) sends the rest of the image
        off. A free vector per class (zeros at the start) added to the
        parameters there gets its own step size from Adam and learns the
        first pixel's distribution, p(x_1 | class), within a few hundred steps.
        """
        classes = ops.zeros((batch,), "int32") if labels is None else labels
        return self.first_pixel_bias(classes)

    def at_first_pixel(self, params, i, j, labels):
        """``params`` (B, P) of pixel (i, j) in a cached sampling step, with the first-pixel offset at (0, 0)."""
        if self.first_pixel_bias is None:
            return params
        first = ops.cast(ops.logical_and(ops.equal(i, 0), ops.equal(j, 0)), "float32")
        return params + first * self.first_pixel(labels, ops.shape(params)[0])

    def compute_loss(self, x=None, y=None, y_pred=None, sample_weight=None, training=True):
        """The loss of ``fit`` and ``evaluate``: the negative log-likelihood of the uint8 images ``x`` in bits per
        sub-pixel (``training.nll_bits_per_dim``), plus any losses the layers add. ``y`` must be None: the images
        are their own targets (a conditional model's labels come with them: ``x = {"images", "labels"}``)."""
        if y is not None:
            hint = (' (a class-conditional model takes fit({"images": x, "labels": y}))' if self.conditional
                    else "")
            raise ValueError(f"{self.model_name} is trained on the images alone: fit(images), not fit(images, y)"
                             + hint)
        x, _ = self.split_inputs(x)
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
        config = dict(config)
        if config.get("model") != cls.model_name:
            raise ValueError(f"{cls.__name__} cannot be built from the config of {config.get('model')!r}")
        return model_from_config(config)

    def network(self, x, training, labels=None):
        raise NotImplementedError

    # cached sampling: a model that sets ``cached_sampling = True`` writes its forward pass a second time,
    # at one position, beside ``network``: ``start_sampling`` makes its layers' caches, ``sample_row`` (for
    # streams that depend on rows above only) runs once at the start of each image row, ``sample_step``
    # draws one (sub-)pixel. ``pixelcnn_lib.sampling.cached`` compiles them and drives them.

    cached_sampling = False

    def start_sampling(self, batch):
        """The sampling caches (``sampling_caches.Caches``) for ``batch`` images."""
        raise NotImplementedError(f"{self.model_name} has no cached sampler")

    def sample_row(self, caches, canvas, i, labels=None, variant=0):
        """Work done once per image row i, before its pixels: nothing unless a model overrides it."""

    def sample_step(self, caches, canvas, i, j, update, seed, labels=None, temperature=1.0, variant=0):
        """Draw the sub-pixels ``update`` (B, C) of pixel (i, j) at ``temperature``, update the caches, return
        the canvas. ``labels`` (B,) for a class-conditional model, else None."""
        raise NotImplementedError(f"{self.model_name} has no cached sampler")

    def sampling_variant(self, *coordinates):
        """A Python int: which compiled version of ``sample_row`` / ``sample_step`` a row or position runs."""
        return 0


def check_classes(num_classes, class_names):
    """(num_classes, class_names) checked: None, or an int >= 1 with None or that many distinct strings."""
    if num_classes is None:
        if class_names is not None:
            raise ValueError("class_names were given without num_classes")
        return None, None
    if isinstance(num_classes, bool) or not isinstance(num_classes, (int, np.integer)) or num_classes < 1:
        raise ValueError(f"num_classes must be None (unconditional) or a positive int, got {num_classes!r}")
    if class_names is not None:
        if isinstance(class_names, str):
            raise ValueError(f"class_names must be a list of {num_classes} names, got the string {class_names!r}")
        class_names = [str(c) for c in class_names]
        if len(class_names) != num_classes or len(set(class_names)) != num_classes:
            raise ValueError(f"class_names must be {num_classes} distinct names, got {class_names!r}")
    return int(num_classes), class_names


def pad_with_ones(x):
    """Append a channel of ones, so zero padding is distinguishable from black pixels."""
    return ops.concatenate([x, ops.ones_like(x[..., :1])], axis=-1)


def data_dependent_init(model, images, labels=None):
    """Initialise weight-normalised layers from one batch (Salimans and Kingma, 2016).

    Runs ``model`` once, eagerly, on ``images`` (uint8 (B, H, W, C)) and, for
    a class-conditional model, their ``labels`` ((B,) ints or class names, or
    one class for all, as ``pl.log_prob`` takes them); each
    weight-normalised layer, in the order the forward pass reaches it, sets its
    scale and bias so that its outputs on this batch have mean 0 and standard
    deviation ``init_scale``. Returns the number of layers initialised.

    Departure from the references: the pass runs with dropout off
    (``training=False``), so each layer's scale is set for the activations it
    sees at evaluation and sampling time. openai/pixel-cnn ``train.py`` (and
    neocxi/pixelsnail-public ``train.py``) build their initialisation pass with
    ``dropout_p`` on, which sets the scales for a dropped-out forward pass.
    """
    from ..nn.heads import to_unit_range
    from ..validation import check_images
    from .base import model_labels

    images = check_images(images, model.image_shape[-1])
    labels = model_labels(model, labels, int(images.shape[0]))  # names, one class for all: as ``log_prob``
    targets = [
        layer for layer in model._flatten_layers(include_self=False, recursive=True)
        if isinstance(layer, (L.WeightNormConv2D, L.WeightNormConv2DTranspose))
    ]
    for layer in targets:
        layer.init_pending = True
    try:
        model(model.inputs_for(to_unit_range(images), labels), training=False)
    finally:
        pending = [layer.name for layer in targets if layer.init_pending]
        for layer in targets:
            layer.init_pending = False
    if pending:
        raise RuntimeError(f"data-dependent init did not reach layers {pending}; "
                           "call it eagerly, outside a compiled function")
    return len(targets)


def _inputs(images, labels):
    """What a model is called with: the images, or ``{"images", "labels"}`` for a class-conditional one (the
    same as ``AutoregressiveModel.inputs_for``, for any model-like callable: sampling also takes stand-ins
    with a ``head``, an ``image_shape`` and ``__call__``)."""
    return images if labels is None else {"images": images, "labels": labels}


def model_labels(model, labels, count):
    """The labels to condition on, as int32 numpy (count,), or None for an unconditional model.

    ``labels``: None, one class for all (an int, or a class name the model
    knows), or one per image (ints or names). A conditional model needs them;
    an unconditional one takes none.
    """
    conditional = getattr(model, "conditional", False)
    if not conditional:
        if labels is not None:
            raise ValueError(f"labels were given to an unconditional {getattr(model, 'model_name', 'model')}; "
                             "build it with num_classes=K to condition on classes")
        return None
    if labels is None:
        raise ValueError(f"this {model.model_name} is class-conditional ({model.num_classes} classes): give labels=, "
                         "one class (an int or a class name) or one per image")
    if ops.is_tensor(labels):
        labels = ops.convert_to_numpy(labels)
    if isinstance(labels, np.ndarray):
        labels = labels.tolist()
    if isinstance(labels, str) or np.ndim(labels) == 0:  # one class for all (a float fails the check below)
        labels = [labels] * count
    labels = [model.class_index(v) if isinstance(v, str) else v for v in labels]
    return np.asarray(ops.convert_to_numpy(check_labels(np.asarray(labels), model.num_classes, count)))


def build_model(name, image_shape=(32, 32, 3), num_classes=None, class_names=None, first_pixel_bias=False,
                **hparams) -> AutoregressiveModel:
    """Build one of the family, with its weights created.

    Args:
      name: "pixelcnn", "gated_pixelcnn", "pixelcnn_pp" or "pixelsnail".
      image_shape: (H, W, C), square, C = 1 (grey) or 3 (RGB).
      num_classes: None (unconditional), or K: a class-conditional model,
        called with ``{"images": x, "labels": y}``, y int (B,) in 0..K-1.
      class_names: optional K names of the classes, saved with the model.
      first_pixel_bias: add a learnt offset (per class) to the head's
        parameters at the first pixel, a departure from the references that
        learns the first pixel's distribution quickly
        (``AutoregressiveModel.first_pixel``); off by default.
      **hparams: overrides of the model's ``defaults`` (its published CIFAR-10
        configuration); every model takes ``filters`` and ``depth``.

    Returns a ``keras.Model``; ``model(x)`` maps uint8 (B, H, W, C) images (or
    float32 ones in [-1, 1]) to (B, H, W, model.head.num_params).
    """
    if name not in MODELS:
        raise ValueError(f"unknown model name {name!r}; choose one of {sorted(MODELS)}")
    cls = MODELS[name]
    image_shape = check_image_shape(image_shape, cls.min_image_size)
    unknown = set(hparams) - set(cls.defaults)
    if unknown:
        raise TypeError(f"{name} has no hyper-parameter(s) {sorted(unknown)}; it takes {sorted(cls.defaults)}")
    config = {**cls.defaults, **hparams}
    multiple = cls.size_multiple(config) if hasattr(cls, "size_multiple") else 1
    if image_shape[0] % multiple:
        raise ValueError(f"{name} with these settings halves the image down to 1/{multiple}, so the size must be a "
                         f"multiple of {multiple}, got {image_shape[0]}")
    for key in ("filters", "depth"):
        if not isinstance(config[key], (int, np.integer)) or config[key] < 1:
            raise ValueError(f"{key} must be a positive int, got {config[key]!r}")
    model = cls(image_shape, **config, num_classes=num_classes, class_names=class_names,
                first_pixel_bias=first_pixel_bias)
    model(model.inputs_for(np.zeros((1, *image_shape), np.float32),
                           None if num_classes is None else np.zeros((1,), np.int32)))  # create the weights
    return model


def model_from_config(config: dict) -> AutoregressiveModel:
    """Inverse of ``model.config``."""
    config = dict(config)
    name = config.pop("model")
    image_shape = tuple(config.pop("image_shape"))
    return build_model(name, image_shape, **config)
