"""Image grids, generation animations, mixture plots and block diagrams for the book.

The command line writes its pictures with ``pixelcnn_lib.images`` alone (no matplotlib).

Images are uint8 arrays (N, H, W, C) with C = 1 (grey) or 3 (RGB). Pixel
values, means and scales of the mixture plots are in pixel units (0..255);
the library's heads work in [-1, 1], and ``mixture_params`` converts.
"""

from __future__ import annotations

import io

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from ..images import hide, image_grid  # noqa: F401 (the chapters draw grids from here)
from . import receptive_field as rf

# --------------------------------------------------------------------------
# image grids
# --------------------------------------------------------------------------


def show_grid(ax, images, columns=None):
    """Draw uint8 (N, H, W, C) images as one grid on a matplotlib axis, without ticks."""
    grid = image_grid(images, columns=columns)
    ax.imshow(grid.squeeze(-1) if grid.shape[-1] == 1 else grid, cmap="gray", vmin=0, vmax=255,
              interpolation="nearest")
    ax.set_xticks([])
    ax.set_yticks([])


def labelled_rows_figure(rows, labels, figure=None):
    """A matplotlib figure with one labelled row of images per entry of ``rows``.

    rows: list of uint8 (N, H, W, C) arrays, all of the same N and shape.
    figure: draw into this ``matplotlib.figure.Figure`` (default: a new one,
    made without pyplot, so it is not shown twice in a notebook).
    """
    from matplotlib.figure import Figure

    if len(rows) != len(labels):
        raise ValueError("give one label per row")
    if not rows:
        raise ValueError("give at least one row of images")
    shapes = {tuple(np.shape(row)) for row in rows}
    if len(shapes) != 1:
        raise ValueError(f"all rows must have the same shape (N, H, W, C), got {sorted(shapes)}")
    fig = figure or Figure(figsize=(max(4.0, 1.2 * len(rows[0]) + 1.0), 1.3 * len(rows) + 0.3))
    axes = fig.subplots(len(rows), 1, squeeze=False)
    for ax, row, label in zip(axes[:, 0], rows, labels):
        show_grid(ax, row, columns=len(row))
        ax.set_ylabel(label, rotation=0, ha="right", va="center")
    fig.tight_layout()
    return fig


def class_rows_figure(samples, class_names, real=None, title=None):
    """One labelled row of images per class, and a row of real images below: samples of a class-conditional model.

    samples: uint8 (K * N, H, W, C), class by class (N per class);
    class_names: the K row labels; real: uint8 (K, H, W, C), one real image
    per class (the last row, its columns padded with blanks), or None.
    """
    samples = np.asarray(samples)
    k = len(class_names)
    if k == 0 or len(samples) % k:
        raise ValueError(f"{len(samples)} samples do not split into rows for {k} classes")
    per_class = len(samples) // k
    rows, labels = [samples[i * per_class:(i + 1) * per_class] for i in range(k)], list(class_names)
    if real is not None:
        real = np.asarray(real)[:per_class]
        rows.append(np.concatenate([real, np.full((per_class - len(real), *real.shape[1:]), 255, np.uint8)]))
        labels.append("real (held out)")
    figure = labelled_rows_figure(rows, labels)
    if title:
        figure.suptitle(title, fontsize=10)
        figure.tight_layout()
    return figure


def markdown_table(header, rows):
    """A Markdown table (a string) of ``header`` (the column names) and ``rows`` (sequences of cells), for
    ``IPython.display.Markdown``; cells are written with ``str``."""
    lines = ["| " + " | ".join(map(str, header)) + " |", "|" + "---|" * len(header)]
    for row in rows:
        if len(row) != len(header):
            raise ValueError(f"a row has {len(row)} cells for {len(header)} columns: {row!r}")
        lines.append("| " + " | ".join(map(str, row)) + " |")
    return "\n".join(lines)


def png_bytes(picture):
    """uint8 array (H, W, 3) or (H, W) -> PNG bytes, palette-encoded when there are at most 256 colours."""
    picture = np.asarray(picture)
    if picture.dtype != np.uint8 or picture.ndim not in (2, 3) or (picture.ndim == 3 and picture.shape[-1] != 3):
        raise ValueError(f"picture must be a uint8 array (H, W) or (H, W, 3), got {picture.dtype} {picture.shape}")
    image = Image.fromarray(picture)
    if picture.ndim == 3:
        packed = (picture[..., 0].astype(np.uint32) << 16) | (picture[..., 1].astype(np.uint32) << 8) | picture[..., 2]
        colours, index = np.unique(packed, return_inverse=True)
        if len(colours) <= 256:
            image = Image.fromarray(index.reshape(packed.shape).astype(np.uint8), mode="P")
            image.putpalette(np.stack([colours >> 16, (colours >> 8) & 255, colours & 255], -1)
                             .astype(np.uint8).ravel().tolist())
    buffer = io.BytesIO()
    image.save(buffer, format="PNG", optimize=True)
    return buffer.getvalue()


def figure_png(fig, dpi=80, colours=None):
    """A matplotlib figure -> PNG bytes; ``colours`` (e.g. 64) quantises to a palette for small files."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    fig.set_dpi(dpi)
    canvas = FigureCanvasAgg(fig)
    canvas.draw()
    picture = np.asarray(canvas.buffer_rgba())[..., :3]
    if colours is not None:
        picture = np.asarray(Image.fromarray(picture).quantize(colors=colours).convert("RGB"))
    return png_bytes(picture)


# --------------------------------------------------------------------------
# generation, pixel by pixel
# --------------------------------------------------------------------------


def generation_frames(images, known=None, num_frames=33, fill=128):
    """The canvases of raster-order sampling, rebuilt from its result.

    Sampling draws every unknown pixel once, in raster order, and never
    changes it again, so the canvas after the pixel at raster index t was
    drawn is the final image with the unknown pixels from t + 1 on hidden.

    Args:
      images: uint8 (N, H, W, C), the result of ``sample`` or ``complete``.
      known: bool (N, H, W), True where a pixel was given (``complete``);
        default: nothing given (``sample``).

    Returns:
      uint8 (num_frames, N, H, W, C): the first frame before any pixel is
      drawn, the last one the finished images, the others evenly spaced in
      between; hidden pixels are set to ``fill``.
    """
    images = np.asarray(images)
    if images.ndim != 4 or images.dtype != np.uint8:
        raise ValueError(f"images must be uint8 (N, H, W, C), got {images.dtype} {images.shape}")
    n, h, w, _ = images.shape
    known = np.zeros((n, h, w), bool) if known is None else np.asarray(known)
    if known.dtype != bool or known.shape != (n, h, w):
        raise ValueError(f"known must be bool of shape {(n, h, w)}, got {known.dtype} {known.shape}")
    if not isinstance(num_frames, (int, np.integer)) or num_frames < 2:
        raise ValueError(f"num_frames must be an int >= 2, got {num_frames!r}")
    order = np.arange(h * w).reshape(h, w)  # raster index of every position
    todo = np.flatnonzero((~known).any(axis=0).ravel())
    first, last = (int(todo[0]), int(todo[-1]) + 1) if len(todo) else (0, 0)
    frames = []
    for drawn_until in np.linspace(first, last, num_frames).round().astype(int):
        visible = known | (order < drawn_until)[None]
        frames.append(hide(images, visible, fill))
    return np.stack(frames)


def generation_animation(images, known=None, num_frames=33, columns=None, scale=4, interval=150):
    """A ``matplotlib.animation.FuncAnimation`` of images appearing pixel by pixel.

    ``images``/``known`` as in ``generation_frames``; every image pixel is
    drawn as ``scale`` x ``scale`` screen pixels, so frames stay crisp and
    small. Show it in a notebook with
    ``IPython.display.HTML(animation_html(animation))``, which embeds the
    frames, so it also plays on a static web page, offline.
    """
    from matplotlib.animation import FuncAnimation
    from matplotlib.figure import Figure

    frames = generation_frames(images, known, num_frames)
    grids = [image_grid(frame, columns=columns) for frame in frames]
    grids = [g.squeeze(-1) if g.shape[-1] == 1 else g for g in grids]
    dpi = 100
    height, width = grids[0].shape[:2]
    fig = Figure(figsize=(width * scale / dpi, height * scale / dpi), dpi=dpi)
    ax = fig.add_axes([0, 0, 1, 1])
    ax.set_axis_off()
    shown = ax.imshow(grids[0], cmap="gray", vmin=0, vmax=255, interpolation="nearest")

    def draw(k):
        shown.set_data(grids[k])
        return (shown,)

    return FuncAnimation(fig, draw, frames=len(grids), interval=interval, blit=False)


#: matplotlib's player buttons use Font Awesome icons from a CDN; these characters need no download
_PLAYER_ICONS = {
    "fa fa-minus": "\u2212", "fa fa-fast-backward": "\u21e4", "fa fa-step-backward": "\u25c1",
    "fa fa-play fa-flip-horizontal": "\u25c0", "fa fa-pause": "\u275a\u275a", "fa fa-play": "\u25b6",
    "fa fa-step-forward": "\u25b7", "fa fa-fast-forward": "\u21e5", "fa fa-plus": "+",
}


def animation_html(animation, default_mode="once"):
    """HTML (a string) that plays ``animation`` in a browser with no network access.

    ``animation.to_jshtml`` embeds every frame, but links a stylesheet from
    a CDN for its buttons' icons; this version drops the link and draws the
    icons with plain characters. ``default_mode``: "once", "loop" or "reflect".
    """
    import re

    html = animation.to_jshtml(default_mode=default_mode)
    html, links = re.subn(r'<link rel="stylesheet"\s+href="https://[^"]*font-awesome[^"]*">', "", html)
    for icon, text in _PLAYER_ICONS.items():
        html = html.replace(f'<i class="{icon}"></i>', f'<span aria-hidden="true">{text}</span>')
    if links != 1 or "fa fa-" in html or "https://" in html:
        raise RuntimeError("matplotlib's animation template changed: check animation_html")
    return html


# --------------------------------------------------------------------------
# the discretised logistic mixture, in pixel units
# --------------------------------------------------------------------------

PIXEL_VALUES = np.arange(256)


def _check_mixture(weights, means, scales):
    weights, means, scales = (np.atleast_1d(np.asarray(a, np.float64)) for a in (weights, means, scales))
    if not (weights.ndim == means.ndim == scales.ndim == 1 and len(weights) == len(means) == len(scales)):
        raise ValueError("weights, means and scales must be 1-D and of the same length (one entry per component)")
    if (weights < 0).any() or weights.sum() <= 0:
        raise ValueError(f"weights must be non-negative and not all zero, got {weights}")
    if (scales <= 0).any():
        raise ValueError(f"scales must be positive, got {scales}")
    return weights / weights.sum(), means, scales


def mixture_params(weights, means, scales):
    """Mixture in pixel units -> the (3K,) parameter vector of a grey ``DiscretizedLogisticMixture``.

    weights: K non-negative numbers (normalised here); means: K values in
    pixel units (0..255); scales: K positive scales in pixel units. The head
    works in [-1, 1]: mean -> mean / 127.5 - 1, scale -> log(scale / 127.5).
    """
    weights, means, scales = _check_mixture(weights, means, scales)
    with np.errstate(divide="ignore"):
        logits = np.log(weights)
    logits = np.maximum(logits, -1e4)  # a zero weight: a component that is never picked
    return np.concatenate([logits, means / 127.5 - 1.0, np.log(scales / 127.5)]).astype(np.float32)


def mixture_bin_probabilities(weights, means, scales):
    """(256,) probabilities of the values 0..255, computed by the library's own head.

    Arguments as in ``mixture_params``. The head is the one the models
    train with, so this is exactly the distribution the loss scores.
    """
    from ..nn.heads import DiscretizedLogisticMixture

    params = mixture_params(weights, means, scales)
    head = DiscretizedLogisticMixture(len(params) // 3, channels=1)
    values = PIXEL_VALUES.astype(np.uint8).reshape(1, 1, 256, 1)
    tiled = np.broadcast_to(params, (1, 1, 256, len(params)))
    return np.exp(head.log_prob(values, tiled).numpy().reshape(256).astype(np.float64))


def logistic_mixture_density(x, weights, means, scales):
    """Density of the continuous mixture at ``x`` (pixel units), per pixel unit."""
    weights, means, scales = _check_mixture(weights, means, scales)
    z = (np.asarray(x, np.float64)[..., None] - means) / scales
    pdf = np.exp(-np.abs(z)) / (scales * (1.0 + np.exp(-np.abs(z))) ** 2)  # symmetric form: no overflow
    return (pdf * weights).sum(axis=-1)


MIXTURE_FIGSIZE = (7.5, 4.2)  # plot_mixture's figure (inches), axes (figure fractions) and x range (pixel values)
MIXTURE_AXES = {"left": 0.12, "right": 0.98, "bottom": 0.12, "top": 0.93}
MIXTURE_XLIM = (-20, 275)


def plot_mixture(weights, means, scales, value=None, figure=None, components=True):
    """Two panels: the continuous density over the 256 bins' probabilities, and the bits of every value.

    ``value`` (0..255) is marked, with its probability and the bits
    -log2 P(value) an entropy coder needs to store it. Returns the figure.
    """
    from matplotlib.figure import Figure

    weights, means, scales = _check_mixture(weights, means, scales)
    probs = mixture_bin_probabilities(weights, means, scales)
    bits = -np.log2(np.maximum(probs, 1e-300))
    fig = figure or Figure(figsize=MIXTURE_FIGSIZE)
    top, bottom = fig.subplots(2, 1, sharex=True, gridspec_kw={"height_ratios": [3, 2]})
    edges = np.arange(257) - 0.5
    top.stairs(probs, edges, fill=True, color="#9ecae1", label="P(x): discretised, 256 bins")
    xs = np.linspace(-20, 275, 1200)
    top.plot(xs, logistic_mixture_density(xs, weights, means, scales), color="#08519c", lw=1.5,
             label="continuous mixture density")
    if components and len(weights) > 1:
        for k in range(len(weights)):
            top.plot(xs, weights[k] * logistic_mixture_density(xs, [1.0], means[k:k + 1], scales[k:k + 1]),
                     color="#636363", lw=0.8, ls="--")
    top.axvspan(-20, -0.5, color="#f0f0f0", zorder=0)
    top.axvspan(255.5, 275, color="#f0f0f0", zorder=0)
    top.set_ylabel("probability")
    top.set_ylim(0, max(probs.max(), 1e-3) * 1.15)
    top.legend(loc="lower left", bbox_to_anchor=(0.0, 1.0), ncol=2, fontsize=9, frameon=False)
    bottom.plot(PIXEL_VALUES, bits, color="#a50f15", lw=1.2)
    bottom.set_ylabel("bits = -log2 P(x)")
    bottom.set_ylim(0, min(max(bits.max(), 9.0), 40.0) * 1.05)
    bottom.axhline(8.0, color="#969696", lw=0.8, ls=":")
    bottom.text(2, 8.3, "8 bits: uniform", fontsize=9, color="#636363")
    bottom.set_xlabel("pixel value x")
    bottom.set_xlim(*MIXTURE_XLIM)
    if value is not None:
        value = int(value)
        if not 0 <= value <= 255:
            raise ValueError(f"value must lie in 0..255, got {value}")
        for ax in (top, bottom):
            ax.axvline(value, color="#e6550d", lw=0.8, ls="--")
        bottom.plot([value], [bits[value]], "o", color="#e6550d", ms=4)
        bottom.set_xlabel(f"pixel value x        x = {value}: P(x) = {probs[value]:.3g}, {bits[value]:.2f} bits")
    fig.subplots_adjust(**MIXTURE_AXES, hspace=0.08)
    return fig


def mixture_value_strip(value, dpi):
    """uint8 (H, W, 3): a strip as wide as ``plot_mixture``'s picture at ``dpi``, with a marker under ``value``.

    Shown beneath a precomputed mixture picture, it marks the chosen value
    without a picture per value; the marker sits where the value lies on the
    picture's horizontal axis.
    """
    value = int(value)
    if not 0 <= value <= 255:
        raise ValueError(f"value must lie in 0..255, got {value}")
    width = int(round(MIXTURE_FIGSIZE[0] * dpi))
    lo, hi = MIXTURE_XLIM
    x = width * (MIXTURE_AXES["left"] + (MIXTURE_AXES["right"] - MIXTURE_AXES["left"]) * (value - lo) / (hi - lo))
    strip = Image.new("RGB", (width, 20), "white")
    draw = ImageDraw.Draw(strip)
    draw.fontmode = "1"
    draw.polygon([(x, 1), (x - 6, 11), (x + 6, 11)], fill=(230, 85, 13))
    font = _font(12)
    label = f"x = {value}"
    left = x + 9 if x + 9 + _text_width(label, font) < width else x - 9 - _text_width(label, font)
    draw.text((left, 2), label, fill=(230, 85, 13), font=font)
    return np.asarray(strip)


def coupled_pair_probabilities(weights, means, scales, coupling):
    """(256, 256) joint probabilities P(R = r, G = g) of a coupled two-channel mixture.

    weights: K weights; means, scales: (2, K) per channel (R first), pixel
    units; coupling: the coefficient c of mu_G = mean_G + c * x_R, with x_R
    the red value scaled to [-1, 1] (as in ``DiscretizedLogisticMixture``;
    c = 0.5 moves the green mean by about 0.5 * (r - 127.5) pixel values).
    Blue is summed out: it is drawn after red and green, so its conditional
    probabilities add up to 1 for every (r, g). Each bin mass comes from the
    library's ``_log_bin_mass``, the function inside the loss.
    """
    from keras import ops

    from ..nn.heads import _log_bin_mass

    means, scales = np.asarray(means, np.float64), np.asarray(scales, np.float64)
    weights, _, _ = _check_mixture(weights, means[0], scales[0])
    _check_mixture(weights, means[1], scales[1])
    if means.shape != (2, len(weights)) or scales.shape != (2, len(weights)):
        raise ValueError(f"means and scales must have shape (2, K) = (2, {len(weights)})")
    if not -1.0 <= coupling <= 1.0:
        raise ValueError(f"coupling must lie in [-1, 1] (it is a tanh), got {coupling}")
    mu = means / 127.5 - 1.0
    log_s = np.log(scales / 127.5)
    x = PIXEL_VALUES / 127.5 - 1.0  # (256,) bin centres in [-1, 1], float64 (as ``to_unit_range``)
    log_r = ops.convert_to_numpy(_log_bin_mass(x[:, None], mu[0], log_s[0]))  # (256 r, K)
    mean_g = mu[1] + coupling * x[:, None, None]  # (256 r, 1, K): the coupled green means
    log_g = ops.convert_to_numpy(_log_bin_mass(x[None, :, None], mean_g, log_s[1]))  # (256 r, 256 g, K)
    return np.exp(np.logaddexp.reduce(np.log(weights) + log_r[:, None, :] + log_g, axis=-1))


def plot_coupling(weights, means, scales, coupling, red, figure=None, joint=None):
    """Left: the joint P(R, G) of a coupled mixture; right: P(G | R = red). Returns the figure.

    Arguments as in ``coupled_pair_probabilities``; ``red`` in 0..255.
    ``joint``: that function's result for these arguments, if already computed.
    """
    from matplotlib.figure import Figure

    red = int(red)
    if not 0 <= red <= 255:
        raise ValueError(f"red must lie in 0..255, got {red}")
    if joint is None:
        joint = coupled_pair_probabilities(weights, means, scales, coupling)
    conditional = joint[red] / joint[red].sum()
    fig = figure or Figure(figsize=(7.5, 3.2))
    left, right = fig.subplots(1, 2, gridspec_kw={"width_ratios": [1, 1.4]})
    interior = joint[1:-1, 1:-1]  # the edge bins hold whole tails and would wash out the colour scale
    left.imshow(joint.T, origin="lower", cmap="Greens", vmin=0, vmax=interior.max(), extent=(-0.5, 255.5, -0.5, 255.5))
    left.axvline(red, color="#e31a1c", lw=1.0)
    left.set_xlabel("red value r")
    left.set_ylabel("green value g")
    left.set_title(f"P(R, G), coupling c = {coupling:+.2f}", fontsize=9)
    right.stairs(conditional, np.arange(257) - 0.5, fill=True, color="#41ab5d")
    mean_shift = coupling * (red / 127.5 - 1.0) * 127.5
    right.set_title(f"P(G | R = {red}): green means moved by {mean_shift:+.0f}", fontsize=9)
    right.set_xlabel("green value g")
    right.set_xlim(-0.5, 255.5)
    right.set_ylim(0, max(conditional.max(), 1e-3) * 1.15)
    fig.subplots_adjust(left=0.09, right=0.98, bottom=0.15, top=0.9, wspace=0.25)
    return fig


# --------------------------------------------------------------------------
# block diagrams
# --------------------------------------------------------------------------


def block_diagram(ax, boxes, arrows, fontsize=8):
    """Draw a block diagram: named boxes joined by arrows.

    Args:
      boxes: {name: (x, y, text)} or {name: (x, y, text, colour)}; (x, y) is
        the box centre in data coordinates.
      arrows: [(from name, to name)] or [(from, to, label)] or
        [(from, to, label, curvature)]; a non-zero curvature bends the arrow
        (skip connections).

    The axis limits are set to fit; the axis is hidden.
    """
    from matplotlib.patches import FancyArrowPatch

    drawn, label_xs, label_ys = {}, [], []
    for name, spec in boxes.items():
        if len(spec) not in (3, 4):
            raise ValueError(f"box {name!r} must be (x, y, text) or (x, y, text, colour), got {spec!r}")
        x, y, text = spec[:3]
        colour = spec[3] if len(spec) == 4 else "#deebf7"
        drawn[name] = ax.text(x, y, text, ha="center", va="center", fontsize=fontsize, zorder=3,
                              bbox=dict(boxstyle="round,pad=0.35", fc=colour, ec="#4a4a4a", lw=0.8))
    for arrow in arrows:
        if len(arrow) < 2 or len(arrow) > 4:
            raise ValueError(f"arrows must be (from, to[, label[, curvature]]), got {arrow!r}")
        start, end = arrow[0], arrow[1]
        for name in (start, end):
            if name not in drawn:
                raise ValueError(f"arrow {arrow!r} names an unknown box {name!r}")
        label = arrow[2] if len(arrow) > 2 else ""
        curvature = arrow[3] if len(arrow) > 3 else 0.0
        patch = FancyArrowPatch(posA=boxes[start][:2], posB=boxes[end][:2], patchA=drawn[start].get_bbox_patch(),
                                patchB=drawn[end].get_bbox_patch(), arrowstyle="-|>", mutation_scale=9,
                                connectionstyle=f"arc3,rad={curvature}", color="#4a4a4a", lw=0.9, zorder=4)
        # zorder above the boxes: they are drawn first, so the arrow is clipped at their final outline
        ax.add_patch(patch)
        if label:
            (x0, y0), (x1, y1) = boxes[start][:2], boxes[end][:2]
            # the middle of the arc: halfway to the control point of matplotlib's "arc3" curve
            x_mid = (x0 + x1) / 2 + 0.5 * curvature * (y1 - y0)
            y_mid = (y0 + y1) / 2 - 0.5 * curvature * (x1 - x0)
            label_xs.append(x_mid)
            label_ys.append(y_mid)
            ax.text(x_mid, y_mid, label, fontsize=fontsize - 1, color="#525252", zorder=5,
                    ha="center", va="center", bbox=dict(boxstyle="square,pad=0.1", fc="white", ec="none"))
    xs = [spec[0] for spec in boxes.values()] + label_xs
    ys = [spec[1] for spec in boxes.values()] + label_ys
    ax.set_xlim(min(xs) - 1.0, max(xs) + 1.0)
    ax.set_ylim(min(ys) - 0.6, max(ys) + 0.6)
    ax.set_axis_off()
    return ax


# --------------------------------------------------------------------------
# training curves
# --------------------------------------------------------------------------


def training_curves(log, title, reference=None, figure=None):
    """A figure of a training log: bits/dim over the run, the same zoomed past the first fall, the learning rate.

    Args:
      log: a dict of arrays with ``step``, ``bits_per_dim``, ``learning_rate``
        and, NaN where not measured, ``val_bits_per_dim`` (averaged weights)
        and ``val_raw_bits_per_dim`` (raw weights): what ``load_training_log``
        or ``numpy.genfromtxt(log.csv, names=True)`` give.
      reference: optional (bits/dim, label) drawn as a dotted line.

    The middle panel starts at the second held-out measurement (or a third of
    the way in), with its vertical axis fitted to what follows: the fall of the
    first steps would otherwise flatten the rest. Made without pyplot.
    """
    from matplotlib.figure import Figure

    names = log.dtype.names if isinstance(log, np.ndarray) else tuple(log)  # a structured array or a dict
    steps = np.atleast_1d(np.asarray(log["step"], float))
    if steps.size == 0:
        raise ValueError("the training log is empty")
    fig = figure if figure is not None else Figure(figsize=(12, 3.4))
    left, zoom, right = fig.subplots(1, 3, gridspec_kw={"width_ratios": [2, 1.4, 1]})
    curves = [(steps, np.asarray(log["bits_per_dim"]), "-", "#3182bd", "training batches")]
    for key, colour, label in [("val_bits_per_dim", "#e6550d", "held-out images, Polyak-averaged weights"),
                               ("val_raw_bits_per_dim", "#756bb1", "held-out images, raw weights")]:
        values = np.atleast_1d(np.asarray(log[key], float)) if key in names else np.full(steps.shape, np.nan)
        if (~np.isnan(values)).any():
            curves.append((steps[~np.isnan(values)], values[~np.isnan(values)], "o-", colour, label))
    held_out_steps = curves[1][0] if len(curves) > 1 else np.array([])
    start = held_out_steps[1] if len(held_out_steps) > 2 else steps[len(steps) // 3]
    window = []
    for x, y, style, colour, label in curves:
        left.plot(x, y, style, color=colour, lw=1.2, ms=4, label=label)
        later = x >= start
        zoom.plot(x[later], y[later], style, color=colour, lw=1.2, ms=4)
        window.append(y[later])
    if reference is not None:
        for ax in (left, zoom):
            ax.axhline(reference[0], color="#969696", lw=0.8, ls=":", label=reference[1] if ax is left else None)
    low, high = np.concatenate(window).min(), np.concatenate(window).max()
    zoom.set_ylim(low - 0.05 * (high - low) - 1e-3, high + 0.05 * (high - low) + 1e-3)
    zoom.set_title(f"from step {int(start):,} on, zoomed", fontsize=10)
    left.set_title(title, fontsize=10)
    left.set_ylabel("bits/dim")
    left.legend(fontsize=8)
    right.plot(steps, log["learning_rate"], color="#31a354")
    right.set_ylabel("learning rate")
    right.ticklabel_format(axis="y", style="sci", scilimits=(0, 0))
    for ax in (left, zoom, right):
        ax.set_xlabel("step")
        ax.grid(alpha=0.3)
    fig.tight_layout()
    return fig


# --------------------------------------------------------------------------
# the three distributions of each pixel, step by step
# --------------------------------------------------------------------------

CHANNEL_COLOURS = ("#d62728", "#2ca02c", "#1f77b4")
CHANNEL_NAMES = ("R", "G | R", "B | R, G")


def channel_distribution_frames(image, probs, steps, dpi=90, colours=64):
    """PNG frames of an RGB image being drawn: the canvas at each step and the pixel's three distributions.

    image: uint8 (H, W, 3), the drawn image. probs: (H*W, 3, 256), P(R),
    P(G | R) and P(B | R, G) of every pixel given the drawn values (each row
    a distribution). steps: the raster positions to draw a frame for.
    Each frame shows the canvas before that pixel (grey: not drawn yet, a
    red square on the pixel) and, per channel, the distribution with the
    drawn value marked; the edge bins, which hold whole tails and can dwarf
    the rest, are noted in words when they are off the scale.
    """
    from matplotlib.figure import Figure
    from matplotlib.patches import Rectangle

    image = np.asarray(image)
    h, w = image.shape[:2]
    probs = np.asarray(probs)
    if image.dtype != np.uint8 or image.ndim != 3 or image.shape[-1] != 3:
        raise ValueError(f"image must be uint8 (H, W, 3), got {image.dtype} {image.shape}")
    if probs.shape != (h * w, 3, 256):
        raise ValueError(f"probs must have shape {(h * w, 3, 256)} for a {h}x{w} image, got {probs.shape}")
    if not all(0 <= t < h * w for t in steps):
        raise ValueError(f"steps must lie in 0..{h * w - 1}")
    drawn = image.reshape(h * w, 3).astype(int)
    picked = np.take_along_axis(probs, drawn[..., None], axis=-1)[..., 0]  # (H*W, 3)
    order = np.arange(h * w).reshape(h, w)

    fig = Figure(figsize=(7.0, 2.5))  # one figure, redrawn for every frame
    grid = fig.add_gridspec(3, 2, width_ratios=[1, 2.2], left=0.02, right=0.98, top=0.9, bottom=0.16,
                            wspace=0.12, hspace=0.25)
    canvas = fig.add_subplot(grid[:, 0])
    shown = canvas.imshow(image, interpolation="nearest")
    cursor = Rectangle((-0.5, -0.5), 1, 1, fill=False, ec="red", lw=1.5)
    canvas.add_patch(cursor)
    canvas.set_xticks([])
    canvas.set_yticks([])
    panels = []
    for c in range(3):
        ax = fig.add_subplot(grid[c, 1])
        bars = ax.stairs(probs[0, c], np.arange(257) - 0.5, fill=True, color=CHANNEL_COLOURS[c], alpha=0.8)
        marker = ax.axvline(0, color="black", lw=0.8, ls="--")
        label = ax.text(0.01, 0.74, "", transform=ax.transAxes, fontsize=8)
        ax.set_xlim(-0.5, 255.5)
        ax.set_yticks([])
        ax.tick_params(labelsize=7, labelbottom=c == 2)
        panels.append((ax, bars, marker, label))

    frames = []
    for t in steps:
        i, j = divmod(int(t), w)
        shown.set_data(hide(image[None], (order < t)[None])[0])
        cursor.set_xy((j - 0.5, i - 0.5))
        canvas.set_title(f"step {t}: row {i}, column {j}", fontsize=8)
        for c, (ax, bars, marker, label) in enumerate(panels):
            p = probs[t, c]
            top = max(p[1:-1].max(), picked[t, c]) * 1.15
            ax.set_ylim(0, top)
            bars.set_data(p)
            marker.set_xdata([image[i, j, c]] * 2)
            off_scale = [f"P({v}) = {p[v]:.2f}" for v in (0, 255) if p[v] > top]
            label.set_text(f"P({CHANNEL_NAMES[c]}): drew {image[i, j, c]}, p = {picked[t, c]:.3f}"
                           + (f"   (off the scale: {', '.join(off_scale)})" if off_scale else ""))
        panels[2][0].set_xlabel(f"pixel value; this pixel costs {-np.log2(picked[t]).sum():.1f} bits", fontsize=8)
        frames.append(figure_png(fig, dpi=dpi, colours=colours))
    return frames


# --------------------------------------------------------------------------
# text in pictures
# --------------------------------------------------------------------------


def _font(size=12):
    return ImageFont.load_default(size=size)


def _text_width(text, font):
    """Width in pixels of ``text`` drawn crisply (``fontmode = "1"``, as the pictures here draw it)."""
    draw = ImageDraw.Draw(Image.new("1", (1, 1)))
    draw.fontmode = "1"
    return int(np.ceil(draw.textlength(text, font=font)))


# --------------------------------------------------------------------------
# receptive fields and layer footprints as pictures
# --------------------------------------------------------------------------

FIELD_COLOURS = {
    "target": (215, 48, 39),  # the pixel being predicted
    "seen": (69, 117, 180),  # earlier pixels the prediction depends on
    "missed": (253, 174, 97),  # earlier pixels it does not see (out of reach at this depth, where the blind spot is
    # not given separately)
    "blind": (118, 42, 131),  # earlier pixels in a blind spot: out of reach at any depth
    "later": (235, 235, 235),  # pixels after the target, which it must not see
    "leak": (0, 0, 0),  # a later pixel it sees: a broken causality
}
FIELD_LEGEND = [
    (FIELD_COLOURS["target"], "target pixel"),
    (FIELD_COLOURS["seen"], "earlier pixel it sees"),
    (FIELD_COLOURS["missed"], "earlier pixel it does not see"),
    (FIELD_COLOURS["later"], "later pixel"),
]


BLIND_LEGEND = (FIELD_COLOURS["blind"], "blind spot: out of reach at any depth")


def field_categories(field, target, blind=None):
    """Int (H, W): 0 later, 1 seen, 2 missed (earlier, not seen), 3 target, 4 leak (a later pixel that is seen),
    5 blind spot.

    ``blind``: optional bool (H, W), the earlier pixels that the architecture misses at any depth (for example the
    pixels a deep enough stack still misses, ``rf.unseen_earlier`` of its field); the missed pixels among them are
    5, the other missed pixels (out of reach at this depth) stay 2. A seen pixel in ``blind`` is an error.
    """
    field = np.asarray(field)
    if field.ndim == 3:
        field = field.any(axis=-1)
    seen = field > 0
    earlier = rf.earlier_pixels(seen.shape, target)
    kinds = np.where(earlier, np.where(seen, 1, 2), np.where(seen, 4, 0))
    if blind is not None:
        blind = np.asarray(blind, bool)
        if blind.shape != seen.shape:
            raise ValueError(f"blind must have the field's shape {seen.shape}, got {blind.shape}")
        if (blind & seen).any():
            raise ValueError("a pixel marked as blind spot is seen by this field: the blind spot must come from a "
                             "field at least as deep")
        kinds[blind & earlier] = 5
    kinds[tuple(target)] = 3
    return kinds


def field_picture(field, target, cell=24, caption=None, blind=None):
    """uint8 (H', W', 3) picture of a receptive field around ``target``, colours as in ``FIELD_COLOURS``.

    ``field``: bool or float (H, W) or (H, W, C), non-zero where the input
    influences the target. ``caption``: optional text drawn underneath.
    ``blind``: optional blind spot, drawn in its own colour (see ``field_categories``).
    """
    kinds = field_categories(field, target, blind)
    palette = np.array([FIELD_COLOURS[k] for k in ("later", "seen", "missed", "target", "leak", "blind")], np.uint8)
    h, w = kinds.shape
    picture = np.full((h * cell + 1, w * cell + 1, 3), 255, np.uint8)  # white grid lines
    for row in range(h):
        for col in range(w):
            picture[row * cell + 1 : (row + 1) * cell, col * cell + 1 : (col + 1) * cell] = palette[kinds[row, col]]
    if caption is None:
        return picture
    font = _font(12)
    lines = caption.split("\n")
    width = max(picture.shape[1], *(_text_width(line, font) + 2 for line in lines))
    image = Image.new("RGB", (width, picture.shape[0] + 4 + 15 * len(lines)), "white")
    image.paste(Image.fromarray(picture), (0, 0))
    draw = ImageDraw.Draw(image)
    draw.fontmode = "1"  # crisp text: few colours, small PNG
    for i, line in enumerate(lines):
        draw.text((0, picture.shape[0] + 3 + 15 * i), line, fill=(40, 40, 40), font=font)
    return np.asarray(image)


def plot_fields(panels, size=2.6, legend_below=True):
    """A matplotlib figure (made without pyplot) of receptive fields side by side, in ``FIELD_COLOURS``.

    ``panels``: [(title, field, target), ...] with ``field`` as for
    ``field_picture``, or (title, field, target, blind) to draw a blind spot
    in its own colour. Returns the figure.
    """
    from matplotlib.figure import Figure
    from matplotlib.patches import Patch

    figure = Figure(figsize=(size * len(panels), size + 0.9))
    axes = figure.subplots(1, len(panels), squeeze=False)
    any_blind = False
    for ax, (title, field, target, *blind) in zip(axes[0], panels):
        blind = blind[0] if blind else None
        any_blind |= blind is not None
        ax.imshow(field_picture(field, target, cell=12, blind=blind), interpolation="nearest")
        ax.set_title(title, fontsize=9)
        ax.axis("off")
    if legend_below:
        legend = list(FIELD_LEGEND)
        if any_blind:  # then the orange ones are the pixels that a deeper stack would reach
            legend[2] = (FIELD_COLOURS["missed"], "earlier pixel out of reach at this depth")
            legend.append(BLIND_LEGEND)
        handles = [Patch(facecolor=np.array(colour) / 255, edgecolor="0.5", label=text)
                   for colour, text in legend]
        figure.legend(handles=handles, loc="lower center", ncol=2, fontsize=8, frameon=False)
        figure.subplots_adjust(bottom=0.25)
    return figure


def field_caption(field, target):
    """'sees 12 of 16 earlier pixels' for a field around ``target`` (and any later pixel it sees)."""
    kinds = field_categories(field, target)
    earlier = int(((kinds == 1) | (kinds == 2)).sum())
    text = f"sees {int((kinds == 1).sum())} of {earlier}\nearlier pixels"
    if (kinds == 4).any():
        text += f"\nLEAK: sees {int((kinds == 4).sum())} later pixels"
    return text


def footprint_picture(offsets, cell=10, window=None):
    """uint8 picture of one layer's footprint: taps in blue, the output pixel outlined in red.

    ``offsets``: frozenset of (dy, dx), or ``rf.EARLIER`` (drawn on a 5x5
    window, every cell before the centre in raster order). ``window``: draw
    the square of offsets -window..window (default: just the taps and the
    output pixel), so that several footprints can be drawn to one scale.
    """
    if offsets == rf.EARLIER:
        offsets = frozenset((dy, dx) for dy in range(-2, 3) for dx in range(-2, 3) if (dy, dx) < (0, 0))
        rows, cols = range(-2, 3), range(-2, 3)
    elif window is not None:
        if any(max(abs(dy), abs(dx)) > window for dy, dx in offsets):
            raise ValueError(f"a tap lies outside the window of {window} around the output pixel: {sorted(offsets)}")
        rows = cols = range(-window, window + 1)
    else:
        dys = [dy for dy, _ in offsets] + [0]
        dxs = [dx for _, dx in offsets] + [0]
        rows, cols = range(min(dys), max(dys) + 1), range(min(dxs), max(dxs) + 1)
    image = Image.new("RGB", (len(cols) * cell + 1, len(rows) * cell + 1), "white")
    draw = ImageDraw.Draw(image)
    for i, dy in enumerate(rows):
        for j, dx in enumerate(cols):
            box = [j * cell + 1, i * cell + 1, (j + 1) * cell - 1, (i + 1) * cell - 1]
            fill = FIELD_COLOURS["seen"] if (dy, dx) in offsets else FIELD_COLOURS["later"]
            draw.rectangle(box, fill=fill)
            if (dy, dx) == (0, 0):
                draw.rectangle([box[0] - 1, box[1] - 1, box[2] + 1, box[3] + 1], outline=FIELD_COLOURS["target"],
                               width=2)
    return np.asarray(image)


def pattern_picture(patterns, cell=10, max_width=640):
    """uint8 picture of every layer's footprints: a line per layer, each footprint with its label.

    ``patterns``: [(layer title, [(label, offsets), ...]), ...], as from
    ``LayerStack.patterns()``. A layer whose footprints do not fit in
    ``max_width`` pixels continues on the next line.
    """
    font = _font(12)
    title_width, gap = 62, 16
    placed, y = [], 2  # (x, y, footprint picture, label)
    for title, entries in patterns:
        placed.append((0, y, None, title))
        x, line_height = title_width, 14
        for label, offsets in entries:
            picture = footprint_picture(offsets, cell)
            width = picture.shape[1] + 8 + _text_width(label, font)
            if x > title_width and x + width > max_width:
                x, y, line_height = title_width, y + line_height + 6, 14
            placed.append((x, y, picture, label))
            x += width + gap
            line_height = max(line_height, picture.shape[0])
        y += line_height + 10
    width = max(x + (0 if picture is None else picture.shape[1] + 8) + _text_width(label, font)
                for x, _, picture, label in placed) + 2
    image = Image.new("RGB", (width, y), "white")
    draw = ImageDraw.Draw(image)
    draw.fontmode = "1"  # crisp text: few colours, small PNG
    for x, top, picture, label in placed:
        if picture is None:
            draw.text((x, top), label, fill=(40, 40, 40), font=font)
            continue
        image.paste(Image.fromarray(picture), (x, top))
        draw.text((x + picture.shape[1] + 8, top + max(picture.shape[0] / 2 - 7, 0)), label,
                  fill=(40, 40, 40), font=font)
    return np.asarray(image)


def field_magnitude_figure(fields, target, decades=6, cell=6):
    """A figure of receptive fields and their gradient magnitudes, one column per model (made without pyplot).

    fields: {title: float (H, W)} gradient magnitudes at ``target`` (zero
    where the input cannot change the prediction). Top row: the field as
    ``field_picture`` draws it, with how many earlier pixels it sees; bottom
    row: log10 of the magnitude over ``decades`` decades below its largest.
    """
    from matplotlib.figure import Figure

    if not fields:
        raise ValueError("fields is empty: give at least one {title: magnitude} entry")
    figure = Figure(figsize=(3.5 * len(fields), 7.4))
    axes = figure.subplots(2, len(fields), squeeze=False)
    for k, (title, magnitude) in enumerate(fields.items()):
        magnitude = np.asarray(magnitude)
        if magnitude.ndim != 2:
            raise ValueError(f"the field of {title!r} must be (H, W), got shape {magnitude.shape}")
        seen = magnitude > 0
        earlier = rf.earlier_pixels(seen.shape, target)
        axes[0, k].imshow(field_picture(seen, target, cell=cell))
        axes[0, k].set_title(f"{title}\nsees {int((seen & earlier).sum())} of {int(earlier.sum())} earlier pixels",
                             fontsize=9)
        if seen.any():
            logged = np.log10(np.where(seen, magnitude / magnitude.max(), np.nan))
            shown = axes[1, k].imshow(logged, cmap="viridis", vmin=-decades, vmax=0)
            figure.colorbar(shown, ax=axes[1, k], shrink=0.8)
        axes[1, k].plot(target[1], target[0], "s", color="red", ms=4)
        axes[1, k].set_title("log10 |gradient| / largest", fontsize=9)
    for ax in axes.ravel():
        ax.set_xticks([])
        ax.set_yticks([])
    return figure
