"""Class-conditional models (``num_classes=K``): the correctness contract with labels, and the API around it.

For every model of the family, in grey and RGB (the small sizes of
conftest.py): causality holds for every class, the class reaches every pixel
(the first one included), each pixel's 256 values sum to one, the sampler draws
from the conditional the loss scores, cached sampling makes the naive draws
with labels and at any temperature, one seed and one set of labels give one
result. An unconditional model is what it was before classes came in. Errors
are clear; ``fit``, ``evaluate``, ``predict`` and ``.keras`` files take the
``{"images", "labels"}`` dicts; ``class_log_probs`` classifies.

The class vectors (``layers.ClassBias``) start at N(0, 0.05), which moves a
log-probability by as little as 1e-5: the contract tests draw them N(0, 1) instead
(``strengthen``), so that every difference a class makes stands well above
float32 rounding and the tests keep their power.
"""

from __future__ import annotations

import keras
import numpy as np
import pytest
from helpers import (
    CHANNELS,
    IMAGE_SIZE,
    MODEL_KEYS,
    SMALL_CONFIGS,
    assert_same_draws,
    build_small,
    random_images,
    to_numpy,
    total_variation,
)
from test_cached_sampling import CASES, NEEDS_TENSORFLOW, half_known
from test_models import ALL_MODELS, N_PIXELS, assert_causal, probe_batch

import pixelcnn_lib as pl
from pixelcnn_lib import nn as L
from pixelcnn_lib.nn.heads import to_unit_range
from pixelcnn_lib.sampling import class_log_probs

H = W = IMAGE_SIZE
K = 3
NAMES = ["cat", "dog", "eel"]


def class_biases(model):
    return [layer for layer in model._flatten_layers(include_self=False, recursive=True)
            if isinstance(layer, L.ClassBias)]


def strengthen(model, seed=0):
    """Draw every class vector N(0, 1): a change of class then moves every pre-activation it enters by ~1."""
    rng = np.random.default_rng(seed)
    for layer in class_biases(model):
        layer.embeddings.assign(rng.normal(size=layer.embeddings.shape).astype(np.float32))
    return model


@pytest.fixture(scope="module")
def conditional_model():
    """``conditional_model(key, channels)``: the small model of ``key`` with K named classes, initialised from data,
    with strong class vectors (shared by the module: do not change its weights)."""
    cache = {}

    def get(key, channels):
        if (key, channels) not in cache:
            model = build_small(key, channels, num_classes=K, class_names=NAMES)
            # outputs of a realistic scale (an untrained 256-way head is near uniform, and so hides the class)
            pl.data_dependent_init(model, random_images(12, (H, W, channels), seed=59), np.arange(12) % K)
            cache[key, channels] = strengthen(model)
        return cache[key, channels]

    return get


def per_pixel(model, images, labels):
    return pl.log_prob(model, images, per_pixel=True, labels=labels, batch_size=256).reshape(len(images), N_PIXELS)


# --------------------------------------------------------------------------
# the contract with labels
# --------------------------------------------------------------------------


@pytest.mark.slow
@pytest.mark.contract
@ALL_MODELS
def test_causality_holds_for_every_class(conditional_model, key, channels):
    """Changing pixel k leaves the log-probs of all pixels before k unchanged, under each class."""
    model = conditional_model(key, channels)
    images = probe_batch(channels, seed=60)
    lp = per_pixel(model, np.tile(images, (K, 1, 1, 1)), np.repeat(np.arange(K), len(images)))
    for label in range(K):
        assert_causal(lp[label * len(images):(label + 1) * len(images)], what=f"class {label}: ")


@pytest.mark.slow
@pytest.mark.contract
@ALL_MODELS
def test_the_class_reaches_every_pixel(conditional_model, key, channels):
    """Another label changes the log-prob of every pixel of the same image, the first pixel (0, 0) included, and
    every pixel's distribution parameters."""
    model = conditional_model(key, channels)
    images = np.repeat(random_images(1, (H, W, channels), seed=61), K, axis=0)
    lp = per_pixel(model, images, np.arange(K))
    diff = np.abs(lp[1:] - lp[0])  # (K - 1, pixels): classes 1, 2 against class 0
    assert diff.min() > 1e-5, f"a class leaves pixel {np.argmin(diff) % N_PIXELS} as class 0 has it"
    assert diff.max(axis=0).min() > 1e-3, f"pixel {np.argmin(diff.max(axis=0))} hardly depends on the class"
    params = to_numpy(model({"images": to_unit_range(images), "labels": np.arange(K)}, training=False))
    moved = np.abs(params[1:] - params[0]).max(axis=-1)  # (K - 1, H, W)
    assert moved.min() > 1e-3, f"a class leaves the parameters of pixel {np.argmin(moved) % N_PIXELS} unchanged"


@pytest.mark.slow
@pytest.mark.contract
@pytest.mark.parametrize("key", MODEL_KEYS)
def test_all_256_values_of_a_pixel_sum_to_one_under_each_class(conditional_model, key):
    model = conditional_model(key, 1)
    base = random_images(1, (H, W, 1), seed=62)[0]
    targets = [(0, 0), (3, 5), (7, 7)]  # target t under class t
    batch = np.repeat(base[None], 256 * len(targets), axis=0)
    for t, (i, j) in enumerate(targets):
        batch[t * 256:(t + 1) * 256, i, j, 0] = np.arange(256)
    lp = pl.log_prob(model, batch, per_pixel=True, batch_size=256, labels=np.repeat(np.arange(len(targets)), 256))
    for t, (i, j) in enumerate(targets):
        values = lp[t * 256:(t + 1) * 256, i, j].astype(np.float64)
        total = np.log(np.sum(np.exp(values - values.max()))) + values.max()
        assert abs(total) < 1e-4, f"{key}, class {t}: probabilities of pixel {(i, j)} sum to exp({total})"
        assert values.max() - values.min() > 1e-3, "not trivially uniform"


@pytest.mark.contract
@pytest.mark.parametrize("key,temperature", [("pixelsnail_original", 1.0), ("gated_pixelcnn", 1.0),
                                             ("gated_pixelcnn", 0.5)])
@pytest.mark.slow
def test_the_sampler_draws_the_conditional_the_loss_scores(conditional_model, key, temperature):
    """Complete the last pixel of many copies of one image under class 1: the values drawn follow exp(log_prob)
    of that pixel under class 1, and the test tells them from class 0's. At temperature T the 256-way head
    draws from p ** (1 / T), normalised."""
    model = conditional_model(key, 1)
    base = random_images(1, (H, W, 1), seed=63)[0]
    n = 3000
    known = np.ones((n, H, W), bool)
    known[:, H - 1, W - 1] = False
    drawn = pl.complete(model, np.repeat(base[None], n, axis=0), known, seed=9, labels="dog",
                        temperature=temperature)[:, H - 1, W - 1, 0]

    def probs(label):
        batch = np.repeat(base[None], 256, axis=0)
        batch[:, H - 1, W - 1, 0] = np.arange(256)
        lp = pl.log_prob(model, batch, per_pixel=True, batch_size=256, labels=label)[:, H - 1, W - 1]
        lp = lp.astype(np.float64) / temperature
        p = np.exp(lp - lp.max())
        return p / p.sum()

    def coarse(counts_or_probs):  # 16 bins of 16 values
        return np.add.reduceat(np.asarray(counts_or_probs, np.float64), np.arange(0, 256, 16))

    p = probs(1)
    wanted, other = coarse(p), coarse(probs(0))
    hist = coarse(np.bincount(drawn, minlength=256))
    exact = coarse(np.bincount(np.random.default_rng(64).choice(256, n, p=p), minlength=256))
    tv_sampler, tv_exact = total_variation(hist, wanted), total_variation(exact, wanted)
    assert tv_sampler < 1.5 * tv_exact + 0.02, (tv_sampler, tv_exact)
    assert total_variation(other, wanted) > 2 * tv_exact + 0.02, "the classes are too alike for the test to tell"
    if temperature != 1:
        untempered = coarse(probs(1) ** temperature)  # (p ** (1 / T)) ** T, normalised: the model's own p
        assert total_variation(untempered, wanted) > 2 * tv_exact + 0.02, "T too close to 1 for the test to tell"


@pytest.mark.slow
@pytest.mark.contract
def test_same_seed_and_labels_same_samples_other_labels_other_samples(conditional_model):
    model = conditional_model("pixelsnail_original", 1)
    a = pl.sample(model, 2, seed=5, labels=[0, 2])
    assert a.dtype == np.uint8 and a.shape == (2, H, W, 1)
    np.testing.assert_array_equal(pl.sample(model, 2, seed=5, labels=[0, 2]), a)
    np.testing.assert_array_equal(pl.sample(model, 2, seed=5, labels=["cat", "eel"]), a)  # by name
    b = pl.sample(model, 2, seed=5, labels=1)  # one class for all
    np.testing.assert_array_equal(pl.sample(model, 2, seed=5, labels=[1, 1]), b)
    np.testing.assert_array_equal(pl.sample(model, 2, seed=5, labels="dog"), b)
    assert (a != b).mean() > 0.25, "another class, the same seed: other images"
    assert (a != pl.sample(model, 2, seed=6, labels=[0, 2])).mean() > 0.25
    # each image follows its own label: another label for the second image leaves the first as it was
    c = pl.sample(model, 2, seed=5, labels=[0, 1])
    np.testing.assert_array_equal(c[0], a[0])
    assert (c[1] != a[1]).mean() > 0.25


@pytest.mark.slow
@pytest.mark.contract
@pytest.mark.parametrize("key", ["pixelsnail_original", "gated_pixelcnn"])
def test_temperature_one_is_the_default_and_temperature_must_be_positive(conditional_model, key):
    model = conditional_model(key, 1)
    default = pl.sample(model, 4, seed=3, labels=[0, 1, 2, 0])
    np.testing.assert_array_equal(pl.sample(model, 4, seed=3, labels=[0, 1, 2, 0], temperature=1.0), default)
    np.testing.assert_array_equal(pl.sample(model, 4, seed=3, labels=[0, 1, 2, 0], temperature=np.float32(1)),
                                  default)
    cold = pl.sample(model, 4, seed=3, labels=[0, 1, 2, 0], temperature=0.5)
    assert (cold != default).mean() > 0.3
    images = random_images(1, (H, W, 1), seed=65)
    known = np.ones((1, H, W), bool)
    known[0, -1] = False
    for bad in (0, 0.0, -1.0, float("nan"), float("inf")):
        with pytest.raises(ValueError, match="temperature must be a finite number > 0"):
            pl.sample(model, 1, labels=0, temperature=bad)
        with pytest.raises(ValueError, match="temperature must be a finite number > 0"):
            pl.complete(model, images, known, labels=0, temperature=bad)
    with pytest.raises(TypeError, match="temperature must be a number > 0"):
        pl.sample(model, 1, labels=0, temperature="warm")
    with pytest.raises(ValueError, match="temperature must be a finite number > 0"):
        model.head.sample(np.zeros((1, 1, 1, model.head.num_params), np.float32), seed=0, temperature=0.0)


# --------------------------------------------------------------------------
# cached = naive with labels and temperature (TensorFlow's speed path)
# --------------------------------------------------------------------------


#: one case of each model with a cached sampler, from test_cached_sampling.py: PixelSNAIL RGB, Gated PixelCNN
#: grey, PixelCNN++ grey with three levels
CACHED_CASES = [CASES[0], CASES[3], CASES[5]]


@pytest.fixture(scope="module", params=CACHED_CASES, ids=lambda c: f"{c[0]}-{c[1][-1]}ch")
def cached_model(request):
    name, shape, hparams = request.param
    keras.utils.set_random_seed(0)
    model = pl.build_model(name, shape, num_classes=K, class_names=NAMES, **hparams)
    images = np.random.default_rng(0).integers(0, 256, (9, *shape), dtype=np.uint8)
    pl.data_dependent_init(model, images, np.arange(9) % K)  # outputs of a realistic scale
    return strengthen(model)


@pytest.mark.slow
@pytest.mark.contract
@NEEDS_TENSORFLOW
@pytest.mark.parametrize("temperature", [1.0, 0.7])
def test_cached_sample_equals_naive_with_labels(cached_model, temperature):
    labels = [2, 0, 1]
    naive = pl.sample(cached_model, 3, seed=5, method="naive", labels=labels, temperature=temperature)
    cached = pl.sample(cached_model, 3, seed=5, method="cached", labels=labels, temperature=temperature)
    assert_same_draws(cached, naive)
    assert len(np.unique(cached)) > 10
    other = pl.sample(cached_model, 3, seed=5, method="cached", labels=[1, 2, 0], temperature=temperature)
    assert (other != cached).mean() > 0.3, "the cached sampler must follow the labels"


@pytest.mark.slow
@pytest.mark.contract
@NEEDS_TENSORFLOW
def test_cached_complete_equals_naive_with_labels(cached_model):
    images, known = half_known(2, cached_model.image_shape)
    naive = pl.complete(cached_model, images, known, seed=2, method="naive", labels="eel", temperature=1.3)
    cached = pl.complete(cached_model, images, known, seed=2, method="cached", labels="eel", temperature=1.3)
    assert_same_draws(cached, naive)
    np.testing.assert_array_equal(cached[known], images[known])


# --------------------------------------------------------------------------
# an unconditional model is what it was
# --------------------------------------------------------------------------


#: count_params() of the small models (grey, RGB) before class-conditional models came in (commit 9abcc16)
PARAMS_BEFORE = {
    "pixelcnn": (12440, 28104), "pixelcnn_mixture": (5940, 8656), "gated_pixelcnn": (14888, 28920),
    "pixelcnn_pp": (82140, 82600), "pixelsnail_original": (8658, 9438), "pixelsnail_multihead": (8526, 9298),
}
#: pl.log_prob of random_images(3, (8, 8, C), seed=40) under build_small(key, C, seed=0) at commit 9abcc16, on
#: TensorFlow with Keras 3.15.1 (whose seeded initialisers drew these weights)
LOG_PROB_BEFORE = {
    ("pixelcnn", 1): [-358.86850, -359.85712, -353.46628],
    ("gated_pixelcnn", 3): [-1061.0271, -1074.3843, -1071.0278],
    ("pixelcnn_pp", 1): [-396.24301, -396.99176, -397.62463],
    ("pixelsnail_multihead", 3): [-1285.6881, -1258.3000, -1275.3557],
}


@pytest.mark.slow
@pytest.mark.parametrize("key", MODEL_KEYS)
def test_an_unconditional_model_is_unchanged(small_model, key):
    """Built without num_classes: the same parameters as before classes came in, no class in its config, and the
    same outputs as the conditional model of the same seed whose class vectors are all zero."""
    model = small_model(key, 1)  # build_small(key, 1, seed=0)
    for channels in CHANNELS:
        assert small_model(key, channels).count_params() == PARAMS_BEFORE[key][channels // 3]
    assert "num_classes" not in model.config and "class_names" not in model.config
    assert not model.conditional and not class_biases(model)
    assert set(model.get_config()) == {"model", "image_shape", *SMALL_CONFIGS[key][1], *model.defaults}

    conditional = build_small(key, 1, seed=0, num_classes=K)
    biases = class_biases(conditional)
    assert biases and conditional.count_params() == model.count_params() + sum(b.count_params() for b in biases)
    # the class vectors are the only new weights: the others, copied over, give the unconditional outputs
    shared = [v for v in conditional.weights if not any(v is b.embeddings for b in biases)]
    assert [tuple(v.shape) for v in shared] == [tuple(v.shape) for v in model.weights]
    for target, source in zip(shared, model.weights):
        target.assign(source)
    for b in biases:
        b.embeddings.assign(np.zeros(b.embeddings.shape, np.float32))
    x = to_unit_range(random_images(3, (H, W, 1), seed=66))
    np.testing.assert_allclose(to_numpy(conditional({"images": x, "labels": np.array([0, 1, 2])}, training=False)),
                               to_numpy(model(x, training=False)), rtol=1e-6, atol=1e-6)


@pytest.mark.skipif(keras.backend.backend() != "tensorflow" or keras.__version__ != "3.15.1",
                    reason="seeded initial weights recorded on TensorFlow with Keras 3.15.1")
@pytest.mark.parametrize("key,channels", list(LOG_PROB_BEFORE))
def test_an_unconditional_model_gives_the_log_probs_it_gave_before(small_model, key, channels):
    """The same seed, the same weights and log-probs as before classes came in (no new draws from the seed)."""
    images = random_images(3, (H, W, channels), seed=40)
    np.testing.assert_allclose(pl.log_prob(small_model(key, channels), images), LOG_PROB_BEFORE[key, channels],
                               rtol=1e-5)


# --------------------------------------------------------------------------
# errors
# --------------------------------------------------------------------------


@pytest.fixture(scope="module")
def tiny():
    """(conditional with names, conditional without names, unconditional): PixelCNN with one block."""
    kwargs = dict(filters=6, depth=1, head_filters=12)
    return (pl.build_model("pixelcnn", (H, W, 1), num_classes=K, class_names=NAMES, **kwargs),
            pl.build_model("pixelcnn", (H, W, 1), num_classes=K, **kwargs),
            pl.build_model("pixelcnn", (H, W, 1), **kwargs))


def test_label_errors_are_clear(tiny):
    named, unnamed, plain = tiny
    x = random_images(2, (H, W, 1), seed=67)
    known = np.ones((2, H, W), bool)
    known[:, -1] = False
    calls = {  # how each entry point takes labels
        "log_prob": lambda m, y: pl.log_prob(m, x, labels=y),
        "sample": lambda m, y: pl.sample(m, 2, labels=y),
        "complete": lambda m, y: pl.complete(m, x, known, labels=y),
        "data_dependent_init": lambda m, y: pl.data_dependent_init(m, x, y),
    }
    for name, call in calls.items():
        with pytest.raises(ValueError, match=r"labels must lie in 0..2 \(the model's 3 classes\), got \[3\]"):
            call(named, [0, 3])
        with pytest.raises(ValueError, match=r"labels must lie in 0..2.*got \[-1, -1\]"):
            call(named, -1)
        with pytest.raises(ValueError, match=r"class-conditional \(3 classes\): give labels="):
            call(named, None)
        with pytest.raises(ValueError, match="labels were given to an unconditional pixelcnn"):
            call(plain, [0, 1])
        with pytest.raises(ValueError, match=r"the model has no class 'zebra'; its classes are \['cat', 'dog', "):
            call(named, ["cat", "zebra"])
        with pytest.raises(ValueError, match="classes have no names; give labels 0...2"):
            call(unnamed, "cat")
        with pytest.raises(ValueError, match="3 labels were given for 2 images"):
            call(named, [0, 1, 2])
        for floats in (1.0, [0.0, 1.0], np.array([0.0, 1.0], np.float32)):
            with pytest.raises(TypeError, match="labels must be integer class indices 0..2, got dtype float"):
                call(named, floats)
        with pytest.raises(ValueError, match=r"labels must have shape \(batch,\)"):
            call(named, [[0], [1]])
    with pytest.raises(ValueError, match="class_log_probs needs a class-conditional model"):
        class_log_probs(plain, x)
    # the model called directly
    with pytest.raises(ValueError, match=r"class-conditional \(3 classes\): give \{'images': images, 'labels'"):
        named(x)
    with pytest.raises(ValueError, match=r"class-conditional \(3 classes\): give \{'images': images, 'labels'"):
        named({"images": x})
    with pytest.raises(ValueError, match="labels were given to an unconditional pixelcnn"):
        plain({"images": x, "labels": np.array([0, 1])})
    with pytest.raises(ValueError, match=r"labels must lie in 0..2"):
        named({"images": x, "labels": np.array([0, 5])})
    with pytest.raises(ValueError, match="3 labels were given for 2 images"):
        named({"images": x, "labels": np.array([0, 1, 2])})
    with pytest.raises(TypeError, match="labels must be integer class indices"):
        named({"images": x, "labels": np.array([0.0, 1.0], np.float32)})
    with pytest.raises(ValueError, match="takes a dict with keys 'images' and 'labels'"):
        named({"image": x, "labels": np.array([0, 1])})


@pytest.mark.parametrize("classes,match", [
    (dict(class_names=NAMES), "class_names were given without num_classes"),
    (dict(num_classes=K, class_names=NAMES[:2]), r"class_names must be 3 distinct names, got \['cat', 'dog'\]"),
    (dict(num_classes=2, class_names=["a", "a"]), "class_names must be 2 distinct names"),
    (dict(num_classes=0), r"num_classes must be None \(unconditional\) or a positive int, got 0"),
    (dict(num_classes=2.0), "num_classes must be None .* or a positive int, got 2.0"),
    (dict(num_classes=True), "num_classes must be None .* or a positive int, got True"),
    (dict(num_classes="3"), "num_classes must be None .* or a positive int, got '3'"),
])
def test_class_argument_errors(classes, match):
    with pytest.raises(ValueError, match=match):
        pl.build_model("pixelcnn", (H, W, 1), filters=6, depth=1, **classes)


# --------------------------------------------------------------------------
# Keras-native use, and classifying with the model
# --------------------------------------------------------------------------


def dark_and_bright(n, seed):
    """n all-dark images (class 0, values 0..40) and n all-bright ones (class 1, values 215..255), interleaved."""
    rng = np.random.default_rng(seed)
    images = np.empty((2 * n, H, W, 1), np.uint8)
    images[0::2] = rng.integers(0, 41, (n, H, W, 1))
    images[1::2] = rng.integers(215, 256, (n, H, W, 1))
    return images, np.tile(np.array([0, 1]), n)


def small_pixelsnail(num_classes=2, class_names=("dark", "bright")):
    keras.utils.set_random_seed(1)
    return pl.build_model("pixelsnail", (H, W, 1), filters=12, depth=1, resnets_per_block=1, num_mixtures=2,
                          dropout=0.0, num_classes=num_classes, class_names=class_names)


@pytest.fixture(scope="module")
def fitted():
    """A small conditional PixelSNAIL fitted on dark (class 0) and bright (class 1) images with
    ``model.fit({"images", "labels"})`` (120 steps, a few seconds); its losses and class vectors before the fit."""
    images, labels = dark_and_bright(64, seed=70)
    model = small_pixelsnail()
    pl.data_dependent_init(model, images[:32], labels[:32])
    before = [b.embeddings.numpy().copy() for b in class_biases(model)]
    model.compile(optimizer=keras.optimizers.Adam(5e-3))
    history = model.fit({"images": images, "labels": labels}, batch_size=32, epochs=30, verbose=0)
    return model, history.history["loss"], before


@pytest.mark.slow
def test_fit_on_a_dict_of_arrays_lowers_the_loss_and_trains_the_class_vectors(fitted):
    model, losses, before = fitted
    assert losses[-1] < losses[0] - 0.5, losses
    after = [b.embeddings.numpy() for b in class_biases(model)]
    assert all(np.abs(a - b).max() > 1e-3 for a, b in zip(after, before)), "every class vector is trained"


@pytest.mark.slow
def test_fit_on_a_dataset_of_dicts_lowers_the_loss():
    tf = pytest.importorskip("tensorflow")
    images, labels = dark_and_bright(32, seed=71)
    model = small_pixelsnail()
    pl.data_dependent_init(model, images[:32], labels[:32])
    model.compile(optimizer=keras.optimizers.Adam(1e-2))
    dataset = tf.data.Dataset.from_tensor_slices({"images": images, "labels": labels}).batch(16)
    losses = model.fit(dataset, epochs=3, shuffle=False, verbose=0).history["loss"]
    assert losses[-1] < losses[0], losses


def test_evaluate_is_bits_per_dim_and_predict_gives_the_params(fitted):
    model, _, _ = fitted
    images, labels = dark_and_bright(8, seed=72)
    evaluated = model.evaluate({"images": images, "labels": labels}, batch_size=8, verbose=0)
    expected = pl.bits_per_dim(-pl.log_prob(model, images, labels=labels).mean(), (H, W, 1))
    assert evaluated == pytest.approx(expected, abs=1e-4)
    params = model.predict({"images": images[:5], "labels": labels[:5]}, verbose=0)
    direct = model({"images": to_unit_range(images[:5]), "labels": labels[:5]}, training=False)
    np.testing.assert_allclose(params, to_numpy(direct), atol=1e-5)
    # the labels matter to the params
    assert np.abs(model.predict({"images": images[:5], "labels": 1 - labels[:5]}, verbose=0) - params).max() > 1e-3


def test_fit_without_labels_or_with_targets_is_a_clear_error(fitted):
    model, _, _ = fitted
    images, labels = dark_and_bright(4, seed=73)
    with pytest.raises(ValueError, match=r"class-conditional \(2 classes\): give \{'images': images, 'labels'"):
        model.fit({"images": images}, epochs=1, verbose=0)
    for targets in (None, labels):  # the labels as Keras's targets: the model is called on images alone first
        with pytest.raises(ValueError, match=r"class-conditional \(2 classes\): give \{'images': images"):
            model.fit(images, targets, epochs=1, verbose=0)
    with pytest.raises(ValueError, match=r'not fit\(images, y\) \(a class-conditional model takes fit\(\{"images"'):
        model.fit({"images": images, "labels": labels}, labels, epochs=1, verbose=0)


@pytest.mark.slow
def test_save_and_load_keep_the_classes(fitted, tmp_path):
    model, _, _ = fitted
    path = tmp_path / "conditional.keras"
    model.save(path)
    loaded = keras.models.load_model(path)
    assert type(loaded) is type(model) and loaded.config == model.config
    assert loaded.num_classes == 2 and loaded.class_names == ["dark", "bright"]
    images, labels = dark_and_bright(3, seed=74)
    np.testing.assert_allclose(pl.log_prob(loaded, images, labels=labels), pl.log_prob(model, images, labels=labels),
                               rtol=1e-5)
    np.testing.assert_array_equal(pl.sample(loaded, 2, seed=2, labels=["dark", "bright"]),
                                  pl.sample(model, 2, seed=2, labels=[0, 1]))


def test_class_log_probs_classify_dark_and_bright_images(fitted):
    model, _, _ = fitted
    images, labels = dark_and_bright(6, seed=75)  # new images of the two classes
    scores = class_log_probs(model, images)
    assert scores.shape == (12, 2)
    np.testing.assert_allclose(scores[:, 1], pl.log_prob(model, images, labels=1), rtol=1e-5)
    np.testing.assert_array_equal(np.argmax(scores, axis=1), labels)
    # and the model's own samples of each class are classified as that class
    drawn = pl.sample(model, 4, seed=3, labels=[0, 1, 0, 1])
    assert drawn[0::2].mean() < 80 and drawn[1::2].mean() > 150, drawn.reshape(4, -1).mean(axis=1)
    np.testing.assert_array_equal(np.argmax(class_log_probs(model, drawn), axis=1), [0, 1, 0, 1])
