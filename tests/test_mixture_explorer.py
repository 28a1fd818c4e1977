"""The mixture explorer: precomputed views switched in the browser, and the live version."""

import io

import ipywidgets as widgets
import numpy as np
import pytest
from ipywidgets.widgets.widget_link import Link
from PIL import Image

from pixelcnn_lib.teaching import plotting
from pixelcnn_lib.teaching import widgets as pw


def links_between(source, target):
    return [w for w in widgets.Widget.widgets.values() if isinstance(w, Link)
            and w.source[0] is source and w.target[0] is target]


def test_mixture_explorer_precomputes_every_view_and_links_it():
    explorer = pw.mixture_explorer(means=(40, 200), scales=(4,), weights=(0.5,), values=(0, 40),
                                   couplings=(0.0, 0.5), reds=(100,))
    assert isinstance(explorer, widgets.Tab) and explorer.titles == ("mixture", "RGB coupling")
    mixture_tab, coupling_tab = explorer.children
    weight, mean, scale = mixture_tab.children[1].children
    pictures, markers = mixture_tab.children[2].children  # Stack (weight) of Stack (mean) of Stack (scale) of Image
    assert isinstance(pictures, widgets.Stack) and links_between(weight, pictures)
    by_mean = pictures.children[0]
    assert len(by_mean.children) == 2 and links_between(mean, by_mean)
    first, second = (stack.children[0] for stack in by_mean.children)
    assert isinstance(first, widgets.Image) and first.value[:4] == b"\x89PNG" and first.value != second.value

    value = mixture_tab.children[3]
    # the chosen value is marked under the picture, where it lies on the picture's axis
    assert links_between(value, markers) and len(markers.children) == 2
    strips = [np.asarray(Image.open(io.BytesIO(m.value)).convert("RGB")) for m in markers.children]
    assert strips[0].shape[1] == Image.open(io.BytesIO(first.value)).size[0]  # as wide as the picture
    orange = [np.flatnonzero((strip == (230, 85, 13)).all(-1).any(0)) for strip in strips]
    lo, hi = plotting.MIXTURE_XLIM
    for x, columns in zip((0, 40), orange):
        axes = plotting.MIXTURE_AXES
        where = strips[0].shape[1] * (axes["left"] + (axes["right"] - axes["left"]) * (x - lo) / (hi - lo))
        assert abs(columns.min() + 6 - where) <= 1.5, (x, columns.min(), where)  # the marker's left corner
    with pytest.raises(ValueError, match="0..255"):
        plotting.mixture_value_strip(256, 90)
    readouts = mixture_tab.children[4].children[0].children[1].children[0]  # weight 0.5, mean 200, scale 4
    assert links_between(value, readouts)
    probs = plotting.mixture_bin_probabilities(*pw._two_components(0.5, 200, 4))
    text = readouts.children[1].value  # value 40
    assert "x = 40" in text and f"{-np.log2(probs[40]):.2f} bits" in text

    coupling, red = coupling_tab.children[1].children
    views = coupling_tab.children[2]
    assert links_between(coupling, views) and len(views.children) == 2
    assert views.children[0].children[0].value != views.children[1].children[0].value


def test_live_mixture_explorer_redraws_on_change():
    explorer = pw.live_mixture_explorer(num_components=2)
    mixture_tab, coupling_tab = explorer.children
    image = mixture_tab.children[-1]
    before = image.value
    mean_slider = mixture_tab.children[0].children[1]
    mean_slider.value = 200
    assert image.value != before
    weights = [row.children[0] for row in mixture_tab.children[:2]]
    for w in weights:
        w.value = 0.0
    assert "positive" in mixture_tab.children[-2].value  # the status line explains, the picture stays
    coupling_image = coupling_tab.children[-1]
    before = coupling_image.value
    coupling_tab.children[0].children[1].value = 30  # red
    assert coupling_image.value != before
