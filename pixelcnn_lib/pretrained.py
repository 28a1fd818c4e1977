"""The shipped models, as presets: ``from_preset("pixelsnail_cifar10")`` loads one, ``presets()`` lists them.

Each preset is a ``.keras`` file in ``pixelcnn_lib/assets`` (so ``keras.models.load_model`` reads it too), with
its run's summary (``NAME.json``) and training log (``NAME_log.csv``) beside it. Nothing is downloaded.
"""

from __future__ import annotations

import json
import os
from importlib import resources
from pathlib import Path

import numpy as np

from .checkpoints import load_keras_file, load_model

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
