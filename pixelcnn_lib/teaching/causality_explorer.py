"""Chapter 3's causality explorer: receptive fields by gradient, in a page that needs no Python kernel.

The explorer is one self-contained piece of HTML and JavaScript (no widget
library, no network): a picture of the image on which the reader clicks the
target pixel, controls for the building block, kernel size and depth, and a
switch between "seen / not seen" and the gradient magnitude, how strongly
each earlier pixel matters (log colour scale). Its second mode shows the
effective receptive field of the shipped PixelSNAIL next to its theoretical
one. It works the same in JupyterLab, Colab and on the static website.

Everything it shows is computed in advance:

* ``causality_states``: for every block, kernel and depth, the gradient
  magnitude of every target pixel of a 16x16 grey image with respect to
  every input pixel, through the library's layers (``rf.LayerStack``),
  each support checked against the analytic field;
* ``trained_fields``: the shipped PixelSNAIL's gradient magnitudes at held-out
  CIFAR-10 images, precomputed into ``assets/pixelsnail_cifar10_fields.npz``
  by ``scripts/make_causality_fields.py`` (``compute_trained_fields``; about
  four minutes on two CPU cores).

On the page, magnitudes are coded as in ``encode_magnitude`` (0: exactly
zero; 1 .. levels: log scale over ``DECADES`` decades below each target's
largest) and packed into greyscale PNGs (``field_mosaic``), which the browser
decodes through a canvas.
"""

from __future__ import annotations

import base64
import functools
import html
import itertools
import json
import uuid
from importlib import resources
from typing import NamedTuple

import numpy as np

from ..nn.footprints import EARLIER
from . import receptive_field as rf
from .plotting import FIELD_COLOURS, pattern_picture, png_bytes

EXPLORER_SIZE = 16  # the small stacks' images are EXPLORER_SIZE x EXPLORER_SIZE, grey
EXPLORER_KERNELS = (3, 5)
EXPLORER_DEPTHS = (1, 2, 3, 4, 8, 16)  # up to 16: deep enough for every target that only a blind spot stays
DECADES = 6  # the magnitude scale spans 10^-DECADES .. 1 of a target's largest gradient
LEVELS = 16  # shades of that scale on the page: finer steps than the noise of the gradients only cost bytes
ASSET_LEVELS = 255  # shades kept in the precomputed asset
TRAINED_ASSET = "pixelsnail_cifar10_fields.npz"
STACKS_ASSET = "causality_stacks.npz"  # causality_states() at the defaults, precomputed
BLIND_CODE = 255  # on the page: a zero gradient at a pixel the deepest stack of the same block and kernel misses
TRAINED_FIRST, TRAINED_STEP = 1, 2  # trained mode's targets: rows and columns 1, 3, ..., 31
TRAINED_CLASSES = 8  # its fields average over the first held-out image of each of the first 8 classes


# --------------------------------------------------------------------------
# the data: gradient magnitudes of the small stacks and of the shipped model
# --------------------------------------------------------------------------


class StackFields(NamedTuple):
    """What the explorer shows of one stack: ``magnitude`` float32 (S*S, S, S), ``patterns`` its footprints.

    ``magnitude[t]`` is the gradient magnitude of the output at target t
    (raster order) with respect to every input pixel, summed over random
    inputs; ``seen`` is its support, the receptive field.
    """

    magnitude: np.ndarray
    patterns: list

    @property
    def seen(self):
        return self.magnitude > 0


def _check_options(name, values, valid, allowed):
    values = tuple(values) if isinstance(values, (list, tuple)) else None
    if not values or len(set(values)) != len(values) or not all(isinstance(v, (int, np.integer)) and valid(v)
                                                                for v in values):
        raise ValueError(f"{name} must be a non-empty list of distinct {allowed}, got {values!r}")
    return tuple(int(v) for v in values)


def causality_states(size=EXPLORER_SIZE, kernels=EXPLORER_KERNELS, depths=EXPLORER_DEPTHS, samples=2):
    """The gradient magnitudes of every stack the explorer shows, through the library's layers.

    Returns {(block, kernel, depth): StackFields} for every block of
    ``rf.BLOCKS``, kernel and depth. The attention block ignores ``kernel``
    (PixelSNAIL's kernels are fixed), so its entries are shared.

    Every field's support is checked against the analytic one. A path whose
    gradient happens to vanish for all random inputs (possible behind ReLUs,
    more so in deep stacks) is retried with fresh inputs, then with fresh
    weights; a remaining difference raises ``RuntimeError``.
    """
    if not isinstance(size, (int, np.integer)) or not 2 <= size <= 32:
        raise ValueError(f"size must be an int from 2 to 32, got {size!r}")
    kernels = _check_options("kernels", kernels, lambda k: k >= 3 and k % 2 == 1, "odd ints >= 3")
    depths = _check_options("depths", depths, lambda d: d >= 1, "positive ints")
    if not isinstance(samples, (int, np.integer)) or samples < 1:
        raise ValueError(f"samples must be a positive int, got {samples!r}")
    shape = (int(size), int(size), 1)
    targets = [(row, col) for row in range(size) for col in range(size)]
    states, cache = {}, {}
    for block, kernel, depth in itertools.product(rf.BLOCKS, kernels, depths):
        key = rf.stack_key(block, kernel, depth)
        if key not in cache:
            analytic = None
            for _ in range(3):  # fresh random weights, if no input revives a path that theirs leave dead
                stack = rf.LayerStack(*key, image_shape=shape)
                if analytic is None:
                    analytic = np.stack([stack.analytic_field(t) for t in targets])
                magnitude = rf.receptive_field_by_gradient(stack, shape, targets, samples=samples)[..., 0]
                for seed in (1, 2):  # more random inputs
                    if ((magnitude > 0) == analytic).all():
                        break
                    magnitude += rf.receptive_field_by_gradient(stack, shape, targets, samples=2 * samples,
                                                                seed=seed)[..., 0]
                if ((magnitude > 0) == analytic).all():
                    break
            else:
                raise RuntimeError(f"gradient and analytic receptive fields differ for {key}")
            cache[key] = StackFields(magnitude, stack.patterns())
        states[(block, kernel, depth)] = cache[key]
    return states


class TrainedFields(NamedTuple):
    """The shipped PixelSNAIL's effective receptive fields at a grid of targets.

    ``targets`` int (T, 2); ``magnitude`` float32 (T, 32, 32): the gradient
    magnitude of all of a target's outputs, summed over colour channels and
    averaged over ``images`` (held-out indices), relative to the target's
    largest (1) and exactly 0 where the gradient is; ``theory`` bool
    (T, 32, 32): the analytic field, every earlier pixel; ``patterns``: the
    model's layer footprints.
    """

    targets: np.ndarray
    magnitude: np.ndarray
    theory: np.ndarray
    patterns: list
    images: np.ndarray


def trained_targets(size=32, first=TRAINED_FIRST, step=TRAINED_STEP):
    """The grid of trained mode's targets, in raster order: int (T, 2)."""
    rows = np.arange(first, size, step)
    return np.stack(np.meshgrid(rows, rows, indexing="ij"), -1).reshape(-1, 2)


def trained_images(classes=TRAINED_CLASSES):
    """The held-out images of trained mode (the first of each of the first ``classes`` classes) and their indices."""
    from ..data import load_holdout_sample

    images, labels, _ = load_holdout_sample()
    picked = np.array([int(np.flatnonzero(labels == k)[0]) for k in range(classes)])
    return images[picked], picked


def compute_trained_fields(model, targets, images, chunk=16):
    """Gradient magnitudes (T, H, W) of all outputs at each target, summed over channels, averaged over ``images``.

    ``model``: a model of the library (the shipped PixelSNAIL); ``targets``:
    (T, 2); ``images``: uint8 (N, H, W, C). Targets go through the model
    ``chunk`` at a time. Raises ``RuntimeError`` if a target's gradient
    reaches the target pixel itself or a later pixel.
    """
    images = np.asarray(images)
    if images.ndim != 4:
        raise ValueError(f"images must be (N, H, W, C), got shape {images.shape}")
    shape = images.shape[1:]
    targets = [tuple(int(v) for v in t) for t in np.asarray(targets).reshape(-1, 2)]
    parts = [rf.receptive_field_by_gradient(model, shape, targets[i : i + chunk], images=images)
             for i in range(0, len(targets), chunk)]
    magnitude = np.concatenate(parts).sum(axis=-1) / len(images)
    for target, field in zip(targets, magnitude):
        if (field[~rf.earlier_pixels(field.shape, target)] != 0).any():
            raise RuntimeError(f"the gradient at target {target} reaches the target pixel or a later pixel")
    return magnitude.astype(np.float32)


@functools.cache
def _asset_arrays(name):
    with resources.as_file(resources.files("pixelcnn_lib") / "assets" / name) as path:
        with np.load(path) as arrays:
            return {key: arrays[key] for key in arrays.files}


def precomputed_states():
    """``causality_states()`` at its defaults, from the asset that ``scripts/make_causality_fields.py`` writes
    (computing them takes minutes): the same dict of ``StackFields``, magnitudes as decoded from the page's
    ``LEVELS`` shades, their supports exact."""
    arrays = _asset_arrays(STACKS_ASSET)
    settings = list(itertools.product(rf.BLOCKS, EXPLORER_KERNELS, EXPLORER_DEPTHS))
    keys = _parse_keys(arrays["keys"])
    if int(arrays["size"]) != EXPLORER_SIZE or {rf.stack_key(*setting) for setting in settings} - set(keys):
        raise RuntimeError(f"{STACKS_ASSET} does not hold the explorer's sizes, kernels and depths: run "
                           "scripts/make_causality_fields.py stacks")
    magnitude = decode_magnitude(arrays["codes"], int(arrays["decades"]), int(arrays["levels"]))
    patterns = json.loads(str(arrays["patterns"]))
    stored = {key: StackFields(m, _patterns_from_json(p)) for key, m, p in zip(keys, magnitude, patterns)}
    return {setting: stored[rf.stack_key(*setting)] for setting in settings}


def patterns_to_json(patterns):
    """A stack's ``patterns()`` as JSON text (the asset stores them, so that loading builds no model)."""
    return json.dumps([[title, [[label, offsets if offsets == EARLIER else sorted(offsets)] for label, offsets in taps]]
                       for title, taps in patterns])


def _patterns_from_json(items):  # offsets: frozensets of (row, col), or EARLIER, as ``rf.spec_patterns`` gives them
    return [(title, [(label, offsets if offsets == EARLIER else frozenset(map(tuple, offsets)))
                     for label, offsets in taps]) for title, taps in items]


def _parse_keys(texts):  # the asset's "block/kernel/depth" strings -> stack keys
    return [(b, int(k), int(d)) for b, k, d in (str(t).split("/") for t in texts)]


def trained_fields():
    """``TrainedFields`` of the shipped PixelSNAIL, from the precomputed asset."""
    from ..pretrained import load_pretrained

    arrays = _asset_arrays(TRAINED_ASSET)
    targets = arrays["targets"].astype(int)
    magnitude = decode_magnitude(arrays["codes"], int(arrays["decades"]), int(arrays["levels"]))
    size = magnitude.shape[1:]
    theory = np.stack([rf.earlier_pixels(size, t) for t in targets])
    patterns = rf.spec_patterns(rf.model_spec(load_pretrained("pixelsnail_cifar10")))
    return TrainedFields(targets, magnitude, theory, patterns, arrays["images"])


# --------------------------------------------------------------------------
# encoding for the page
# --------------------------------------------------------------------------


def _check_scale(decades, levels):
    if not isinstance(levels, (int, np.integer)) or not 2 <= levels <= 255:
        raise ValueError(f"levels must be an int from 2 to 255, got {levels!r}")
    if not isinstance(decades, (int, float, np.integer, np.floating)) or not 0 < decades <= 30:
        raise ValueError(f"decades must be a number in (0, 30], got {decades!r}")


def encode_magnitude(magnitude, decades=DECADES, levels=LEVELS):
    """Gradient magnitudes (T, ...) -> uint8 codes of the same shape, per target on a log scale.

    0 where the magnitude is exactly zero; otherwise 1 .. ``levels``: the
    target's largest magnitude is ``levels``, 10^-``decades`` of it (or less)
    is 1, evenly in log10 between. The code never decreases as the magnitude
    grows and is non-zero exactly where the magnitude is.
    """
    _check_scale(decades, levels)
    magnitude = np.asarray(magnitude, np.float64)
    if magnitude.ndim < 2 or not np.isfinite(magnitude).all() or (magnitude < 0).any():
        raise ValueError(f"magnitude must be a finite, non-negative array (T, ...), got shape {magnitude.shape}")
    flat = magnitude.reshape(len(magnitude), -1)
    peak = flat.max(axis=1, keepdims=True)
    ratio = np.divide(flat, peak, out=np.zeros_like(flat), where=peak > 0)
    position = 1.0 + np.log10(np.maximum(ratio, 1e-300)) / decades  # 1 at the peak, 0 at 10^-decades
    codes = 1 + np.round((levels - 1) * np.clip(position, 0.0, 1.0))
    return np.where(flat > 0, codes, 0).astype(np.uint8).reshape(magnitude.shape)


def decode_magnitude(codes, decades=DECADES, levels=LEVELS):
    """uint8 codes of ``encode_magnitude`` -> float32 magnitudes relative to each target's largest (0 stays 0)."""
    _check_scale(decades, levels)
    codes = np.asarray(codes)
    if codes.dtype != np.uint8 or codes.max(initial=0) > levels:
        raise ValueError(f"codes must be uint8 from 0 to {levels}, got {codes.dtype} up to {codes.max(initial=0)}")
    relative = 10.0 ** (decades * ((codes.astype(np.float64) - 1) / (levels - 1) - 1))
    return np.where(codes > 0, relative, 0.0).astype(np.float32)


def field_mosaic(codes, columns):
    """Codes (T, H, W) -> one uint8 picture: the T fields as tiles, ``columns`` to a row, in raster order."""
    codes = np.asarray(codes)
    t, h, w = codes.shape
    if t % columns:
        raise ValueError(f"{t} fields do not fill rows of {columns}")
    return codes.reshape(t // columns, columns, h, w).transpose(0, 2, 1, 3).reshape(t // columns * h, columns * w)


def _data_uri(png):
    return "data:image/png;base64," + base64.b64encode(png).decode("ascii")


def magnitude_palette(levels=LEVELS):
    """uint8 (levels, 3): the colours of codes 1 .. levels (viridis: dark, weak; yellow, strong)."""
    from matplotlib import colormaps

    return np.round(colormaps["viridis"](np.linspace(0.0, 1.0, levels))[:, :3] * 255).astype(np.uint8)


# --------------------------------------------------------------------------
# the page
# --------------------------------------------------------------------------

_SCRIPT = "causality_explorer.js"
_STYLE = """
#{id} {{ font-size: 0.9em; line-height: 1.4; max-width: 100%; }}
#{id} .cx-controls {{ display: flex; flex-wrap: wrap; gap: 0.4em 1.2em; align-items: center; margin-bottom: 0.6em; }}
#{id} .cx-controls select, #{id} .cx-controls button {{ font: inherit; }}
#{id} .cx-controls button[aria-pressed="true"] {{ font-weight: bold; }}
#{id} .cx-panels {{ display: flex; flex-wrap: wrap; gap: 1em; align-items: flex-start; }}
#{id} figure {{ margin: 0; }}
#{id} figcaption {{ font-size: 0.9em; }}
#{id} canvas {{ display: block; max-width: 100%; image-rendering: pixelated; cursor: crosshair; }}
#{id} .cx-swatch {{ display: inline-block; width: 0.9em; height: 0.9em; vertical-align: middle;
  border: 1px solid #888; margin-right: 0.3em; }}
#{id} .cx-bar {{ display: inline-block; width: 10em; height: 0.9em; vertical-align: middle; border: 1px solid #888; }}
#{id} .cx-legend div {{ margin-bottom: 0.3em; }}
#{id} [hidden] {{ display: none !important; }}
#{id} .cx-patterns {{ max-width: 100%; margin-top: 0.6em; }}
"""


def _swatch(colour, text, role=""):
    attribute = f' data-role="{role}"' if role else ""
    return f'<div{attribute}><span class="cx-swatch" style="background:rgb{tuple(colour)}"></span>{text}</div>'


def _legend(palette):
    stops = ", ".join(f"rgb{tuple(int(v) for v in colour)}" for colour in palette)
    return "".join([
        _swatch(FIELD_COLOURS["target"], "target pixel"),
        _swatch(FIELD_COLOURS["seen"], "earlier pixel it sees", "legend-seen"),
        f'<div data-role="legend-magnitude"><span class="cx-bar" style="background:linear-gradient(to right, {stops})">'
        f"</span><br><small>gradient magnitude, log scale: 10<sup>-{DECADES}</sup> (left) to 1 (right) times the "
        "target's largest</small></div>",
        _swatch(FIELD_COLOURS["missed"], "earlier pixel it does not see (zero gradient)"),
        _swatch(FIELD_COLOURS["blind"], "earlier pixel that the deepest stack misses too: the blind spot",
                "legend-blind"),
        _swatch(FIELD_COLOURS["later"], "later pixel"),
        _swatch(FIELD_COLOURS["leak"], "later pixel it sees: a leak", "legend-leak"),
    ])


def _stack_data(states):
    """The stacks part of the page's data, from ``causality_states``' output."""
    if not isinstance(states, dict) or not states:
        raise ValueError("states must be the non-empty dict that causality_states returns")
    for key, value in states.items():
        if not (isinstance(key, tuple) and len(key) == 3 and key[0] in rf.BLOCKS and isinstance(value, StackFields)):
            raise ValueError(f"states must map (block, kernel, depth) to StackFields, as causality_states returns; "
                             f"got {key!r}: {type(value).__name__}")
    kernels = sorted({key[1] for key in states})
    depths = sorted({key[2] for key in states})
    missing = [key for key in itertools.product(rf.BLOCKS, kernels, depths) if key not in states]
    if missing:
        raise ValueError(f"states lack {missing[:3]}{' ...' if len(missing) > 3 else ''}: every block needs every "
                         "kernel and depth")
    unique, index, unique_sources = {}, {}, []
    for block, kernel, depth in itertools.product(rf.BLOCKS, kernels, depths):
        key = rf.stack_key(block, kernel, depth)
        if key not in unique:
            unique[key] = states[(block, kernel, depth)]
            unique_sources.append((block, kernel, depth))
        index[f"{block}/{kernel}/{depth}"] = list(unique).index(key)
    shapes = {value.magnitude.shape for value in unique.values()}
    size = next(iter(shapes))[-1]
    if len(shapes) != 1 or next(iter(shapes)) != (size * size, size, size):
        raise ValueError(f"every stack's magnitude must be (S*S, S, S) for one size S, got shapes {sorted(shapes)}")
    blind = _blind_spots(states, kernels, depths[-1], size)
    codes = []
    for (block, kernel, _), value in zip(unique_sources, unique.values()):
        code = encode_magnitude(value.magnitude)
        if (code[blind[(block, kernel)]] > 0).any():
            raise ValueError(f"a shallower {block} stack sees a pixel that its deepest one misses")
        code[blind[(block, kernel)]] = BLIND_CODE
        codes.append(field_mosaic(code, size))
    codes = np.concatenate(codes)
    return {
        "size": int(size), "grid": [int(size), int(size)], "first": 0, "step": 1, "cell": max(8, 320 // size),
        "fields": _data_uri(png_bytes(codes)), "index": index,
        "patterns": [_data_uri(png_bytes(pattern_picture(value.patterns))) for value in unique.values()],
        "blocks": [[name, text] for name, text in rf.BLOCKS.items()], "kernels": kernels, "depths": depths,
    }


def _blind_spots(states, kernels, deepest, size):
    """{(block, kernel): bool (S*S, S, S)}: per target, the earlier pixels that the deepest stack misses."""
    earlier = np.stack([rf.earlier_pixels((size, size), divmod(t, size)) for t in range(size * size)])
    return {(block, kernel): earlier & ~states[(block, kernel, deepest)].seen
            for block, kernel in itertools.product(rf.BLOCKS, kernels)}


def _trained_data(trained):
    if not isinstance(trained, TrainedFields):
        raise ValueError(f"trained must be True, False or the TrainedFields of trained_fields(), "
                         f"got {type(trained).__name__}")
    targets, size = np.asarray(trained.targets), trained.magnitude.shape[-1]
    rows = np.unique(targets[:, 0])
    first, step = int(rows[0]), int(rows[1] - rows[0]) if len(rows) > 1 else 1
    if not np.array_equal(targets, trained_targets(size, first, step)):
        raise ValueError("trained.targets must be a square grid in raster order, as trained_targets() makes")
    if not all(np.array_equal(theory, rf.earlier_pixels((size, size), t)) for t, theory in
               zip(targets, trained.theory)):
        raise ValueError("trained mode draws the theoretical field as every earlier pixel, which trained.theory "
                         "is not")
    grid = len(rows)
    codes = field_mosaic(encode_magnitude(trained.magnitude), grid)
    return {
        "size": int(size), "grid": [grid, grid], "first": first, "step": step, "cell": max(4, 320 // size),
        "fields": _data_uri(png_bytes(codes)), "patterns": _data_uri(png_bytes(pattern_picture(trained.patterns))),
        "images": len(trained.images),
    }


def _pick(name, value, options):
    if value not in options:
        raise ValueError(f"{name} must be one of {list(options)}, got {value!r}")
    return value


def causality_explorer(states=None, trained=True, mode="seen", block="masked", kernel=None, depth=None,
                       target=None):
    """The causality explorer: an ``IPython.display.HTML`` that works without a Python kernel.

    Args:
      states: from ``causality_states()`` (when None, its defaults,
        precomputed: ``precomputed_states()``); decides the image size,
        kernels and depths on offer.
      trained: True adds the mode "shipped PixelSNAIL" (its effective
        receptive field next to the theoretical one, from ``trained_fields()``);
        False leaves it out; or pass a ``TrainedFields``.
      mode: the view it opens with, "seen" (seen / not seen) or "magnitude".
      block, kernel, depth, target: the stack and target pixel (row, col) it
        opens with; by default the masked stack, the smallest kernel, the
        second depth and the middle pixel.

    The result's ``data`` is the HTML: a canvas (click a pixel to make it
    the target; arrow keys move it), the controls, the caption, the colour
    legend and every layer's footprints. Each call gets its own element id,
    so several explorers can share a page.
    """
    stacks = _stack_data(precomputed_states() if states is None else states)
    if trained is True:
        trained = trained_fields()
    kernel = stacks["kernels"][0] if kernel is None else kernel
    depth = stacks["depths"][min(1, len(stacks["depths"]) - 1)] if depth is None else depth
    size = stacks["size"]
    target = (size // 2, size // 2) if target is None else target
    if not rf._is_pair(target) or not (0 <= target[0] < size and 0 <= target[1] < size):
        raise ValueError(f"target must be a (row, col) inside the {size}x{size} image, got {target!r}")
    palette = magnitude_palette()
    data = {
        "stacks": stacks,
        "trained": None if trained is False else _trained_data(trained),
        "start": {
            "mode": _pick("mode", mode, ("seen", "magnitude")), "block": _pick("block", block, rf.BLOCKS),
            "kernel": _pick("kernel", kernel, stacks["kernels"]), "depth": _pick("depth", depth, stacks["depths"]),
            "target": [int(target[0]), int(target[1])],
        },
        "colours": {name: list(colour) for name, colour in FIELD_COLOURS.items()}, "blindCode": BLIND_CODE,
        "palette": palette.tolist(), "levels": LEVELS, "decades": DECADES,
    }
    return _html(data, palette)


def _html(data, palette):
    from IPython.display import HTML

    uid = f"causality-explorer-{uuid.uuid4().hex[:12]}"
    stacks, trained = data["stacks"], data["trained"]
    options = "".join(f'<option value="{name}">{html.escape(text)}</option>' for name, text in stacks["blocks"])
    kernels = "".join(f'<option value="{k}">{k}x{k}</option>' for k in stacks["kernels"])
    model = ('<label>model <select data-role="model"><option value="stacks">small stacks (random weights, '
             f'{stacks["size"]}x{stacks["size"]} grey)</option><option value="trained">shipped PixelSNAIL (trained, '
             f'{trained["size"]}x{trained["size"]} CIFAR-10)</option></select></label>') if trained else ""
    script = (resources.files("pixelcnn_lib") / "assets" / _SCRIPT).read_text(encoding="utf-8")
    payload = json.dumps(data, separators=(",", ":")).replace("</", "<\\/")
    page = f"""<div id="{uid}" class="pixelcnn-causality-explorer">
<style>{_STYLE.format(id=uid)}</style>
<div class="cx-controls">
{model}
<label>block <select data-role="block">{options}</select></label>
<label>kernel <select data-role="kernel">{kernels}</select></label>
<label>depth <input type="range" data-role="depth" min="0" max="{len(stacks["depths"]) - 1}" step="1">
<span data-role="depth-value"></span></label>
<span role="group" aria-label="view">show
<button type="button" data-role="mode" data-mode="seen">seen / not seen</button>
<button type="button" data-role="mode" data-mode="magnitude">gradient magnitude</button></span>
</div>
<div class="cx-panels">
<figure data-role="theory-panel" hidden><canvas data-role="theory"></canvas>
<figcaption>theoretical field: every earlier pixel</figcaption></figure>
<figure><canvas data-role="field" tabindex="0" aria-label="receptive field: click a pixel to make it the target">
</canvas><figcaption data-role="panel-title"></figcaption></figure>
<div class="cx-legend">{_legend(palette)}</div>
</div>
<p data-role="caption" aria-live="polite">Loading the fields ... (if this stays, the page's scripts do not run: in
Jupyter, run the cell again or trust the notebook)</p>
<p data-role="readout"><small>Click a pixel to make it the target (arrow keys move it); point at a pixel for its
gradient.</small></p>
<div data-role="patterns"><small data-role="patterns-title"></small><br></div>
<p><small data-role="note"></small></p>
<script type="application/json" data-role="data">{payload}</script>
<script>(function (root) {{
{script}
}})(document.currentScript ? document.currentScript.parentElement : document.getElementById("{uid}"));</script>
</div>"""
    return HTML(page)


__all__ = [
    "ASSET_LEVELS", "DECADES", "EXPLORER_DEPTHS", "EXPLORER_KERNELS", "EXPLORER_SIZE", "LEVELS", "StackFields",
    "TrainedFields", "causality_explorer", "causality_states", "compute_trained_fields", "decode_magnitude",
    "encode_magnitude", "field_mosaic", "magnitude_palette", "patterns_to_json", "precomputed_states", "trained_fields",
    "trained_images",
    "trained_targets",
]
