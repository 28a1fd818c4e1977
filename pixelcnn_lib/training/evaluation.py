"""Bits per dimension of a model on images: the training loss, and its average over a data set."""

from __future__ import annotations

import weakref

from .. import backend
from ..compiled import per_model
from ..progress import progress_bar
from ..validation import check_images


def nll_bits_per_dim(model, inputs, training):
    """Mean negative log-likelihood of a uint8 batch (or ``{"images", "labels"}``), in bits per sub-pixel: the
    model's ``compute_loss``."""
    return model.compute_loss(x=inputs, y_pred=model(inputs, training=training), training=training)


def evaluate_bits_per_dim(model, images, batch_size=64, progress=None, labels=None):
    """Average bits/dim of uint8 images (training=False); ``labels`` (N,) for a class-conditional model.

    progress: a bar per batch (True, False, or None for the default of
    ``pixelcnn_lib.progress``).
    """
    from ..models.base import model_labels

    images = check_images(images, model.image_shape[-1])
    labels = model_labels(model, labels, int(images.shape[0]))
    step = _eval_step(model)
    total, count = 0.0, 0
    num_batches = -(-int(images.shape[0]) // batch_size)
    with progress_bar(num_batches, "evaluating", "batch", progress) as bar:
        for start in range(0, int(images.shape[0]), batch_size):
            chunk = images[start : start + batch_size]
            n = int(chunk.shape[0])
            inputs = model.inputs_for(chunk, None if labels is None else labels[start : start + batch_size])
            total += float(step(inputs)) * n
            count += n
            bar.update(1)
            bar.set_postfix({"bits/dim": f"{total / count:.4f}"}, refresh=False)
    return total / count


def _eval_step(model):
    """A compiled function: inputs -> mean bits/dim, with the model's current weights (on JAX too)."""
    ref = weakref.ref(model)  # kept by ``compiled.per_model``: it must not keep the model alive

    def step(model_call, inputs):  # compute_loss reads no weights: the loss of the parameters it is given
        return ref().compute_loss(x=inputs, y_pred=model_call(inputs), training=False)

    return per_model(model, "evaluation step", lambda: backend.stateless_model_function(model, step))
