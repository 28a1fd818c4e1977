"""The interactive explorers of the book (their pictures are drawn by ``pixelcnn_lib.teaching.plotting``).

Every explorer works live in Jupyter and Colab, and also on the static
website, where no Python kernel runs: its views are computed in advance and
switched in the browser, by ``jslink`` for the ipywidgets explorers (see
``switched_by``). An explorer that recomputes in Python
(``live_causality_explorer``, ``live_mixture_explorer``) needs a kernel.

Explorers:

* ``causality_explorer``: receptive fields by gradient (seen / not seen, and
  the gradient magnitude), layer footprints of the four causal building
  blocks, and the shipped PixelSNAIL's effective receptive field beside its
  theoretical one (chapter 3). It is plain HTML and JavaScript, not
  ipywidgets, and lives in ``pixelcnn_lib.teaching.causality_explorer`` with
  ``causality_states``; both are also reached from here;
* ``live_causality_explorer``: seen / not seen, recomputed in Python for any
  image size, target, kernel and depth;
* ``mixture_explorer``: a discretised logistic mixture (weights, means,
  scales) and the coupling of RGB channels, with the bits of every value
  (chapter 2);
* ``live_mixture_explorer``: the same for any parameters, recomputed in Python.

Shared helpers for writing more explorers: ``image_widget`` (an array or PNG
bytes from ``plotting.png_bytes``), ``selection_values`` and ``switched_by`` (precomputed views
switched in the browser), ``legend``.
"""

from __future__ import annotations

import ipywidgets as widgets
import numpy as np
from ipywidgets.widgets.widget_string import HTMLStyle

from . import receptive_field as rf
from .causality_explorer import (  # noqa: F401 (chapter 3 reaches the explorer from here)
    EXPLORER_DEPTHS,
    EXPLORER_KERNELS,
    EXPLORER_SIZE,
    StackFields,
    TrainedFields,
    causality_explorer,
    causality_states,
    precomputed_states,
    trained_fields,
)
from .plotting import FIELD_LEGEND, field_caption, field_picture, pattern_picture, png_bytes

# --------------------------------------------------------------------------
# shared helpers
# --------------------------------------------------------------------------


def image_widget(picture, layout=None):
    """An ``ipywidgets.Image`` showing a uint8 array or PNG bytes.

    Pass one shared ``layout`` to many images: every widget otherwise gets a
    layout model of its own, which adds up in a page's embedded state.
    """
    value = picture if isinstance(picture, bytes) else png_bytes(picture)
    kwargs = {"layout": layout} if layout is not None else {}
    return widgets.Image(value=value, format="png", **kwargs)


def selection_values(control):
    """The option values of a selection widget, in order (``options`` may hold (label, value) pairs)."""
    values = []
    for option in control.options:
        if isinstance(option, tuple) and len(option) == 2 and isinstance(option[0], str):
            values.append(option[1])
        else:
            values.append(option)
    return values


def switched_by(controls, make_view):
    """Views for every combination of the controls' options, switched in the browser.

    Args:
      controls: selection widgets (``Dropdown``, ``ToggleButtons``,
        ``SelectionSlider``, ...); each one's ``index`` picks an option.
      make_view: ``make_view(*values) -> widget`` for one option value per
        control. It is called once per combination (the product of the
        option counts), so keep that product and the views small.

    Returns nested ``ipywidgets.Stack`` s, one level per control, whose
    ``selected_index`` is ``jslink`` ed to the control's ``index``: changing a
    control switches the view in the browser, in a notebook and on a static
    web page without a kernel alike.
    """
    if not controls:
        raise ValueError("switched_by needs at least one control")
    for control in controls:
        if not hasattr(control, "index") or not hasattr(control, "options"):
            raise TypeError(f"controls must be selection widgets with options and an index, "
                            f"got {type(control).__name__}")

    def level(depth, values):
        control = controls[depth]
        if depth == len(controls) - 1:
            children = [make_view(*values, value) for value in selection_values(control)]
        else:
            children = [level(depth + 1, (*values, value)) for value in selection_values(control)]
        stack = widgets.Stack(children=children, selected_index=control.index)
        widgets.jslink((control, "index"), (stack, "selected_index"))
        return stack

    return level(0, ())


def legend(entries, vertical=False):
    """An HTML widget with a coloured square and a text per (RGB colour, text) entry, in a row or a column."""
    display = "block" if vertical else "inline-block"
    items = "".join(
        f'<span style="display:{display};margin:0 1.2em 0.3em 0">'
        f'<span style="display:inline-block;width:0.9em;height:0.9em;vertical-align:middle;'
        f'background:rgb{tuple(colour)};border:1px solid #888;margin-right:0.3em"></span>{text}</span>'
        for colour, text in entries
    )
    return widgets.HTML(f'<div style="font-size:0.9em">{items}</div>')


# --------------------------------------------------------------------------
# the live causality explorer (chapter 3)
# --------------------------------------------------------------------------


CONTROL_STYLE = {"description_width": "4em"}


def _block_dropdown():
    return widgets.Dropdown(
        options=[(text, name) for name, text in rf.BLOCKS.items()], value="masked", description="block",
        style=CONTROL_STYLE, layout=widgets.Layout(width="480px"),
    )


def _kernel_buttons(kernels):
    return widgets.ToggleButtons(options=list(kernels), description="kernel",
                                 style={**CONTROL_STYLE, "button_width": "3em"},
                                 layout=widgets.Layout(display="flex"))  # the label beside the buttons


def live_causality_explorer(size=9, kernels=(3, 5, 7), max_depth=6):
    """The causality explorer recomputed in Python on every change: needs a running kernel.

    Any target pixel of a ``size`` x ``size`` image, any kernel of ``kernels``
    and depths up to ``max_depth``; each view is a fresh gradient through
    the library's layers (``LayerStack.field``), checked against the
    analytic field.
    """
    block = _block_dropdown()
    kernel = _kernel_buttons(kernels)
    depth = widgets.IntSlider(value=2, min=1, max=max_depth, description="depth", style=CONTROL_STYLE)
    row = widgets.IntSlider(value=size // 2, min=0, max=size - 1, description="row", style=CONTROL_STYLE)
    col = widgets.IntSlider(value=size // 2, min=0, max=size - 1, description="column", style=CONTROL_STYLE)
    field_image = widgets.Image(format="png", layout=widgets.Layout(margin="0 1.5em 0 0"))
    pattern_image = widgets.Image(format="png")
    status = widgets.HTML()
    stacks = {}

    def update(_=None):
        key = rf.stack_key(block.value, kernel.value, depth.value)
        status.value = "<small>computing...</small>"
        if key not in stacks:
            stacks[key] = rf.LayerStack(*key, image_shape=(size, size, 1))
        stack = stacks[key]
        pixel = (row.value, col.value)
        field = stack.field(pixel)
        agrees = bool((field == stack.analytic_field(pixel)).all())
        field_image.value = png_bytes(field_picture(field, pixel, caption=field_caption(field, pixel)))
        pattern_image.value = png_bytes(pattern_picture(stack.patterns()))
        status.value = "<small>gradient and analytic field agree</small>" if agrees else \
            "<small>gradient and analytic field differ: a rare all-zero gradient path; try again</small>"

    for control in (block, kernel, depth, row, col):
        control.observe(update, "value")
    update()
    return widgets.VBox([
        block,
        kernel,
        depth,
        widgets.HBox([row, col]),
        widgets.HBox([field_image, legend(FIELD_LEGEND, vertical=True)]),
        pattern_image,
        status,
    ])


# --------------------------------------------------------------------------
# the mixture explorer (chapter 2)
# --------------------------------------------------------------------------

#: the first component of the explorer's two-component mixture stays fixed (pixel units)
MIXTURE_FIRST = {"mean": 70.0, "scale": 10.0}
MIXTURE_MEANS = (30, 110, 190, 250)
MIXTURE_SCALES = (2, 8, 30)
MIXTURE_WEIGHTS = (0.2, 0.5, 0.8)
MIXTURE_VALUES = (0, 30, 70, 128, 190, 250, 255)
#: the coupling view: two components, red and green (means, scales: rows R, G), and the options
COUPLING_MIXTURE = {"weights": (0.5, 0.5), "means": ((70.0, 190.0), (90.0, 150.0)),
                    "scales": ((25.0, 12.0), (8.0, 8.0))}
COUPLING_VALUES = (-0.9, -0.5, 0.0, 0.5, 0.9)
COUPLING_REDS = (20, 70, 130, 190, 240)
_PICTURE = {"dpi": 90, "colours": 48}  # small palette PNGs keep the page light; 90 dpi keeps the text legible


def _two_components(weight, mean, scale):
    """weights, means, scales of the explorer's mixture: the fixed first component and the chosen second."""
    return (1.0 - weight, weight), (MIXTURE_FIRST["mean"], mean), (MIXTURE_FIRST["scale"], scale)


def _bits_readout(probs, value, layout=None, style=None):
    p = float(probs[value])
    text = (f"<b>x = {value}</b>: P(x) = {p:.3g}, so storing it takes <b>{-np.log2(p):.2f} bits</b> "
            f"(a uniform distribution: 8 bits)")
    kwargs = {key: val for key, val in (("layout", layout), ("style", style)) if val is not None}
    return widgets.HTML(text, **kwargs)


def mixture_explorer(means=MIXTURE_MEANS, scales=MIXTURE_SCALES, weights=MIXTURE_WEIGHTS, values=MIXTURE_VALUES,
                     couplings=COUPLING_VALUES, reds=COUPLING_REDS):
    """The mixture explorer: a two-component discretised logistic mixture and the coupling of RGB channels.

    Tab "mixture": the second component's weight, mean and scale (pixel
    units; the first component is ``MIXTURE_FIRST``) -> the continuous
    density, the probabilities of the 256 values, the bits of every value;
    and the bits of one chosen value. Tab "RGB coupling": the coupling
    coefficient and a red value -> the joint P(R, G) and P(G | R).

    Every view is precomputed from the library's head and switched in the
    browser (``switched_by``), so the explorer also works on the static
    website. There are len(weights) * len(means) * len(scales) +
    len(couplings) * len(reds) pictures: keep the option lists short.
    ``live_mixture_explorer`` takes any value, recomputed in Python.
    """
    from . import plotting

    weight = widgets.SelectionSlider(options=list(weights), value=weights[len(weights) // 2], description="weight 2")
    mean = widgets.SelectionSlider(options=list(means), value=means[-2 if len(means) > 1 else 0], description="mean 2")
    scale = widgets.SelectionSlider(options=list(scales), value=scales[len(scales) // 2], description="scale 2")
    value = widgets.SelectionSlider(options=list(values), value=values[len(values) // 2], description="value x")
    shared, text_layout, text_style = widgets.Layout(), widgets.Layout(), HTMLStyle()
    probabilities = {}

    def probs(w, m, s):
        if (w, m, s) not in probabilities:
            probabilities[w, m, s] = plotting.mixture_bin_probabilities(*_two_components(w, m, s))
        return probabilities[w, m, s]

    def mixture_view(w, m, s):
        fig = plotting.plot_mixture(*_two_components(w, m, s))
        return image_widget(plotting.figure_png(fig, **_PICTURE), shared)

    def readout_view(w, m, s, x):
        return _bits_readout(probs(w, m, s), x, text_layout, text_style)

    def marker_view(x):  # under the picture, where x lies on its axis: no picture per value
        return image_widget(plotting.mixture_value_strip(x, _PICTURE["dpi"]), shared)

    mixture_tab = widgets.VBox([
        widgets.HTML(f"<small>Component 1 is fixed (mean {MIXTURE_FIRST['mean']:.0f}, scale "
                     f"{MIXTURE_FIRST['scale']:.0f}); move component 2. Grey bands: values outside 0..255, "
                     "whose mass the edge bins 0 and 255 collect.</small>"),
        widgets.VBox([weight, mean, scale]),
        widgets.VBox([switched_by([weight, mean, scale], mixture_view), switched_by([value], marker_view)]),
        value,
        switched_by([weight, mean, scale, value], readout_view),
    ])

    coupling = widgets.SelectionSlider(options=list(couplings), value=couplings[-2 if len(couplings) > 1 else 0],
                                       description="coupling c")
    red = widgets.SelectionSlider(options=list(reds), value=reds[len(reds) // 2], description="red r")
    mix = COUPLING_MIXTURE
    joints = {}

    def coupling_view(c, r):
        if c not in joints:
            joints[c] = plotting.coupled_pair_probabilities(mix["weights"], mix["means"], mix["scales"], c)
        fig = plotting.plot_coupling(mix["weights"], mix["means"], mix["scales"], c, r, joint=joints[c])
        return image_widget(plotting.figure_png(fig, **_PICTURE), shared)

    coupling_tab = widgets.VBox([
        widgets.HTML("<small>Two components; green's mean moves by c times red (in [-1, 1] units) once red is "
                     "known: mu_G = mean_G + c * x_R.</small>"),
        widgets.HBox([coupling, red]),
        switched_by([coupling, red], coupling_view),
    ])
    return widgets.Tab(children=[mixture_tab, coupling_tab], titles=["mixture", "RGB coupling"])


def live_mixture_explorer(num_components=3):
    """The mixture explorer recomputed in Python on every change: any weights, means, scales, value and coupling.

    Needs a running kernel (Jupyter, Colab): on a static page its controls
    move but the pictures stay as they were when the page was built.
    """
    from . import plotting

    if not isinstance(num_components, (int, np.integer)) or not 1 <= num_components <= 5:
        raise ValueError(f"num_components must be an int from 1 to 5, got {num_components!r}")
    starts = [(0.3, 40, 6.0), (0.5, 140, 20.0), (0.2, 235, 4.0), (0.2, 90, 10.0), (0.2, 190, 10.0)]
    compact = {"layout": widgets.Layout(width="220px"), "style": {"description_width": "4.5em"}}  # three per row
    rows, sliders = [], []
    for k in range(num_components):
        w, m, s = starts[k]
        row = (
            widgets.FloatSlider(value=w, min=0.0, max=1.0, step=0.05, description=f"weight {k + 1}", **compact),
            widgets.IntSlider(value=m, min=0, max=255, description=f"mean {k + 1}", **compact),
            widgets.FloatLogSlider(value=s, base=2, min=-2, max=7, step=0.25, description=f"scale {k + 1}", **compact),
        )
        sliders.append(row)
        rows.append(widgets.HBox(list(row)))
    value = widgets.IntSlider(value=128, min=0, max=255, description="value x")
    mixture_image = widgets.Image(format="png")
    coupling = widgets.FloatSlider(value=0.5, min=-1.0, max=1.0, step=0.05, description="coupling c")
    red = widgets.IntSlider(value=130, min=0, max=255, description="red r")
    coupling_image = widgets.Image(format="png")
    status = widgets.HTML()

    def update_mixture(_=None):
        weights = [row[0].value for row in sliders]
        if sum(weights) <= 0:
            status.value = "<small>at least one weight must be positive</small>"
            return
        status.value = ""
        fig = plotting.plot_mixture(weights, [row[1].value for row in sliders], [row[2].value for row in sliders],
                                    value=value.value)
        mixture_image.value = plotting.figure_png(fig)

    def update_coupling(_=None):
        mix = COUPLING_MIXTURE
        fig = plotting.plot_coupling(mix["weights"], mix["means"], mix["scales"], coupling.value, red.value)
        coupling_image.value = plotting.figure_png(fig)

    for control in [c for row in sliders for c in row] + [value]:
        control.observe(update_mixture, "value")
    for control in (coupling, red):
        control.observe(update_coupling, "value")
    update_mixture()
    update_coupling()
    mixture_tab = widgets.VBox([*rows, value, status, mixture_image])
    coupling_tab = widgets.VBox([widgets.HBox([coupling, red]), coupling_image])
    return widgets.Tab(children=[mixture_tab, coupling_tab], titles=["mixture", "RGB coupling"])


# the causality explorer lives in its own module (which draws with the pictures above); reach it from here too
__all__ = [
    "image_widget", "legend", "live_causality_explorer", "live_mixture_explorer", "mixture_explorer",
    "selection_values", "switched_by",
    "EXPLORER_DEPTHS", "EXPLORER_KERNELS", "EXPLORER_SIZE", "StackFields", "TrainedFields", "causality_explorer",
    "causality_states", "precomputed_states", "trained_fields",
]
