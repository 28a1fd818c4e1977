"""Chapter 3's causality explorer in headless Chromium, on a page of its own: no kernel, no network, no book.

Two explorers share the page, as they may in a notebook; ``browser_support.check_causality_explorer`` clicks a
pixel of the first and switches its block, depth, view and mode, and here every cell's colour is also checked
against the fields computed in Python. The built chapter gets the same checks in test_book.py.
"""

import re

import numpy as np
import pytest
from browser_support import Site, check_causality_explorer, click_cell, explorer_state

from pixelcnn_lib.teaching import causality_explorer as cx
from pixelcnn_lib.teaching import plotting
from pixelcnn_lib.teaching import receptive_field as rf

pytestmark = pytest.mark.slow

SETTINGS = {"size": 16, "kernels": (3, 5), "depths": (1, 2)}
PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>causality explorer</title><link rel="icon" href="data:,"></head>
<body>
<h1>Two causality explorers</h1>
{}
<hr>
{}
</body></html>
"""


@pytest.fixture(scope="module")
def page(tmp_path_factory):
    states = cx.causality_states(**SETTINGS)
    trained = cx.trained_fields()
    first = cx.causality_explorer(states, trained=trained).data
    second = cx.causality_explorer(states, trained=False, mode="magnitude", block="shifted", target=(2, 2)).data
    folder = tmp_path_factory.mktemp("explorer")
    (folder / "index.html").write_text(PAGE.format(first, second), encoding="utf-8")
    ids = [re.search(r'<div id="(causality-explorer-[0-9a-f]+)"', html).group(1) for html in (first, second)]
    served = Site(folder)
    yield {"site": served, "states": states, "trained": trained, "ids": ids}
    served.close()


def expected_colours(states, trained, view):
    """The colour of every cell for a view of the explorer, from the fields as computed in Python."""
    row, col = view["target"]
    if view["model"] == "trained":
        size, k = 32, int(np.flatnonzero((trained.targets == (row, col)).all(axis=1))[0])
        codes = cx.encode_magnitude(trained.magnitude)[k].ravel()
    else:
        size = SETTINGS["size"]
        codes = cx.encode_magnitude(states[(view["block"], view["kernel"], view["depth"])].magnitude)
        codes = codes[row * size + col].ravel()
        # the blind spot: what the deepest stack of the same block and kernel misses too
        deepest = states[(view["block"], view["kernel"], max(SETTINGS["depths"]))].seen[row * size + col]
        blind = (rf.earlier_pixels((size, size), (row, col)) & ~deepest).ravel()
    palette, colours, here = cx.magnitude_palette(), plotting.FIELD_COLOURS, row * size + col
    cells = []
    for position, code in enumerate(codes):
        if position == here:
            cells.append(colours["target"])
        elif position > here:
            cells.append(colours["leak"] if code else colours["later"])
        elif view["model"] == "stacks" and blind[position]:
            cells.append(colours["blind"])
        elif code == 0:
            cells.append(colours["missed"])
        else:
            cells.append(tuple(palette[code - 1]) if view["mode"] == "magnitude" else colours["seen"])
    return cells


def test_explorer_responds_to_clicks_without_a_kernel(page, browser):
    site, first, second = page["site"], *(f"#{uid}" for uid in page["ids"])
    browser.open(site.url + "index.html")
    assert not browser.errors() and not site.failures
    assert not browser.outside_requests(site.url)
    other = explorer_state(browser, second)
    assert other["caption"].startswith("target (2, 2):") and other["mode"] == "magnitude", other["caption"]

    states = check_causality_explorer(
        browser, first, expect=lambda view: expected_colours(page["states"], page["trained"], view))
    start = states["start"]
    assert start["caption"].startswith("target (8, 8):") and start["mode"] == "seen"
    assert start["field"]["colours"] == [list(c) for c in expected_colours(
        page["states"], page["trained"],
        {"model": "stacks", "block": "masked", "kernel": 3, "depth": 2, "mode": "seen", "target": (8, 8)})]

    assert explorer_state(browser, second) == other, "the first explorer changed the second"
    click_cell(browser, second, 10, 4)
    clicked = explorer_state(browser, second)
    assert clicked["caption"].startswith("target (10, 4):")
    view = {"model": "stacks", "block": "shifted", "kernel": 3, "depth": 2, "mode": "magnitude", "target": (10, 4)}
    assert clicked["field"]["colours"] == [list(c) for c in expected_colours(page["states"], page["trained"], view)]
    assert explorer_state(browser, first)["caption"].startswith("target (3, 5):"), "the second changed the first"
    assert not browser.errors()
