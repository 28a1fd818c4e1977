"""How the shipped model's training is described: read off its metadata and log, never typed in."""

import numpy as np
import pytest

from pixelcnn_lib.pretrained import describe_training


class Shipped:
    def __init__(self, metadata):
        self.metadata = metadata


LOG = {"step": np.array([50.0, 100.0]), "bits_per_dim": np.array([6.0, 4.25]),
       "elapsed_seconds": np.array([360.0, 7200.0]), "images_per_second": np.array([10.0, 12.0]),
       "val_bits_per_dim": np.array([np.nan, 4.5])}


def test_the_description_quotes_metadata_and_log():
    text = describe_training(Shipped({"step": 100, "weights": "EMA", "training": {"batch_size": 16, "steps": 200},
                                      "holdout_bits_per_dim": 3.1008, "holdout_images": 5000,
                                      "holdout": "the last 500 images of every class"}), LOG)
    assert "from step 100 (their Polyak average)" in text
    assert "100 steps of batches of 16 images in 2.0 hours, at a median of 11.0 training images" in text
    assert "planned for 200 steps" in text and "4.250 bits/dim" in text
    assert "On 5,000 held-out images the model reaches **3.101 bits/dim** (the last 500" in text


def test_without_a_stored_held_out_figure_the_log_is_used_or_its_absence_said():
    assert "reached **4.500 bits/dim**" in describe_training(Shipped({"training": {"val_size": 500}}), LOG)
    no_validation = dict(LOG, val_bits_per_dim=np.array([np.nan, np.nan]))
    assert "Neither the weights nor the log" in describe_training(Shipped({}), no_validation)
    with pytest.raises(ValueError, match="empty"):
        describe_training(Shipped({}), dict(LOG, step=np.array([])))


# --- released models: .keras files, and the older .npz ones ---------------------------------------


@pytest.mark.slow
def test_the_shipped_model_is_a_keras_file_with_its_metadata_beside_it():
    from importlib import resources

    import keras

    import pixelcnn_lib as pl
    from pixelcnn_lib.pretrained import load_pretrained
    from pixelcnn_lib.training.config import _normalised

    shipped = load_pretrained("pixelsnail_cifar10")
    # the metadata describes the model (hyper-parameters added since it was trained take their defaults)
    assert shipped.metadata["step"] == 18000 and _normalised(shipped.metadata["model"]) == _normalised(shipped.config)
    assert set(shipped.config) - set(shipped.metadata["model"]) <= {"background", "image_keys"}
    with resources.as_file(resources.files("pixelcnn_lib") / "assets" / "pixelsnail_cifar10.keras") as path:
        plain = keras.models.load_model(path)  # what a Keras user does, on any backend
    images = np.random.default_rng(0).integers(0, 256, (2, 32, 32, 3), dtype=np.uint8)
    np.testing.assert_array_equal(pl.log_prob(plain, images), pl.log_prob(shipped, images))


@pytest.mark.parametrize("suffix", [".keras", ".npz"])
def test_export_and_load_round_trip(tmp_path, suffix):
    import pixelcnn_lib as pl
    from pixelcnn_lib.checkpoints import export_weights, load_model

    model = pl.build_model("pixelcnn", (8, 8, 1), filters=8, depth=1, head_filters=16)
    averages = [np.full(v.shape, 0.01 * (k + 1), np.float32) for k, v in enumerate(model.weights)]
    path = tmp_path / f"released{suffix}"
    export_weights(model, path, ema_values=averages, extra={"step": 7})
    loaded = load_model(path)
    assert loaded.metadata == {"model": model.config, "step": 7}
    for var, value in zip(loaded.weights, averages):  # the averages, not the model's own weights
        np.testing.assert_array_equal(np.asarray(var), value)
    with pytest.raises(ValueError, match="a .keras or .npz file"):
        export_weights(model, tmp_path / "released.h5")


@pytest.mark.slow
def test_presets_list_and_load_the_shipped_models(tmp_path):
    import keras

    import pixelcnn_lib as pl
    from pixelcnn_lib.checkpoints import export_weights
    from pixelcnn_lib.pretrained import PRETRAINED

    listed = pl.presets()
    assert sorted(listed) == sorted(PRETRAINED)
    gem_line = listed["pixelsnail_gemstones"]
    assert "68 classes" in gem_line and "bits/dim on 204 held-out" in gem_line
    images = np.random.default_rng(0).integers(0, 256, (2, 32, 32, 3), dtype=np.uint8)
    gem = pl.from_preset("pixelsnail_gemstones")
    assert isinstance(gem, keras.Model) and gem.conditional and gem.metadata["holdout_images"] == 204
    snail = pl.from_preset("pixelsnail_cifar10")
    assert not snail.conditional and snail.metadata["holdout_images"] == 5000
    # a path works too: a released file, scored the same as the preset it was written from
    path = tmp_path / "mine.keras"
    export_weights(snail, path)
    np.testing.assert_allclose(pl.log_prob(pl.from_preset(path), images), pl.log_prob(snail, images), rtol=1e-6)
    with pytest.raises(ValueError, match="neither a preset .*pixelsnail_cifar10, pixelsnail_gemstones"):
        pl.from_preset("pixelsnail_imagenet")
    with pytest.raises(TypeError, match="preset name or a path"):
        pl.from_preset(3)


def test_shipped_summaries_and_logs_agree_with_each_other():
    """Every shipped model or run has a summary and a log that tell the same story: the summary's step is the log's
    last, and its held-out figure is a measurement, not a placeholder."""
    from pixelcnn_lib.pretrained import PRETRAINED, SHIPPED_RUNS, load_run_summary, load_training_log

    for name in sorted(PRETRAINED) + sorted(SHIPPED_RUNS):
        summary, log = load_run_summary(name), load_training_log(name)
        assert summary["step"] == int(log["step"][-1]), name
        assert 0 < summary["holdout_bits_per_dim"] < 8 and summary["holdout_images"] > 0, name
    with pytest.raises(ValueError, match="unknown shipped model or run 'nope'"):
        load_run_summary("nope")
    with pytest.raises(ValueError, match="unknown shipped model or run"):
        load_training_log("nope")
