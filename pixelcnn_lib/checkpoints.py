"""Checkpoints: one .npz file of arrays plus the configuration that built the model.

A training directory holds ``config.json`` (model and training settings) and
``checkpoint.npz`` (step, model weights, Polyak/EMA weights, optimizer state).
Files are written to a temporary name and renamed into place, so a process
killed at any moment leaves the previous checkpoint intact.

A released model is a ``.keras`` file (``keras.models.load_model`` reads it)
holding the EMA weights, with its metadata in a JSON file beside it
(``export_weights``; the older single ``.npz`` format is still read); the
book's small model ships that way as package data (``load_pretrained``).
"""

from __future__ import annotations

import json
import os
from importlib import resources
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


PRETRAINED = {  # metadata in NAME.json, log in NAME_log.csv
    "pixelsnail_cifar10": "pixelsnail_cifar10.keras",
    "pixelsnail_gemstones": "pixelsnail_gemstones.keras",  # class-conditional, 68 classes
}

#: runs whose summary (NAME.json) and log (NAME_log.csv) ship without their weights, name -> what the run is: the
#: book shows their figures (scripts/train_pixelcnn_pp_cifar10.sh with SHIP=1 writes the first)
SHIPPED_RUNS: dict[str, str] = {
    "pixelcnn_pp_cifar10_equal_budget": "the PixelCNN++ trained for the shipped PixelSNAIL's budget "
                                        "(scripts/train_pixelcnn_pp_cifar10.sh)",
}


def _check_shipped(name):
    if name not in PRETRAINED and name not in SHIPPED_RUNS:
        raise ValueError(f"unknown shipped model or run {name!r}; available: "
                         f"{sorted(PRETRAINED) + sorted(SHIPPED_RUNS)}")


def _asset(filename):
    ref = resources.files("pixelcnn_lib") / "assets" / filename
    if not ref.is_file():
        raise FileNotFoundError(f"{filename} is missing from this installation of pixelcnn_lib")
    return ref


def load_training_log(name="pixelsnail_cifar10"):
    """The training log (log.csv) of a shipped model or run (``PRETRAINED``, ``SHIPPED_RUNS``), as a dict of float
    arrays.

    Keys: step, bits_per_dim, learning_rate, images_per_second,
    elapsed_seconds, val_bits_per_dim (averaged weights) and
    val_raw_bits_per_dim (raw weights), NaN where not measured.
    """
    import csv
    import io

    _check_shipped(name)
    text = _asset(f"{name}_log.csv").read_text()
    rows = list(csv.DictReader(io.StringIO(text)))
    return {key: np.array([float(r[key]) if r.get(key) not in ("", None) else np.nan for r in rows])
            for key in ("step", "bits_per_dim", "learning_rate", "images_per_second", "elapsed_seconds",
                        "val_bits_per_dim", "val_raw_bits_per_dim")}


def load_run_summary(name):
    """What a shipped model or run (``PRETRAINED``, ``SHIPPED_RUNS``) records about itself, as a dict: its model
    configuration, training settings, step and held-out bits/dim (the metadata stored with a preset's weights)."""
    _check_shipped(name)
    return json.loads(_asset(f"{name}.json").read_text())


def load_pretrained(name="pixelsnail_cifar10"):
    """A small model that ships with the library (see the README for how it was trained)."""
    if name not in PRETRAINED:
        raise ValueError(f"unknown pretrained model {name!r}; available: {sorted(PRETRAINED)}")
    _asset(f"{name}.json")  # the metadata must be there too
    with resources.as_file(resources.files("pixelcnn_lib") / "assets") as folder:
        return load_keras_file(Path(folder) / PRETRAINED[name])


def presets():
    """The models that ship with the library, as ``{name: description}``; ``from_preset(name)`` loads one.

    Each description is read from the metadata stored with the weights: the model, its size, the data it was
    trained on, and its held-out bits/dim.
    """
    out = {}
    for name in sorted(PRETRAINED):
        meta = json.loads(_asset(f"{name}.json").read_text())
        model = meta["model"]
        classes = f", {model['num_classes']} classes" if model.get("num_classes") else ""
        held = meta.get("holdout") or "held-out images"
        out[name] = (f"{model['model']} ({model.get('filters')} filters, depth {model.get('depth')}{classes}) at "
                     f"{'x'.join(map(str, model['image_shape']))}, step {meta['step']:,}: "
                     f"{meta['holdout_bits_per_dim']:.3f} bits/dim on {meta['holdout_images']:,} held-out images "
                     f"({held})")
    return out


def from_preset(preset):
    """A model by the name of a preset that ships with the library (``presets()`` lists them), or from a path:
    a released ``.keras`` (or ``.npz``) file, or a training directory (its averaged weights).

    As in KerasHub, ``from_preset`` is the one way in: ``pl.from_preset("pixelsnail_gemstones")``. The result is
    a Keras model with ``metadata`` (how it was trained, its held-out figures); ``keras.models.load_model`` reads
    the same ``.keras`` files.
    """
    if not isinstance(preset, (str, os.PathLike)):
        raise TypeError(f"preset must be a preset name or a path, got {type(preset).__name__}")
    if str(preset) in PRETRAINED:
        return load_pretrained(str(preset))
    if Path(preset).exists():
        return load_model(preset)
    raise ValueError(f"{preset!r} is neither a preset ({', '.join(sorted(PRETRAINED))}) nor an existing file or "
                     "training directory")


def describe_training(model, log):
    """A paragraph (Markdown) on how a shipped model was trained, read from its metadata and training log.

    ``model``: from ``load_pretrained``; ``log``: from ``load_training_log``.
    The held-out figure is the one stored with the weights when they were
    shipped (all held-out images); a model without one is described from its
    log's last held-out measurement, or said to have none.
    """
    meta = getattr(model, "metadata", None) or {}
    training = meta.get("training") or {}
    if not len(log.get("step", [])):
        raise ValueError("the training log is empty")
    weights = {"raw": " (the raw weights of that step)", "EMA": " (their Polyak average)"}.get(meta.get("weights"), "")
    parts = [f"The shipped weights are from step {meta.get('step', 'unknown')}{weights}. The log covers "
             f"{int(log['step'][-1]):,} steps of batches of {training.get('batch_size', '?')} images in "
             f"{log['elapsed_seconds'][-1] / 3600:.1f} hours, at a median of "
             f"{np.median(log['images_per_second']):.1f} training images per second."]
    if training.get("steps") and meta.get("step", 0) < training["steps"]:
        parts.append(f"The run is planned for {training['steps']:,} steps; these weights come from an intermediate "
                     "checkpoint.")
    parts.append(f"The mean loss of the last logged training batches is {log['bits_per_dim'][-1]:.3f} bits/dim.")
    measured = ~np.isnan(log["val_bits_per_dim"])
    if "holdout_bits_per_dim" in meta:
        parts.append(f"On {int(meta.get('holdout_images', 0)):,} held-out images the model reaches "
                     f"**{float(meta['holdout_bits_per_dim']):.3f} bits/dim** ({meta.get('holdout', 'held out')}).")
    elif measured.any():
        parts.append(f"On the {training.get('val_size', '?')} held-out images of the last measurement during "
                     f"training it reached **{log['val_bits_per_dim'][measured][-1]:.3f} bits/dim**.")
    else:
        parts.append("Neither the weights nor the log hold a held-out measurement.")
    return " ".join(parts)
