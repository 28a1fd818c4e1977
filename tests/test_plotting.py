"""Image grids, generation frames and animations, mixture plots and block diagrams."""

import math

import numpy as np
import pytest
from matplotlib.figure import Figure

import pixelcnn_lib as pl
from pixelcnn_lib.teaching import plotting


def random_images(n, h=6, w=5, c=3, seed=0):
    return np.random.default_rng(seed).integers(0, 256, size=(n, h, w, c), dtype=np.uint8)


def test_image_grid_places_every_image_and_pads():
    images = random_images(5)
    grid = plotting.image_grid(images, columns=3, pad=1, pad_value=7)
    assert grid.shape == (2 * 7 - 1, 3 * 6 - 1, 3)
    np.testing.assert_array_equal(grid[7:13, 6:11], images[4])  # row 1, column 1
    assert (grid[6] == 7).all() and (grid[7:, 12:] == 7).all()  # padding line and the empty sixth cell
    with pytest.raises(ValueError, match="N, H, W, C"):
        plotting.image_grid(images[0])


def test_generation_frames_reveal_pixels_in_raster_order():
    images = random_images(2, h=4, w=4)
    frames = plotting.generation_frames(images, num_frames=17, fill=9)
    assert frames.shape == (17, 2, 4, 4, 3) and frames.dtype == np.uint8
    assert (frames[0] == 9).all()
    np.testing.assert_array_equal(frames[-1], images)
    for t in range(17):  # frame t shows exactly the first t pixels in raster order
        shown = (frames[t] != 9).any(axis=-1) | (images == 9).all(axis=-1)
        expected = (np.arange(16) < t).reshape(4, 4)
        assert (shown == expected[None]).all()


def test_generation_frames_keep_known_pixels_from_the_start():
    images = random_images(2, h=4, w=4)
    known = np.zeros((2, 4, 4), bool)
    known[:, :2] = True  # top half given: sampling starts at raster index 8
    frames = plotting.generation_frames(images, known, num_frames=3, fill=0)
    np.testing.assert_array_equal(frames[0][:, :2], images[:, :2])
    assert (frames[0][:, 2:] == 0).all()
    np.testing.assert_array_equal(frames[1][:, 2], images[:, 2])  # halfway through the unknown part
    assert (frames[1][:, 3] == 0).all()
    np.testing.assert_array_equal(frames[2], images)


def test_generation_frames_reject_bad_input():
    images = random_images(2, h=4, w=4)
    with pytest.raises(ValueError, match="uint8"):
        plotting.generation_frames(images.astype(np.float32))
    with pytest.raises(ValueError, match="known"):
        plotting.generation_frames(images, np.zeros((2, 4, 3), bool))
    with pytest.raises(ValueError, match="num_frames"):
        plotting.generation_frames(images, num_frames=1)


def test_generation_animation_plays_every_frame_offline():
    images = random_images(3, h=4, w=4, c=1)
    animation = plotting.generation_animation(images, num_frames=5)
    html = plotting.animation_html(animation)
    assert html.count("data:image/png;base64") == 5
    assert "https://" not in html and "fa fa-" not in html  # nothing to download: works on an offline page
    assert 'title="Play"' in html and "\u25b6" in html


def test_mixture_bin_probabilities_match_the_logistic_cdf():
    weights, means, scales = [0.25, 0.75], [40.0, 200.0], [5.0, 12.0]
    probs = plotting.mixture_bin_probabilities(weights, means, scales)
    assert probs.shape == (256,) and abs(probs.sum() - 1) < 1e-5

    def cdf(x):  # the mixture's CDF in pixel units, float64
        return sum(w / (1 + math.exp(-(x - m) / s)) for w, m, s in zip(weights, means, scales))

    for value in (0, 1, 40, 128, 254, 255):
        upper = 1.0 if value == 255 else cdf(value + 0.5)
        lower = 0.0 if value == 0 else cdf(value - 0.5)
        assert probs[value] == pytest.approx(upper - lower, rel=1e-3, abs=1e-9)


def test_mixture_params_are_the_heads_layout():
    params = plotting.mixture_params([1.0, 3.0], [0.0, 255.0], [127.5, 12.75])
    head = pl.DiscretizedLogisticMixture(2, channels=1)
    logits, means, log_scales, _ = (np.asarray(t) if t is not None else None for t in head.split_params(params))
    assert np.allclose(np.exp(logits) / np.exp(logits).sum(), [0.25, 0.75])
    assert np.allclose(means[0], [-1.0, 1.0]) and np.allclose(np.exp(log_scales[0]), [1.0, 0.1])


def test_mixture_helpers_reject_bad_parameters():
    with pytest.raises(ValueError, match="same length"):
        plotting.mixture_params([1.0], [1.0, 2.0], [1.0])
    with pytest.raises(ValueError, match="scales must be positive"):
        plotting.mixture_params([1.0], [1.0], [0.0])
    with pytest.raises(ValueError, match="weights"):
        plotting.mixture_params([0.0], [1.0], [1.0])
    with pytest.raises(ValueError, match="value"):
        plotting.plot_mixture([1.0], [100], [5], value=256)


def test_density_integrates_to_one_and_tracks_the_bins():
    xs = np.linspace(-2000, 2000, 400001)
    density = plotting.logistic_mixture_density(xs, [0.5, 0.5], [60, 190], [8, 3])
    assert np.trapezoid(density, xs) == pytest.approx(1.0, abs=1e-4)
    probs = plotting.mixture_bin_probabilities([0.5, 0.5], [60, 190], [8, 3])
    inner = np.arange(20, 236)
    assert np.allclose(probs[inner], plotting.logistic_mixture_density(inner, [0.5, 0.5], [60, 190], [8, 3]), atol=2e-3)


def test_coupled_pair_probabilities_are_a_joint_with_the_right_marginal():
    weights, means, scales = [0.4, 0.6], [[50, 180], [100, 140]], [[10, 5], [6, 6]]
    joint = plotting.coupled_pair_probabilities(weights, means, scales, coupling=0.7)
    assert joint.shape == (256, 256) and abs(joint.sum() - 1) < 1e-5
    red = plotting.mixture_bin_probabilities(weights, means[0], scales[0])
    np.testing.assert_allclose(joint.sum(axis=1), red, atol=1e-6)  # summing green out leaves red's mixture
    # one component and no coupling: independent channels
    single = plotting.coupled_pair_probabilities([1.0], [[50], [100]], [[10], [6]], coupling=0.0)
    np.testing.assert_allclose(single, np.outer(single.sum(1), single.sum(0)), atol=1e-9)
    with pytest.raises(ValueError, match="coupling"):
        plotting.coupled_pair_probabilities(weights, means, scales, coupling=1.5)


def test_coupled_pair_probabilities_agree_with_the_rgb_head():
    # give blue the same parameters in both components and no coupling: then P(r, g, b) = P(r, g) P(b)
    head = pl.DiscretizedLogisticMixture(2, channels=3)
    logits = np.log([0.3, 0.7])
    unit = lambda v: v / 127.5 - 1  # noqa: E731
    blocks = [
        np.concatenate([[unit(60), unit(170)], np.log([9 / 127.5, 5 / 127.5]), np.arctanh([0.5, 0.5])]),
        np.concatenate([[unit(90), unit(150)], np.log([7 / 127.5, 7 / 127.5]), [0.0, 0.0]]),
        np.concatenate([[unit(128), unit(128)], np.log([20 / 127.5, 20 / 127.5]), [0.0, 0.0]]),
    ]
    params = np.concatenate([logits, *blocks]).astype(np.float32)
    values = np.arange(256, dtype=np.uint8)
    images = np.stack([*np.meshgrid(values, values, indexing="ij"), np.full((256, 256), 128, np.uint8)], -1)[None]
    head_probs = np.exp(head.log_prob(images, np.broadcast_to(params, (1, 256, 256, head.num_params))).numpy()[0])
    blue = plotting.mixture_bin_probabilities([1.0], [128], [20])[128]
    joint = plotting.coupled_pair_probabilities([0.3, 0.7], [[60, 170], [90, 150]], [[9, 5], [7, 7]], coupling=0.5)
    np.testing.assert_allclose(head_probs / blue, joint, rtol=2e-3, atol=1e-9)


def test_plots_return_figures_with_their_panels():
    fig = plotting.plot_mixture([0.5, 0.5], [40, 200], [5, 10], value=40)
    assert isinstance(fig, Figure) and len(fig.axes) == 2
    assert "x = 40" in fig.axes[1].get_xlabel()
    fig = plotting.plot_coupling([0.5, 0.5], [[60, 190], [90, 150]], [[25, 12], [8, 8]], 0.5, red=100)
    assert len(fig.axes) == 2 and "R = 100" in fig.axes[1].get_title()
    png = plotting.figure_png(fig, dpi=40, colours=16)
    assert png[:8] == b"\x89PNG\r\n\x1a\n"


def test_labelled_rows_figure_and_saving(tmp_path):
    rows = [random_images(3, c=1), random_images(3, c=1, seed=1)]
    fig = plotting.labelled_rows_figure(rows, ["a", "b"])
    assert [ax.get_ylabel() for ax in fig.axes] == ["a", "b"]
    with pytest.raises(ValueError, match="one label per row"):
        plotting.labelled_rows_figure(rows, ["a"])
    with pytest.raises(ValueError, match="same shape"):
        plotting.labelled_rows_figure([rows[0], random_images(2, c=1)], ["a", "b"])


def test_the_command_lines_pictures_are_drawn_without_matplotlib(tmp_path):
    """``pixelcnn_lib.images`` (PIL only): a grid at 4x, and labelled rows whose images are the grids of the rows,
    right of a margin with the labels."""
    from PIL import Image

    from pixelcnn_lib import images

    rows = [random_images(3, c=3), random_images(3, c=3, seed=1)]
    images.save_image_grid(tmp_path / "grid.png", rows[0])
    grid = np.asarray(Image.open(tmp_path / "grid.png"))
    assert (grid == images.image_grid(rows[0], scale=4)).all()
    assert (grid[:4 * 6, :4 * 5] == rows[0][0].repeat(4, 0).repeat(4, 1)).all()  # the first image, at 4x
    images.save_labelled_rows(tmp_path / "rows.png", rows, ["a", "long label"])
    picture = np.asarray(Image.open(tmp_path / "rows.png"))
    strip = images.image_grid(rows[1], columns=3, scale=4)
    assert picture.shape[0] == 2 * strip.shape[0] + 2
    assert (picture[strip.shape[0] + 2:, -strip.shape[1]:] == strip).all()  # the second row, right-aligned
    assert (picture[:, : picture.shape[1] - strip.shape[1]] < 128).any()  # the labels, in black
    with pytest.raises(ValueError, match="one label per row"):
        images.save_labelled_rows(tmp_path / "x.png", rows, ["a"])


def test_block_diagram_draws_boxes_and_arrows():
    fig = Figure()
    ax = fig.add_subplot()
    plotting.block_diagram(ax, {"a": (0, 0, "in"), "b": (2, 0, "out", "#fee0d2")},
                           [("a", "b", "label"), ("a", "b", "skip", 0.3)])
    texts = [t.get_text() for t in ax.texts]
    assert {"in", "out", "label", "skip"} <= set(texts)
    assert len(ax.patches) == 2
    with pytest.raises(ValueError, match="unknown box"):
        plotting.block_diagram(ax, {"a": (0, 0, "in")}, [("a", "c")])


def training_log(steps=10, val_at=(3, 6, 9)):
    step = np.arange(1, steps + 1, dtype=float)
    val = np.full(steps, np.nan)
    val[list(val_at)] = 5.0 - 0.1 * np.arange(len(val_at))
    return {"step": step, "bits_per_dim": 8.0 - 0.3 * step, "learning_rate": 1e-3 * 0.9 ** step,
            "val_bits_per_dim": val, "val_raw_bits_per_dim": val + 0.05}


def test_training_curves_draws_the_log_and_zooms_from_the_second_held_out_point():
    log = training_log()
    fig = plotting.training_curves(log, "a run", reference=(4.0, "a reference"))
    left, zoom, right = fig.axes
    assert [len(line.get_xdata()) for line in left.lines[:3]] == [10, 3, 3]  # training, EMA, raw
    assert zoom.get_title() == "from step 7 on, zoomed"  # the second held-out measurement is at step 7
    assert min(zoom.lines[0].get_xdata()) == 7
    low, high = zoom.get_ylim()
    assert low < min(log["bits_per_dim"][6:]) and high > 5.0 - 0.1  # fitted to what follows step 7
    np.testing.assert_allclose(right.lines[0].get_ydata(), log["learning_rate"])
    assert any(line.get_linestyle() == ":" for line in left.lines)  # the reference line
    csv_like = np.array(list(zip(*log.values())), dtype=[(key, float) for key in log])  # as numpy.genfromtxt gives
    assert [len(line.get_xdata()) for line in plotting.training_curves(csv_like, "csv").axes[0].lines] == [10, 3, 3]
    without_validation = dict(log, val_bits_per_dim=np.full(10, np.nan), val_raw_bits_per_dim=np.full(10, np.nan))
    assert len(plotting.training_curves(without_validation, "no held-out").axes[0].lines) == 1
    with pytest.raises(ValueError, match="empty"):
        plotting.training_curves({key: np.array([]) for key in log}, "empty")


def test_channel_distribution_frames_one_png_per_step():
    rng = np.random.default_rng(0)
    image = rng.integers(0, 256, size=(3, 3, 3), dtype=np.uint8)
    probs = rng.random((9, 3, 256))
    probs /= probs.sum(-1, keepdims=True)
    frames = plotting.channel_distribution_frames(image, probs, [0, 4, 8], dpi=40)
    assert len(frames) == 3 and all(frame.startswith(b"\x89PNG") for frame in frames)
    assert len(set(frames)) == 3  # the canvas and the distributions change from step to step
    with pytest.raises(ValueError, match="probs must have shape"):
        plotting.channel_distribution_frames(image, probs[:4], [0])
    with pytest.raises(ValueError, match="steps must lie in 0..8"):
        plotting.channel_distribution_frames(image, probs, [9])
    with pytest.raises(ValueError, match="uint8"):
        plotting.channel_distribution_frames(image.astype(float), probs, [0])


def test_field_magnitude_figure_counts_and_scales_each_field():
    target = (2, 2)
    near = np.zeros((5, 5))
    near[1, 1:4], near[2, :2] = [1e-3, 1.0, 1e-2], [1e-5, 0.5]
    fig = plotting.field_magnitude_figure({"near": near, "none": np.zeros((5, 5))}, target)
    top, bottom = fig.axes[0], fig.axes[2]  # subplots row by row, then the colour bar
    assert top.get_title() == "near\nsees 5 of 12 earlier pixels"
    shown = bottom.images[0].get_array()
    assert np.isclose(shown.max(), 0.0) and np.isclose(shown.min(), -5.0)  # relative to the largest
    assert bottom.images[0].get_clim() == (-6, 0)
    assert fig.axes[1].get_title() == "none\nsees 0 of 12 earlier pixels"
    with pytest.raises(ValueError, match="must be \\(H, W\\)"):
        plotting.field_magnitude_figure({"3d": np.zeros((5, 5, 3))}, target)
    with pytest.raises(ValueError, match="fields is empty"):
        plotting.field_magnitude_figure({}, target)
