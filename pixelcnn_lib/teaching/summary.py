"""A model's layers in the order its forward pass calls them, with output shapes and parameter counts.

``keras.Model.summary`` lists the layers in the order they were created and
cannot show output shapes for these subclassed models; this table runs the
model once and records each layer as it is called.
"""

from collections import namedtuple

import keras
import numpy as np

LayerRow = namedtuple("LayerRow", "path kind output_shape params")


def top_level_layers(model):
    """(attribute path, layer) for every layer the model holds directly or in (nested) lists, e.g. ``up_u[0][1]``."""

    def walk(value, path):
        if isinstance(value, keras.layers.Layer):
            yield path, value
        elif isinstance(value, (list, tuple)):
            for i, item in enumerate(value):
                yield from walk(item, f"{path}[{i}]")

    return [pair for name, value in vars(model).items() if not name.startswith("_") for pair in walk(value, name)]


def layer_table(model, batch=1):
    """Run ``model`` once on zeros; a ``LayerRow`` for every call of one of its top-level layers, in call order.

    Each layer's ``call`` is wrapped for that one run (an instance attribute
    that shadows the class's method) and restored afterwards, also on error.
    """
    rows = []

    def recording(path, layer, call):
        def wrapped(*args, **kwargs):
            out = call(*args, **kwargs)
            rows.append(LayerRow(path, type(layer).__name__, tuple(out.shape), layer.count_params()))
            return out

        return wrapped

    layers = top_level_layers(model)
    for path, layer in layers:
        if "call" in vars(layer):
            raise RuntimeError(f"layer {path} already has its own call attribute; layer_table would lose it")
    try:
        for path, layer in layers:
            layer.call = recording(path, layer, layer.call)
        model(np.zeros((batch, *model.image_shape), np.float32))
    finally:
        for _, layer in layers:
            vars(layer).pop("call", None)  # back to the class's own call
    return rows


def format_layer_table(rows):
    """The rows as a text table with a total."""
    lines = [f"{'layer':17s} {'type':31s} {'output shape':16s} {'params':>9s}"]
    lines += [f"{r.path:17s} {r.kind:31s} {str(r.output_shape):16s} {r.params:9,d}" for r in rows]
    lines.append(f"{'total':66s} {sum(r.params for r in rows):9,d}")
    return "\n".join(lines)
