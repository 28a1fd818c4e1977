"""The causality explorer (its data, decoded back from the page) and the shared widget helpers."""

import base64
import io
import itertools
import json
import re
from importlib import resources

import ipywidgets as widgets
import numpy as np
import pytest
from ipywidgets.widgets.widget_link import Link
from PIL import Image

from pixelcnn_lib.pretrained import load_pretrained
from pixelcnn_lib.teaching import causality_explorer as cx
from pixelcnn_lib.teaching import plotting
from pixelcnn_lib.teaching import receptive_field as rf
from pixelcnn_lib.teaching import widgets as pw


def test_png_bytes_round_trip_with_a_palette():
    picture = np.zeros((4, 6, 3), np.uint8)
    picture[1:3, 2:5] = (215, 48, 39)
    data = plotting.png_bytes(picture)
    image = Image.open(io.BytesIO(data))
    assert image.mode == "P"
    np.testing.assert_array_equal(np.asarray(image.convert("RGB")), picture)
    with pytest.raises(ValueError, match="uint8"):
        plotting.png_bytes(picture.astype(np.float32))


def test_field_categories_and_caption():
    field = np.zeros((3, 3), bool)
    field[0, 0] = field[2, 2] = True
    kinds = plotting.field_categories(field, (1, 1))
    np.testing.assert_array_equal(kinds, [[1, 2, 2], [2, 3, 0], [0, 0, 4]])  # (2, 2) is a later pixel it sees
    assert "sees 1 of 4" in plotting.field_caption(field, (1, 1)) and "LEAK" in plotting.field_caption(field, (1, 1))


def test_the_blind_spot_has_its_own_colour():
    field = np.zeros((3, 3), bool)
    field[0, 0] = True
    blind = np.zeros((3, 3), bool)
    blind[0, 2] = True  # up and to the right: missed at any depth
    kinds = plotting.field_categories(field, (1, 1), blind)
    np.testing.assert_array_equal(kinds, [[1, 2, 5], [2, 3, 0], [0, 0, 0]])  # (0, 1) and (1, 0): only out of reach
    picture = plotting.field_picture(field, (1, 1), cell=5, blind=blind)
    assert tuple(picture[2, 12]) == plotting.FIELD_COLOURS["blind"]
    assert tuple(picture[2, 7]) == plotting.FIELD_COLOURS["missed"]
    with pytest.raises(ValueError, match="is seen by this field"):
        plotting.field_categories(field, (1, 1), field)
    with pytest.raises(ValueError, match="shape"):
        plotting.field_categories(field, (1, 1), blind[:2])
    figure = plotting.plot_fields([("deep", field, (1, 1), blind), ("plain", field, (1, 1))])
    labels = [text.get_text() for text in figure.legends[0].get_texts()]
    assert "blind spot: out of reach at any depth" in labels and "earlier pixel out of reach at this depth" in labels


def test_field_picture_colours_each_pixel():
    field = np.zeros((2, 2), bool)
    field[0, 0] = True
    picture = plotting.field_picture(field, (1, 0), cell=5)
    assert picture.shape == (11, 11, 3)
    assert tuple(picture[2, 2]) == plotting.FIELD_COLOURS["seen"]
    assert tuple(picture[2, 7]) == plotting.FIELD_COLOURS["missed"]
    assert tuple(picture[7, 2]) == plotting.FIELD_COLOURS["target"]
    assert tuple(picture[7, 7]) == plotting.FIELD_COLOURS["later"]


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


SMALL = {"size": 6, "kernels": (3, 5), "depths": (1, 2)}


@pytest.fixture(scope="module")
def small_states():
    return cx.causality_states(**SMALL)


def payload(explorer):
    """The data the explorer's page carries (its JSON script)."""
    match = re.search(r'<script type="application/json" data-role="data">(.*?)</script>', explorer.data, re.S)
    assert match, "the explorer carries no data"
    return json.loads(match.group(1).replace("<\\/", "</"))


def picture(uri, mode=None):
    assert uri.startswith("data:image/png;base64,"), uri[:40]
    image = Image.open(io.BytesIO(base64.b64decode(uri.split(",", 1)[1])))
    assert mode is None or image.mode == mode, image.mode
    return np.asarray(image.convert("RGB") if mode is None else image)


def embedded_fields(part):
    """The codes of every stack (K, T, S, S) from a part of the page's data, undoing ``field_mosaic``."""
    codes, n, (rows, cols) = picture(part["fields"], "L"), part["size"], part["grid"]
    return codes.reshape(-1, rows, n, cols, n).transpose(0, 1, 3, 2, 4).reshape(-1, rows * cols, n, n)


def check_encoding(codes, magnitude):
    """Codes are non-zero exactly where the magnitude is, never decrease as it grows and decode to it."""
    np.testing.assert_array_equal(codes > 0, magnitude > 0)
    step = cx.DECADES / (cx.LEVELS - 1)
    for code, field in zip(codes.reshape(len(codes), -1), magnitude.reshape(len(magnitude), -1)):
        if not field.any():
            continue
        order = np.argsort(field, kind="stable")
        assert (np.diff(code[order].astype(int)) >= 0).all(), "the codes are not monotone in the magnitude"
        assert code.max() == cx.LEVELS and code[field.argmax()] == cx.LEVELS
        ratio = field / field.max()
        inside = ratio >= 10.0 ** -cx.DECADES
        decoded = np.log10(cx.decode_magnitude(code[inside][None])[0])
        assert np.abs(decoded - np.log10(ratio[inside])).max() <= step / 2 + 1e-6
        assert (code[(ratio > 0) & ~inside] == 1).all()


@pytest.mark.slow
def test_causality_states_hold_gradient_magnitudes_with_the_analytic_support(small_states):
    keys = list(itertools.product(rf.BLOCKS, SMALL["kernels"], SMALL["depths"]))
    assert sorted(small_states) == sorted(keys)
    assert small_states[("attention", 3, 2)] is small_states[("attention", 5, 2)]  # PixelSNAIL's kernels are fixed
    n = SMALL["size"]
    targets = [(row, col) for row in range(n) for col in range(n)]
    for (block, kernel, depth), state in small_states.items():
        assert isinstance(state, cx.StackFields) and state.magnitude.shape == (n * n, n, n)
        assert state.magnitude.dtype == np.float32 and (state.magnitude >= 0).all()
        stack = rf.LayerStack(block, kernel, depth, image_shape=(n, n, 1))
        np.testing.assert_array_equal(state.seen, np.stack([stack.analytic_field(t) for t in targets]))
        assert state.patterns == stack.patterns()
    masked = small_states[("masked", 3, 1)]
    np.testing.assert_array_equal(masked.seen[2 * n + 2][1:4, 1:4], [[1, 1, 1], [1, 0, 0], [0, 0, 0]])
    assert len(np.unique(masked.magnitude[masked.seen])) > 10, "magnitudes, not only seen / not seen"


def test_explorer_embeds_every_field_and_footprint(small_states):
    data = payload(cx.causality_explorer(small_states, trained=False))
    stacks = data["stacks"]
    assert data["trained"] is None and stacks["size"] == SMALL["size"]
    assert stacks["kernels"] == list(SMALL["kernels"]) and stacks["depths"] == list(SMALL["depths"])
    fields = embedded_fields(stacks)
    assert len(fields) == len(stacks["patterns"]) == 14  # the attention stacks share their kernels
    n, deepest = SMALL["size"], SMALL["depths"][-1]
    earlier = np.stack([rf.earlier_pixels((n, n), divmod(t, n)) for t in range(n * n)])
    for (block, kernel, depth), state in small_states.items():
        k = stacks["index"][f"{block}/{kernel}/{depth}"]
        # the blind spot: earlier pixels that the deepest stack of the same block and kernel misses too
        blind = fields[k] == data["blindCode"]
        np.testing.assert_array_equal(blind, earlier & ~small_states[(block, kernel, deepest)].seen)
        check_encoding(np.where(blind, 0, fields[k]), state.magnitude)
        np.testing.assert_array_equal(picture(stacks["patterns"][k]), plotting.pattern_picture(state.patterns))
    assert data["blindCode"] == cx.BLIND_CODE > cx.LEVELS
    assert data["colours"]["blind"] == list(plotting.FIELD_COLOURS["blind"])
    assert len(data["palette"]) == data["levels"] == cx.LEVELS
    assert data["colours"]["target"] == list(plotting.FIELD_COLOURS["target"])
    assert data["start"] == {"mode": "seen", "block": "masked", "kernel": 3, "depth": 2, "target": [3, 3]}


def test_encoding_of_magnitudes():
    magnitude = np.array([[0.0, 1e-9, 1e-6, 1e-3, 0.5, 1.0], [0.0] * 6])
    codes = cx.encode_magnitude(magnitude, decades=6, levels=16)
    np.testing.assert_array_equal(codes, [[0, 1, 1, 9, 15, 16], [0] * 6])
    np.testing.assert_allclose(cx.decode_magnitude(codes, 6, 16)[0], [0, 1e-6, 1e-6, 10 ** -2.8, 10 ** -0.4, 1],
                               rtol=1e-5)
    mosaic = cx.field_mosaic(np.arange(4 * 2 * 3).reshape(4, 2, 3), columns=2)
    np.testing.assert_array_equal(mosaic[:2, 3:], np.arange(6, 12).reshape(2, 3))  # the second field, top right
    with pytest.raises(ValueError, match="non-negative"):
        cx.encode_magnitude(-magnitude)
    with pytest.raises(ValueError, match="levels"):
        cx.encode_magnitude(magnitude, levels=300)
    with pytest.raises(ValueError, match="decades"):
        cx.encode_magnitude(magnitude, decades=0)
    with pytest.raises(ValueError, match="codes must be uint8"):
        cx.decode_magnitude(np.array([[17]], np.uint8), levels=16)
    with pytest.raises(ValueError, match="do not fill"):
        cx.field_mosaic(np.zeros((3, 2, 2)), columns=2)


def test_every_explorer_has_its_own_id(small_states):
    pages = [cx.causality_explorer(small_states, trained=False).data for _ in range(2)]
    ids = [re.search(r'<div id="(causality-explorer-[0-9a-f]+)"', page).group(1) for page in pages]
    assert ids[0] != ids[1]
    for page, uid, other in zip(pages, ids, ids[::-1]):
        assert f"#{uid} " in page and other not in page  # its styles are scoped to it
        assert f'document.getElementById("{uid}")' in page
    assert "http" not in pages[0], "the explorer must not need the network"


def test_explorer_refuses_bad_arguments(small_states):
    with pytest.raises(ValueError, match="size"):
        cx.causality_states(size=1)
    with pytest.raises(ValueError, match="kernels"):
        cx.causality_states(size=4, kernels=(4,))
    with pytest.raises(ValueError, match="depths"):
        cx.causality_states(size=4, depths=(0,))
    with pytest.raises(ValueError, match="samples"):
        cx.causality_states(size=4, samples=0)
    with pytest.raises(ValueError, match="mode"):
        cx.causality_explorer(small_states, trained=False, mode="colour")
    with pytest.raises(ValueError, match="block"):
        cx.causality_explorer(small_states, trained=False, block="dilated")
    with pytest.raises(ValueError, match="kernel"):
        cx.causality_explorer(small_states, trained=False, kernel=7)
    with pytest.raises(ValueError, match="depth"):
        cx.causality_explorer(small_states, trained=False, depth=4)
    with pytest.raises(ValueError, match="inside the 6x6 image"):
        cx.causality_explorer(small_states, trained=False, target=(6, 0))
    with pytest.raises(ValueError, match="every block needs every kernel and depth"):
        cx.causality_explorer({key: value for key, value in small_states.items() if key[0] != "gated"},
                              trained=False)
    with pytest.raises(ValueError, match="StackFields"):
        cx.causality_explorer({("masked", 3, 1): np.zeros((36, 6, 6))}, trained=False)
    with pytest.raises(ValueError, match="states must be the non-empty dict"):
        cx.causality_explorer({}, trained=False)
    with pytest.raises(ValueError, match="trained must be True, False or the TrainedFields"):
        cx.causality_explorer(small_states, trained="yes")


@pytest.mark.slow
def test_trained_fields_are_causal_and_see_every_earlier_pixel():
    trained = cx.trained_fields()
    np.testing.assert_array_equal(trained.targets, cx.trained_targets())
    assert trained.magnitude.shape == (256, 32, 32) and len(trained.images) == cx.TRAINED_CLASSES
    snail = load_pretrained("pixelsnail_cifar10")
    spec = rf.model_spec(snail)
    for target, magnitude, theory in zip(trained.targets, trained.magnitude, trained.theory):
        earlier = rf.earlier_pixels((32, 32), target)
        assert not magnitude[~earlier].any(), f"gradient on the target {target} or a later pixel"
        np.testing.assert_array_equal(theory, earlier)
        np.testing.assert_array_equal(magnitude > 0, earlier)  # attention reaches every earlier pixel
    for target in ([1, 1], [15, 17], [31, 31]):
        np.testing.assert_array_equal(rf.analytic_receptive_field(spec, (32, 32), target),
                                      rf.earlier_pixels((32, 32), target))
    assert trained.magnitude.max() == 1.0 and trained.magnitude[trained.magnitude > 0].min() >= 0.99e-6
    part = payload(cx.causality_explorer(cx.causality_states(**{**SMALL, "kernels": (3,), "depths": (1,)}),
                                         trained=trained))["trained"]
    assert (part["size"], part["grid"], part["first"], part["step"]) == (32, [16, 16], 1, 2)
    check_encoding(embedded_fields(part)[0], trained.magnitude)
    np.testing.assert_array_equal(picture(part["patterns"]), plotting.pattern_picture(trained.patterns))


@pytest.mark.slow
def test_trained_asset_matches_a_fresh_computation():
    arrays = np.load(resources.files("pixelcnn_lib") / "assets" / cx.TRAINED_ASSET)
    images, picked = cx.trained_images()
    np.testing.assert_array_equal(arrays["images"], picked)
    rows = [int(np.flatnonzero((arrays["targets"] == t).all(1))[0]) for t in ([15, 15], [31, 1])]
    fresh = cx.compute_trained_fields(load_pretrained("pixelsnail_cifar10"), arrays["targets"][rows], images)
    codes = cx.encode_magnitude(fresh, int(arrays["decades"]), int(arrays["levels"]))
    np.testing.assert_array_equal(codes > 0, arrays["codes"][rows] > 0)
    assert np.abs(codes.astype(int) - arrays["codes"][rows]).max() <= 2  # float32 sums in another order
    np.testing.assert_allclose(fresh.max(axis=(1, 2)), arrays["peaks"][rows], rtol=1e-3)
    with pytest.raises(ValueError, match="images must be"):
        cx.compute_trained_fields(None, [(1, 1)], images[0])


@pytest.mark.slow
def test_default_explorer_covers_every_configuration_goes_deep_enough_and_stays_light():
    states = cx.precomputed_states()
    assert sorted(states) == sorted(itertools.product(rf.BLOCKS, cx.EXPLORER_KERNELS, cx.EXPLORER_DEPTHS))
    explorer = pw.causality_explorer()
    # six depths of 42 distinct stacks, with magnitudes, and the shipped model's fields: under 800 kB on the page
    assert len(explorer.data.encode()) < 800_000, "the explorer makes the page heavy"
    data = payload(explorer)
    fields = embedded_fields(data["stacks"])
    n = data["stacks"]["size"]
    assert n == cx.EXPLORER_SIZE >= 16 and max(cx.EXPLORER_DEPTHS) >= n
    for (block, kernel, depth), state in states.items():
        k = data["stacks"]["index"][f"{block}/{kernel}/{depth}"]
        check_encoding(np.where(fields[k] == cx.BLIND_CODE, 0, fields[k]), state.magnitude)
    for key in [("masked", 5, 4), ("gated", 3, 2), ("shifted", 5, 1), ("attention", 3, 2)]:  # stored footprints
        assert states[key].patterns == rf.LayerStack(*key, image_shape=(n, n, 1)).patterns(), key
    middle = (8, 8)  # at depth 3 and the largest kernel only the masked stack misses earlier pixels
    for block in rf.BLOCKS:
        field = states[(block, 5, 3)].seen[middle[0] * n + middle[1]]
        assert rf.unseen_earlier(field, middle).any() == (block == "masked"), block
    # at the deepest depth every target sees every reachable pixel: the other stacks see all earlier pixels, and
    # what the masked stack misses is its blind spot, which a stack twice as deep misses too
    deepest = max(cx.EXPLORER_DEPTHS)
    for block, kernel in itertools.product(rf.BLOCKS, cx.EXPLORER_KERNELS):
        blind = np.stack([rf.unseen_earlier(seen, divmod(t, n)) for t, seen in
                          enumerate(states[(block, kernel, deepest)].seen)])
        assert blind.any() == (block == "masked"), (block, kernel)
        if block == "masked":
            deeper = rf.LayerStack(block, kernel, 2 * deepest, image_shape=(n, n, 1))
            for target in [(n - 1, 0), (n - 1, n - 1), (n // 2, 1)]:
                np.testing.assert_array_equal(rf.unseen_earlier(deeper.analytic_field(target), target),
                                              blind[target[0] * n + target[1]])


@pytest.mark.slow
def test_precomputed_stacks_match_a_fresh_computation():
    fresh = cx.causality_states(kernels=(5,), depths=(1, 4))
    stored = cx.precomputed_states()
    for key, state in fresh.items():  # the same fields; the magnitudes are those of other random weights
        np.testing.assert_array_equal(stored[key].seen, state.seen)
        assert len(np.unique(cx.encode_magnitude(stored[key].magnitude))) > 5, key


def test_live_explorer_recomputes_on_change():
    explorer = pw.live_causality_explorer(size=5, kernels=(3,), max_depth=2)
    block = explorer.children[0]
    field_image = explorer.children[4].children[0]
    status = explorer.children[6]
    before = field_image.value
    block.value = "attention"
    assert field_image.value != before
    assert "agree" in status.value


def test_footprint_picture_draws_taps_on_a_fixed_window():
    taps = frozenset({(-1, -1), (-1, 0), (0, -1)})
    picture = plotting.footprint_picture(taps, cell=5, window=2)
    assert picture.shape == (26, 26, 3)  # 5x5 cells of 5 pixels, and the grid line
    assert tuple(picture[7, 7]) == plotting.FIELD_COLOURS["seen"]  # (-1, -1): row 1, column 1 of the window
    assert tuple(picture[7, 17]) == plotting.FIELD_COLOURS["later"]  # (-1, +1): not a tap
    assert plotting.footprint_picture(taps, cell=5).shape == (11, 11, 3)  # without a window: taps and output only
    with pytest.raises(ValueError, match="outside the window"):
        plotting.footprint_picture(frozenset({(-3, 0)}), window=2)
