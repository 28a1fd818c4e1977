"""Input checks shared by the library: clear errors instead of silent reshaping."""

from __future__ import annotations

import keras
import numpy as np
from keras import ops

from . import backend


def _is_array(t) -> bool:
    return isinstance(t, (np.ndarray, keras.Variable)) or ops.is_tensor(t)


def check_images(images, channels=None, name="images"):
    """Check uint8-style images of shape (B, H, W, C) and return them as a tensor.

    Accepts uint8, or another integer dtype whose values lie in 0..255.
    Raises TypeError for float images and ValueError for a wrong rank, a
    channel count other than ``channels``, or values outside 0..255.
    """
    if isinstance(images, (list, tuple)):
        images = np.asarray(images)
    if not _is_array(images):
        raise TypeError(f"{name} must be a numpy array or tensor, got {type(images).__name__}")
    dtype = backend.dtype_name(images)
    if not backend.is_integer_dtype(dtype):
        raise TypeError(
            f"{name} must hold integer pixel values 0..255 (uint8), got dtype {dtype}; "
            "to use float images in [-1, 1] convert them with np.round((x + 1) * 127.5).astype(np.uint8)"
        )
    shape = tuple(images.shape)
    if len(shape) != 4:
        raise ValueError(f"{name} must have shape (batch, height, width, channels), got shape {shape}")
    if channels is not None and shape[-1] is not None and shape[-1] != channels:
        raise ValueError(f"{name} have {shape[-1]} channels but {channels} are expected (shape {shape})")
    if dtype != "uint8" and backend.is_concrete(images):
        values = ops.convert_to_numpy(images)
        if values.size and (values.min() < 0 or values.max() > 255):
            raise ValueError(
                f"{name} values must lie in 0..255, got range {values.min()}..{values.max()}"
            )
    return ops.convert_to_tensor(images)


def check_labels(labels, num_classes, batch=None, name="labels"):
    """Check class labels: integers of shape (B,) in 0..num_classes-1, B = ``batch`` where it is known.

    Returns them as an int32 tensor. Values are checked where they are known
    (eagerly); a traced batch is checked for its shape and dtype only.
    """
    if isinstance(labels, (list, tuple)) or isinstance(labels, (int, np.integer)):
        labels = np.asarray(labels)
    if not _is_array(labels):
        raise TypeError(f"{name} must be a numpy array or tensor of ints, got {type(labels).__name__}")
    dtype = backend.dtype_name(labels)
    if not backend.is_integer_dtype(dtype):
        raise TypeError(f"{name} must be integer class indices 0..{num_classes - 1}, got dtype {dtype}")
    shape = tuple(labels.shape)
    if len(shape) != 1:
        raise ValueError(f"{name} must have shape (batch,), one class per image, got shape {shape}")
    if batch is not None and shape[0] is not None and shape[0] != batch:
        raise ValueError(f"{shape[0]} {name} were given for {batch} images")
    if backend.is_concrete(labels):
        values = ops.convert_to_numpy(labels)
        if values.size and (values.min() < 0 or values.max() >= num_classes):
            bad = values[(values < 0) | (values >= num_classes)]
            raise ValueError(f"{name} must lie in 0..{num_classes - 1} (the model's {num_classes} classes), "
                             f"got {bad[:5].tolist()}")
    return ops.cast(ops.convert_to_tensor(labels), "int32")


def check_params(params, num_params, head_name):
    """Check the network output given to a head: float, last axis ``num_params``."""
    if not (ops.is_tensor(params) or isinstance(params, keras.Variable)):
        params = ops.convert_to_tensor(params)
    dtype = backend.dtype_name(params)
    if not dtype.startswith(("float", "bfloat")):
        raise TypeError(f"{head_name} params must be floating point, got {dtype}")
    if len(params.shape) < 1:
        raise ValueError(f"{head_name} params must have a last axis of size {num_params}, got a scalar")
    last = params.shape[-1]
    if last is not None and last != num_params:
        raise ValueError(
            f"{head_name} expects {num_params} parameters per pixel on the last axis, got {last} "
            f"(params shape {tuple(params.shape)})"
        )
    return ops.cast(params, "float32") if dtype != "float32" else params


def check_same_grid(images, params):
    """images (B, H, W, C) and params (B, H, W, P) must share B, H, W."""
    a, b = tuple(images.shape[:3]), tuple(params.shape[:-1])
    if len(b) != 3:
        raise ValueError(f"params must have shape (batch, height, width, P), got {tuple(params.shape)}")
    if any(x is not None and y is not None and x != y for x, y in zip(a, b)):
        raise ValueError(f"images grid {a} does not match params grid {b}")


def check_image_shape(image_shape, min_size=1):
    """(H, W, C) with square H == W >= min_size and C in {1, 3}."""
    try:
        image_shape = tuple(int(d) for d in image_shape)
    except TypeError:
        raise TypeError(f"image_shape must be a tuple (H, W, C), got {image_shape!r}") from None
    if len(image_shape) != 3:
        raise ValueError(f"image_shape must be (height, width, channels), got {image_shape}")
    h, w, c = image_shape
    if c not in (1, 3):
        raise ValueError(f"images must have 1 (grey) or 3 (RGB) channels, got {c}")
    if h != w:
        raise ValueError(f"images must be square, got {h}x{w}")
    if h < min_size:
        raise ValueError(f"image size {h} is too small for this model; it needs at least {min_size}")
    return image_shape
