"""Checkpoints: one .npz file of arrays plus the configuration that built the model.

A training directory holds ``config.json`` (model and training settings) and
``checkpoint.npz`` (step, model weights, Polyak/EMA weights, optimizer state).
Files are written to a temporary name and renamed into place, so a process
killed at any moment leaves the previous checkpoint intact.

A released model is a ``.keras`` file (``keras.models.load_model`` reads it)
holding the EMA weights, with its metadata in a JSON file beside it
(``export_weights``; the older single ``.npz`` format is still read); the
book's models ship that way as package data (``pixelcnn_lib.from_preset``).
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np

from .models import model_from_config

CHECKPOINT_FILE = "checkpoint.npz"
CONFIG_FILE = "config.json"


def atomic_write_bytes(path, data: bytes):
    """Write ``data`` to ``path`` via a temporary file and an atomic rename."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
    with open(tmp, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def atomic_write_json(path, obj):
    atomic_write_bytes(path, (json.dumps(obj, indent=2, sort_keys=True) + "\n").encode())


def save_arrays(path, arrays: dict):
    """np.savez into memory, then an atomic write."""
    import io

    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    atomic_write_bytes(path, buffer.getvalue())


def pack(prefix, values):
    return {f"{prefix}/{i:04d}": np.asarray(v) for i, v in enumerate(values)}


def unpack(arrays, prefix):
    keys = sorted(k for k in arrays.files if k.startswith(prefix + "/"))
    return [arrays[k] for k in keys]


def assign_weights(variables, values, what="weights"):
    """Assign ``values`` to ``variables`` after checking count and shapes."""
    variables = list(variables)
    if len(variables) != len(values):
        raise ValueError(
            f"checkpoint holds {len(values)} {what} but the model has {len(variables)}: "
            "it was made for a different model configuration"
        )
    for var, value in zip(variables, values):
        if tuple(var.shape) != tuple(value.shape):
            raise ValueError(
                f"checkpoint {what} shape {tuple(value.shape)} does not match "
                f"{var.path if hasattr(var, 'path') else var.name} "
                f"of shape {tuple(var.shape)}: it was made for a different model configuration"
            )
    for var, value in zip(variables, values):
        var.assign(value)


def config_differences(expected: dict, found: dict):
    """Human-readable list of keys whose values differ between two model configs."""
    keys = sorted(set(expected) | set(found))
    return [f"{k}: {found.get(k)!r} in the checkpoint, {expected.get(k)!r} requested" for k in keys
            if expected.get(k) != found.get(k)]


def read_config(directory):
    path = Path(directory) / CONFIG_FILE
    if not path.exists():
        raise ValueError(f"{directory} is not a training directory: it has no {CONFIG_FILE}")
    return json.loads(path.read_text())


def export_weights(model, path, ema_values=None, extra=None):
    """Save a released model: its (EMA) weights, its config and ``extra`` metadata.

    ``path`` ending in ``.keras``: Keras's own file, which
    ``keras.models.load_model`` reads on any backend, with the metadata beside
    it in a JSON file of the same name (``metadata_path``). Ending in
    ``.npz``: the library's older single-file format (arrays plus the
    metadata), still read by ``load_model``.
    """
    path = Path(path)
    values = ema_values if ema_values is not None else [np.asarray(v) for v in model.weights]
    meta = {"model": model.config, **(extra or {})}
    if path.suffix == ".keras":
        released = model_from_config(model.config)
        assign_weights(released.weights, values)
        released.save(path)
        atomic_write_json(metadata_path(path), meta)
    elif path.suffix == ".npz":
        save_arrays(path, {**pack("weights", values), "meta": np.frombuffer(json.dumps(meta).encode(), np.uint8)})
    else:
        raise ValueError(f"a released model is a .keras or .npz file, got {path}")


def metadata_path(path):
    """Where the metadata of a released ``.keras`` file lies: beside it, ``NAME.json``."""
    return Path(path).with_suffix(".json")


def load_keras_file(path):
    """``keras.models.load_model`` of a released ``.keras`` file, with its metadata (if any) as ``.metadata``."""
    import keras

    model = keras.models.load_model(path)
    meta = metadata_path(path)
    model.metadata = json.loads(meta.read_text()) if meta.exists() else {"model": model.config}
    return model


def load_weights_file(path):
    """Build the model described in a released .npz and load its weights."""
    with np.load(path) as arrays:
        meta = json.loads(bytes(arrays["meta"]).decode())
        model = model_from_config(meta["model"])
        assign_weights(model.weights, unpack(arrays, "weights"))
    model.metadata = meta
    return model


def load_model(path, ema=True):
    """Load a model from a training directory (EMA weights by default) or a released .keras or .npz file."""
    path = Path(path)
    if path.is_file():
        if path.suffix == ".keras":
            return load_keras_file(path)
        if path.suffix == ".npz":
            return load_weights_file(path)
        raise ValueError(f"{path} is neither a training directory nor a released .keras or .npz file")
    config = read_config(path)
    ckpt = path / CHECKPOINT_FILE
    if not ckpt.exists():
        raise ValueError(f"{path} has no {CHECKPOINT_FILE} yet: training has not written a checkpoint")
    model = model_from_config(config["model"])
    with np.load(ckpt) as arrays:
        if ema:
            # EMA covers the trainable weights; non-trainable ones (none in this library) stay as trained
            assign_weights(model.trainable_weights, unpack(arrays, "ema"), "EMA weights")
        else:
            assign_weights(model.weights, unpack(arrays, "model"))
        step = int(arrays["step"])
    model.metadata = {"model": config["model"], "training": config.get("training"), "step": step,
                      **({"holdout": config["holdout"]} if "holdout" in config else {})}
    return model


