"""The causality explorer and the shared widget helpers."""

import io

import ipywidgets as widgets
import numpy as np
import pytest
from ipywidgets.widgets.widget_link import Link
from PIL import Image

from pixelcnn_lib import receptive_field as rf
from pixelcnn_lib import widgets as pw


def test_png_bytes_round_trip_with_a_palette():
    picture = np.zeros((4, 6, 3), np.uint8)
    picture[1:3, 2:5] = (215, 48, 39)
    data = pw.png_bytes(picture)
    image = Image.open(io.BytesIO(data))
    assert image.mode == "P"
    np.testing.assert_array_equal(np.asarray(image.convert("RGB")), picture)
    with pytest.raises(ValueError, match="uint8"):
        pw.png_bytes(picture.astype(np.float32))


def test_field_categories_and_caption():
    field = np.zeros((3, 3), bool)
    field[0, 0] = field[2, 2] = True
    kinds = pw.field_categories(field, (1, 1))
    np.testing.assert_array_equal(kinds, [[1, 2, 2], [2, 3, 0], [0, 0, 4]])  # (2, 2) is a later pixel it sees
    assert "sees 1 of 4" in pw.field_caption(field, (1, 1)) and "LEAK" in pw.field_caption(field, (1, 1))


def test_field_picture_colours_each_pixel():
    field = np.zeros((2, 2), bool)
    field[0, 0] = True
    picture = pw.field_picture(field, (1, 0), cell=5)
    assert picture.shape == (11, 11, 3)
    assert tuple(picture[2, 2]) == pw.FIELD_COLOURS["seen"]
    assert tuple(picture[2, 7]) == pw.FIELD_COLOURS["missed"]
    assert tuple(picture[7, 2]) == pw.FIELD_COLOURS["target"]
    assert tuple(picture[7, 7]) == pw.FIELD_COLOURS["later"]


def test_switched_by_links_every_level_to_its_control():
    first = widgets.Dropdown(options=[("one", 1), ("two", 2)], value=2)
    second = widgets.ToggleButtons(options=["a", "b", "c"])
    made = []

    def make_view(number, letter):
        made.append((number, letter))
        return widgets.Label(f"{number}{letter}")

    top = pw.switched_by([first, second], make_view)
    assert sorted(made) == [(n, letter) for n in (1, 2) for letter in "abc"]
    assert isinstance(top, widgets.Stack) and top.selected_index == 1
    assert [child.children[2].value for child in top.children] == ["1c", "2c"]
    linked = [w for w in widgets.Widget.widgets.values() if isinstance(w, Link)]
    pairs = {(w.source[0].model_id, w.target[0].model_id) for w in linked}
    assert (first.model_id, top.model_id) in pairs
    for child in top.children:
        assert (second.model_id, child.model_id) in pairs
    with pytest.raises(TypeError, match="selection"):
        pw.switched_by([widgets.IntSlider()], make_view)


def test_causality_explorer_on_a_small_grid():
    states = pw.causality_states(size=3, kernels=(3,), depths=(1,))
    assert set(states) == {(block, 3, 1) for block in rf.BLOCKS}
    fields, patterns = states[("masked", 3, 1)]
    assert fields.shape == (9, 3, 3)
    np.testing.assert_array_equal(fields[4], [[True, True, True], [True, False, False], [False] * 3])
    assert patterns[0][0] == "layer 1"
    explorer = pw.causality_explorer(states, size=3, kernels=(3,), depths=(1,))
    block, kernel, depth, target = explorer.children[:4]
    assert [v for v in pw.selection_values(block)] == list(rf.BLOCKS)
    assert target.value == (1, 1) and len(target.options) == 9
    field_switch, _ = explorer.children[4].children
    # block -> kernel -> depth -> target: the attention stack reuses its views for every kernel
    images = field_switch.children[0].children[0].children[0].children
    assert len(images) == 9 and all(isinstance(image, widgets.Image) for image in images)


def test_live_explorer_recomputes_on_change():
    explorer = pw.live_causality_explorer(size=5, kernels=(3,), max_depth=2)
    block = explorer.children[0]
    field_image = explorer.children[4].children[0]
    status = explorer.children[6]
    before = field_image.value
    block.value = "attention"
    assert field_image.value != before
    assert "agree" in status.value
