"""Training on ``model.fit``: Polyak averages, data-dependent init, checkpoints, resumption, logs with sample images,
the NaN guard, tf.distribute."""

import csv
import math
import os
import subprocess
import sys
from pathlib import Path

import keras
import numpy as np
import pytest
import tensorflow as tf

import pixelcnn_lib as pl
from pixelcnn_lib import checkpoints as ckpt
from pixelcnn_lib import training as T
from pixelcnn_lib.data import load_source
from pixelcnn_lib.models.base import pad_with_ones
from pixelcnn_lib.nn.heads import to_unit_range
from pixelcnn_lib.training import callbacks, trainer

REPO = Path(__file__).resolve().parents[1]
MODEL = {"model": "pixelsnail", "image_shape": [8, 8, 1], "filters": 8, "depth": 1, "resnets_per_block": 1,
         "dropout": 0.0}
LR, DECAY = 3e-3, 0.99
STEPS, EVERY = 40, 15  # checkpoints at 15, 30 and 40 (the end)


def config(**changes):
    settings = dict(steps=STEPS, batch_size=8, learning_rate=LR, lr_decay=DECAY, ema_decay=0.9,
                    checkpoint_every=EVERY, log_every=5, init_batch_size=32, seed=0)
    settings.update(changes)
    return T.TrainConfig(**settings)


def read_log(directory):
    with open(Path(directory) / "log.csv", newline="") as f:
        return list(csv.DictReader(f))


def unpack(arrays, prefix):
    return [arrays[k] for k in sorted(arrays) if k.startswith(prefix + "/")]


def checkpoint_arrays(directory):
    with np.load(Path(directory) / ckpt.CHECKPOINT_FILE) as arrays:
        return {k: arrays[k] for k in arrays.files}


@pytest.fixture(scope="module")
def digits():
    return load_source("digits", "train")[:64]


@pytest.fixture(scope="module")
def straight(tmp_path_factory, digits):
    """One uninterrupted run of STEPS steps; records its checkpoint steps and data-dependent init."""
    out = tmp_path_factory.mktemp("straight")
    saved, inits = [], []
    original_save, original_init = callbacks._save, trainer.data_dependent_init

    def spy_save(directory, step, *args):
        original_save(directory, step, *args)
        saved.append(step)

    def spy_init(model, images, labels=None):
        count = original_init(model, images, labels)
        inits.append({"batch": int(images.shape[0]), "layers": count,
                      "bits_per_dim": T.evaluate_bits_per_dim(model, digits)})
        return count

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(callbacks, "_save", spy_save)
        mp.setattr(trainer, "data_dependent_init", spy_init)
        keras.utils.set_random_seed(7)
        result = T.train(MODEL, digits, out, config(), verbose=False)
    return {"dir": out, "result": result, "saved": saved, "inits": inits}


# --- EMA -------------------------------------------------------------------------------------------

def test_ema_update_follows_the_closed_form():
    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2)])
    w0 = [v.numpy() for v in model.trainable_variables]
    d = 0.9
    ema = T.PolyakAverage(d).attach(model)
    for avg, w in zip(ema.values(), w0):
        np.testing.assert_array_equal(avg, w)
    w1 = [np.full_like(w, 2.0) for w in w0]
    for var, w in zip(model.trainable_variables, w1):
        var.assign(w)
    late = 1000  # past the warm-up: min(0.9, 1001 / 1010) = 0.9
    ema.update(late)
    for avg, a, b in zip(ema.values(), w0, w1):
        # float32 rounding of terms of size up to 2: an absolute tolerance, or tiny entries fail on the last bit
        np.testing.assert_allclose(avg, d * a + (1 - d) * b, rtol=1e-6, atol=1e-6)
    for _ in range(4):
        ema._update(tf.constant(late))  # the compiled update that fit runs after every step
    for avg, a, b in zip(ema.values(), w0, w1):  # 5 updates towards a constant w1
        np.testing.assert_allclose(avg, d**5 * a + (1 - d**5) * b, rtol=1e-5, atol=1e-6)
    averages = ema.values()
    with ema.swapped_in():
        for var, avg in zip(model.trainable_variables, averages):
            np.testing.assert_array_equal(var.numpy(), avg)
    for var, w in zip(model.trainable_variables, w1):
        np.testing.assert_array_equal(var.numpy(), w)


def test_ema_decay_warms_up_then_stays_at_its_setting():
    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2)])
    ema = T.PolyakAverage(0.9995).attach(model)
    decays = [float(ema.decay_at(t)) for t in (0, 10, 90, 990, 100000)]
    np.testing.assert_allclose(decays, [0.1, 11 / 20, 91 / 100, 991 / 1000, 0.9995], rtol=1e-6)
    # the first update forgets 90% of the initial weights, not 0.05%
    w0 = [v.numpy() for v in model.trainable_variables]
    for var in model.trainable_variables:
        var.assign(tf.zeros_like(var))
    ema.update(0)
    for avg, a in zip(ema.values(), w0):
        np.testing.assert_allclose(avg, 0.1 * a, rtol=1e-5, atol=1e-7)


@pytest.mark.slow
def test_ema_weights_are_what_load_model_and_train_hand_back(straight):
    arrays = checkpoint_arrays(straight["dir"])
    ema_values, raw_values = unpack(arrays, "ema"), unpack(arrays, "model")
    with_ema = ckpt.load_model(straight["dir"])
    without = ckpt.load_model(straight["dir"], ema=False)
    assert with_ema.metadata["step"] == STEPS
    assert all(with_ema.config[k] == v for k, v in MODEL.items())
    for var, value in zip(with_ema.trainable_weights, ema_values):
        np.testing.assert_array_equal(var.numpy(), value)
    for var, value in zip(without.weights, raw_values):
        np.testing.assert_array_equal(var.numpy(), value)
    assert any(not np.array_equal(a, b) for a, b in zip(ema_values, raw_values))
    returned = straight["result"]["model"]
    for var, value in zip(returned.trainable_weights, ema_values):
        np.testing.assert_array_equal(var.numpy(), value)
    images = load_source("digits", "test")[:32]
    assert T.evaluate_bits_per_dim(with_ema, images) != T.evaluate_bits_per_dim(without, images)


# --- data-dependent initialisation -----------------------------------------------------------------

def test_data_dependent_init_gives_unit_variance_first_layer_outputs(digits):
    keras.utils.set_random_seed(1)
    model = pl.build_model("pixelsnail", (8, 8, 1), **{k: v for k, v in MODEL.items()
                                                       if k not in ("model", "image_shape")})
    x = pad_with_ones(to_unit_range(digits))
    before = model.in_down(x).numpy().std(axis=(0, 1, 2))
    assert np.abs(before - 1).max() > 0.1  # not unit variance by chance
    assert pl.data_dependent_init(model, digits) > 0
    y = model.in_down(x).numpy()
    np.testing.assert_allclose(y.mean(axis=(0, 1, 2)), 0, atol=1e-4)
    np.testing.assert_allclose(y.std(axis=(0, 1, 2)), 1, atol=1e-3)


def test_train_initialises_from_one_batch_of_the_data(straight):
    assert len(straight["inits"]) == 1
    assert straight["inits"][0]["batch"] == 32 and straight["inits"][0]["layers"] > 0


# --- the loop: loss, checkpoints, logs -------------------------------------------------------------

def test_training_lowers_the_loss(straight, digits):
    initial = straight["inits"][0]["bits_per_dim"]
    trained = T.evaluate_bits_per_dim(ckpt.load_model(straight["dir"], ema=False), digits)
    averaged = T.evaluate_bits_per_dim(straight["result"]["model"], digits)
    assert math.isfinite(initial) and initial > 3.5
    assert trained < initial - 0.6, (initial, trained)
    assert averaged < initial - 0.4, (initial, averaged)
    rows = read_log(straight["dir"])
    assert float(rows[-1]["bits_per_dim"]) < float(rows[0]["bits_per_dim"]) - 0.3


def test_checkpoints_every_n_steps_and_at_the_end(straight):
    assert straight["saved"] == [15, 30, 40]
    assert straight["result"]["step"] == STEPS
    arrays = checkpoint_arrays(straight["dir"])
    assert int(arrays["step"]) == STEPS
    assert int(unpack(arrays, "optimizer")[0]) == STEPS  # Adam's iteration count
    saved = ckpt.read_config(straight["dir"])
    assert saved["model"]["filters"] == 8 and saved["training"]["checkpoint_every"] == EVERY
    assert not list(Path(straight["dir"]).glob(".*tmp*"))  # no temporary files left behind


def test_log_csv_rows(straight):
    rows = read_log(straight["dir"])
    assert [int(r["step"]) for r in rows] == list(range(5, STEPS + 1, 5))
    assert set(rows[0]) == set(T.LOG_FIELDS)
    for row in rows:
        step = int(row["step"])
        assert math.isfinite(float(row["bits_per_dim"])) and float(row["bits_per_dim"]) > 0
        assert float(row["learning_rate"]) == pytest.approx(LR * DECAY**step, rel=1e-4)
        assert float(row["images_per_second"]) > 0
        assert row["val_bits_per_dim"] == ""
    assert float(rows[-1]["elapsed_seconds"]) >= float(rows[0]["elapsed_seconds"])


def test_tensorboard_events(straight):
    files = list((Path(straight["dir"]) / "tensorboard").glob("events.out.tfevents.*"))
    assert files
    steps = {}
    for path in files:
        for event in tf.compat.v1.train.summary_iterator(str(path)):
            for value in event.summary.value:
                steps.setdefault(value.tag, set()).add(event.step)
    assert {"bits_per_dim", "learning_rate", "images_per_second", "samples"} <= set(steps)
    assert steps["bits_per_dim"] == set(range(5, STEPS + 1, 5))
    assert steps["samples"] == {STEPS}  # drawn from the averaged weights at the end


def test_training_batches_chain_the_epochs_of_make_dataset(digits):
    from pixelcnn_lib.data import make_dataset, training_batches

    images = digits[:20]  # 5 batches of 4 per epoch
    epochs = [b.numpy() for e in range(3) for b in make_dataset(images, 4, flip=True, seed=2, epoch=e)]
    run = [b.numpy() for b in training_batches(images, 4, first_step=3, num_steps=9, flip=True, seed=2)]
    assert len(run) == 9
    for got, expected in zip(run, epochs[3:12]):  # a resumed run starts mid-epoch at exactly its batch
        np.testing.assert_array_equal(got, expected)
    assert not np.array_equal(epochs[0], epochs[5])  # each epoch has its own order


@pytest.mark.slow
def test_polyak_average_is_a_callback_for_any_fit(digits):
    """The averaging ``train`` uses works with a plain ``fit``: after each step the average moves towards the
    weights with the warmed-up decay, and ``swapped_in`` scores the averaged model."""
    keras.utils.set_random_seed(0)
    model = pl.build_model("pixelsnail", (8, 8, 1), **{k: v for k, v in MODEL.items()
                                                       if k not in ("model", "image_shape")})
    pl.data_dependent_init(model, digits[:32])
    model.compile(optimizer=keras.optimizers.Adam(3e-3))
    model.optimizer.build(model.trainable_variables)
    average = T.PolyakAverage(0.9).attach(model)
    start = average.values()
    model.fit(digits, batch_size=8, epochs=1, verbose=0, callbacks=[average])  # 8 steps: decays 0.1 .. 0.444
    raw = [v.numpy() for v in model.trainable_variables]
    averaged = average.values()
    assert max(np.abs(a - s).max() for a, s in zip(averaged, start)) > 1e-3  # it moved
    assert max(np.abs(a - r).max() for a, r in zip(averaged, raw)) > 1e-5  # but is not the last weights
    with average.swapped_in():
        swapped = T.evaluate_bits_per_dim(model, digits)
    assert [v.numpy() for v in model.trainable_variables][0].tolist() == raw[0].tolist()
    assert swapped != T.evaluate_bits_per_dim(model, digits)


# --- the NaN guard and resumption -----------------------------------------------------------------

def poison_loss_from(monkeypatch, bad_step):
    """From training step ``bad_step`` on, the loss that ``fit`` minimises (and so its gradient) is NaN."""
    counter = tf.Variable(0, dtype=tf.int64, trainable=False)
    cls = pl.MODELS[MODEL["model"]]
    original = cls.compute_loss

    def patched(self, x=None, y=None, y_pred=None, sample_weight=None, training=True):
        loss = original(self, x=x, y=y, y_pred=y_pred, sample_weight=sample_weight, training=training)
        if not training:
            return loss
        counter.assign_add(1)
        return loss * tf.where(counter >= bad_step, float("nan"), 1.0)

    monkeypatch.setattr(cls, "compute_loss", patched)


@pytest.mark.slow
def test_nan_stops_the_run_and_its_last_checkpoint_resumes_to_the_same_run(tmp_path, digits, straight,
                                                                          monkeypatch, capsys):
    out = tmp_path / "run"
    poison_loss_from(monkeypatch, 36)  # step 35 is logged; the last checkpoint is step 30
    keras.utils.set_random_seed(7)  # as in the straight run
    with pytest.raises(T.TrainingDiverged) as info:
        T.train(MODEL, digits, out, config(), verbose=False)
    message = str(info.value)
    assert "nan" in message and "step 36" in message and "(step 30)" in message and str(out) in message
    monkeypatch.undo()
    assert int(checkpoint_arrays(out)["step"]) == 30
    kept = ckpt.load_model(out)
    assert kept.metadata["step"] == 30
    assert all(np.isfinite(w.numpy()).all() for w in kept.weights)
    assert math.isfinite(T.evaluate_bits_per_dim(kept, digits))
    assert [int(r["step"]) for r in read_log(out)][-1] == 35

    keras.utils.set_random_seed(12345)  # the resumed weights come from the checkpoint, not the seed
    capsys.readouterr()
    result = T.train(MODEL, digits, out, config(), resume=True, verbose=True)
    assert "resumed from step 30" in capsys.readouterr().out
    assert result["step"] == STEPS

    resumed, reference = checkpoint_arrays(out), checkpoint_arrays(straight["dir"])
    assert int(resumed["step"]) == STEPS
    assert resumed.keys() == reference.keys()
    for key in reference:  # same weights, EMA and Adam state as the run that never stopped
        np.testing.assert_allclose(resumed[key], reference[key], rtol=1e-5, atol=1e-7, err_msg=key)

    rows, straight_rows = read_log(out), read_log(straight["dir"])
    assert [int(r["step"]) for r in rows] == list(range(5, STEPS + 1, 5))  # step 35 not duplicated
    assert rows[-1]["learning_rate"] == straight_rows[-1]["learning_rate"]
    assert float(rows[-1]["bits_per_dim"]) == pytest.approx(float(straight_rows[-1]["bits_per_dim"]), rel=1e-4)


def test_resume_refuses_a_different_model(tmp_path, straight, digits):
    with pytest.raises(ValueError, match="does not match") as info:
        T.train(MODEL | {"filters": 16}, digits, straight["dir"], config(), resume=True, verbose=False)
    assert "filters: 8 in the checkpoint, 16 requested" in str(info.value)
    assert "depth" not in str(info.value)
    with pytest.raises(ValueError, match="variant"):
        T.train(MODEL | {"variant": "multihead"}, digits, straight["dir"], config(), resume=True, verbose=False)


def test_a_second_run_does_not_overwrite_a_checkpoint(straight, digits):
    path = Path(straight["dir"]) / ckpt.CHECKPOINT_FILE
    before = path.read_bytes()
    with pytest.raises(ValueError, match="already holds a checkpoint") as info:
        T.train(MODEL, digits, straight["dir"], config(), verbose=False)
    assert "resume" in str(info.value)
    assert path.read_bytes() == before


def test_bad_settings(tmp_path, digits):
    with pytest.raises(ValueError, match="exactly one of steps or epochs"):
        T.train(MODEL, digits, tmp_path / "a", config(steps=None), verbose=False)
    with pytest.raises(ValueError, match="larger than the data set"):
        T.train(MODEL, digits, tmp_path / "b", config(batch_size=128), verbose=False)
    with pytest.raises(ValueError, match="model expects"):
        T.train(MODEL | {"image_shape": [8, 8, 3]}, digits, tmp_path / "c", config(), verbose=False)
    assert T.TrainConfig(epochs=3, batch_size=8).total_steps(64) == 24


def test_non_finite_weights_are_never_written_as_a_checkpoint(tmp_path):
    # a step whose loss was finite can still produce NaN weights (a NaN or infinite gradient)
    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2)])
    optimizer = T.make_optimizer(config(), 10)
    optimizer.build(model.trainable_variables)
    ema = T.PolyakAverage(0.9).attach(model)
    callbacks._save(tmp_path, 3, model, optimizer, ema)
    path = tmp_path / ckpt.CHECKPOINT_FILE
    good = path.read_bytes()
    kernel = model.trainable_variables[0]
    finite = kernel.numpy()
    kernel.assign(np.full_like(finite, np.nan))
    with pytest.raises(T.TrainingDiverged, match=r"weights became NaN or infinite at step 6.*\(step 3\)"):
        callbacks._save(tmp_path, 6, model, optimizer, ema)
    kernel.assign(finite)
    ema.averages[1].assign(np.full(ema.averages[1].shape, np.inf, np.float32))
    with pytest.raises(T.TrainingDiverged, match="step 6"):
        callbacks._save(tmp_path, 6, model, optimizer, ema)
    assert path.read_bytes() == good
    assert int(checkpoint_arrays(tmp_path)["step"]) == 3


# --- tf.distribute ---------------------------------------------------------------------------------

@pytest.mark.slow  # a training run in a subprocess
def test_mirrored_strategy_on_two_logical_cpus(tmp_path):
    out = tmp_path / "mirrored"
    command = [sys.executable, "-m", "pixelcnn_lib", "train", "--model", "pixelsnail", "--data", "digits",
               "--image-size", "8", "--output", str(out), "--steps", "6", "--batch-size", "8",
               "--filters", "8", "--depth", "1", "--hparam", "resnets_per_block=1", "--hparam", "dropout=0",
               "--checkpoint-every", "3", "--log-every", "2", "--init-batch-size", "16",
               "--distribute", "mirrored", "--cpu-devices", "2"]
    proc = subprocess.run(command, cwd=REPO, capture_output=True, text=True, timeout=300,
                          env={**os.environ, "CUDA_VISIBLE_DEVICES": ""})
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "MirroredStrategy over 2 replicas" in proc.stdout
    assert "finished at step 6" in proc.stdout
    assert int(checkpoint_arrays(out)["step"]) == 6
    rows = read_log(out)
    assert [int(r["step"]) for r in rows] == [2, 4, 6]
    assert all(math.isfinite(float(r["bits_per_dim"])) and 0 < float(r["bits_per_dim"]) < 10 for r in rows)
    model = ckpt.load_model(out)
    assert math.isfinite(T.evaluate_bits_per_dim(model, load_source("digits", "test")[:16]))
    # two replicas with half a batch each take the steps one device takes: the same losses and weights
    single = tmp_path / "single"
    assert command[-4:] == ["--distribute", "mirrored", "--cpu-devices", "2"]
    one_device = command[:-4]
    one_device[one_device.index(str(out))] = str(single)
    proc = subprocess.run(one_device, cwd=REPO, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    np.testing.assert_allclose([float(r["bits_per_dim"]) for r in rows],
                               [float(r["bits_per_dim"]) for r in read_log(single)], rtol=1e-3)
    mirrored, alone = checkpoint_arrays(out), checkpoint_arrays(single)
    for key in (k for k in alone if k.startswith("model/")):
        np.testing.assert_allclose(mirrored[key], alone[key], rtol=1e-3, atol=1e-4, err_msg=key)


@pytest.mark.slow
def test_bfloat16_convolutions_train_like_float32(tmp_path, digits):
    runs = {}
    for precision in ("float32", "bfloat16"):
        T.train(MODEL, digits, tmp_path / precision, config(steps=20, conv_precision=precision), verbose=False)
        runs[precision] = [float(r["bits_per_dim"]) for r in read_log(tmp_path / precision)]
    assert runs["float32"] != runs["bfloat16"]  # the precision did change the arithmetic
    np.testing.assert_allclose(runs["bfloat16"], runs["float32"], rtol=0.02)
    assert runs["bfloat16"][-1] < runs["bfloat16"][0] - 0.3
    with pytest.raises(ValueError, match="conv_precision must be one of"):
        T.TrainConfig(steps=1, conv_precision="float16")


# --- what the loop measures and resumes ------------------------------------------------------------

def by_class(n_per_class, classes, shape=(8, 8, 1)):
    """uint8 images sorted by class, as an image folder is read; class k is the constant image k * 20."""
    images = np.concatenate([np.full((n_per_class, *shape), 20 * k, np.uint8) for k in range(classes)])
    return images, np.repeat(np.arange(classes), n_per_class)


def test_subsets_are_random_and_balanced_over_classes():
    from pixelcnn_lib.data import subset_indices

    images, labels = by_class(30, 4)
    picked = subset_indices(len(images), 20, labels, seed=0)
    assert len(set(picked)) == 20 and np.bincount(labels[picked]).tolist() == [5, 5, 5, 5]
    assert not np.array_equal(picked, subset_indices(len(images), 20, labels, seed=1))
    np.testing.assert_array_equal(picked, subset_indices(len(images), 20, labels, seed=0))
    plain = subset_indices(len(images), 20, seed=0)
    assert len(set(labels[plain])) > 1  # not the first 20 (one class)
    assert len(subset_indices(10, 50)) == 10
    uneven = subset_indices(13, 9, np.array([0] * 10 + [1] * 3), seed=0)
    assert np.bincount(np.array([0] * 10 + [1] * 3)[uneven]).tolist() == [6, 3]  # the small class runs out
    with pytest.raises(ValueError, match="labels must have shape"):
        subset_indices(10, 5, np.zeros(9))


@pytest.mark.slow
def test_init_batch_and_validation_are_drawn_from_every_class(tmp_path, monkeypatch):
    images, labels = by_class(16, 4)
    seen = {}
    original_init, original_eval = trainer.data_dependent_init, callbacks.evaluate_bits_per_dim

    def spy_init(model, batch, labels=None):
        seen["init"] = np.unique(batch[..., 0]).tolist()
        return original_init(model, batch, labels)

    def spy_eval(model, batch, *args, **kwargs):
        seen["val"] = np.unique(batch[..., 0]).tolist()
        return original_eval(model, batch, *args, **kwargs)

    monkeypatch.setattr(trainer, "data_dependent_init", spy_init)
    monkeypatch.setattr(callbacks, "evaluate_bits_per_dim", spy_eval)
    T.train(MODEL, images, tmp_path, config(steps=2, init_batch_size=16, val_size=8), val_images=images,
            val_labels=labels, verbose=False)
    assert len(seen["init"]) >= 3  # images[:16] would be one class
    assert seen["val"] == [0, 20, 40, 60]  # balanced: two of each class


@pytest.mark.slow
def test_validation_runs_on_its_own_schedule(tmp_path, digits):
    T.train(MODEL, digits, tmp_path, config(steps=9, log_every=4, val_every=3, val_size=16),
            val_images=digits[:32], verbose=False)
    rows = read_log(tmp_path)
    assert [int(r["step"]) for r in rows] == [3, 4, 6, 8, 9]
    validated = [int(r["step"]) for r in rows if r["val_bits_per_dim"] != ""]
    assert validated == [3, 6, 9]  # not only at multiples of both 3 and 4
    assert all(r["val_raw_bits_per_dim"] != "" for r in rows if r["val_bits_per_dim"] != "")


@pytest.mark.slow
def test_resume_is_exact_with_dropout(tmp_path, digits):
    model = MODEL | {"dropout": 0.5}
    keras.utils.set_random_seed(3)
    T.train(model, digits, tmp_path / "straight", config(steps=12, checkpoint_every=6), verbose=False)
    T.train(model, digits, tmp_path / "split", config(steps=6, checkpoint_every=6), verbose=False)
    keras.utils.set_random_seed(99)
    T.train(model, digits, tmp_path / "split", config(steps=12, checkpoint_every=6), resume=True, verbose=False)
    straight, split = checkpoint_arrays(tmp_path / "straight"), checkpoint_arrays(tmp_path / "split")
    assert any(k.startswith("rng/") for k in straight)  # the dropout masks' random state is saved
    for key in straight:
        np.testing.assert_allclose(split[key], straight[key], rtol=1e-5, atol=1e-7, err_msg=key)


@pytest.mark.slow
def test_averaged_weights_of_a_short_run_are_not_worse_than_the_raw_ones(tmp_path, digits):
    # with the warmed-up decay the average follows the weights within a few steps; with a constant
    # 0.999 it would still be 97% the untrained start after 30 steps
    T.train(MODEL, digits, tmp_path, config(steps=30, ema_decay=0.999, learning_rate=3e-3, lr_decay=1.0,
                                            val_size=64), val_images=digits, verbose=False)
    last = read_log(tmp_path)[-1]
    assert float(last["val_bits_per_dim"]) <= float(last["val_raw_bits_per_dim"]) + 0.05


def test_cosine_schedule_warms_up_and_ends_at_zero():
    cfg = T.TrainConfig(steps=100, learning_rate=2e-3, schedule="cosine", warmup_steps=10)
    lr = T.learning_rate_schedule(cfg, 100)
    values = [float(lr(s)) for s in (0, 5, 10, 55, 100)]
    np.testing.assert_allclose(values, [0.0, 1e-3, 2e-3, 1e-3, 0.0], atol=1e-9)
    with pytest.raises(ValueError, match="must be fewer than"):
        T.learning_rate_schedule(T.TrainConfig(steps=5, schedule="cosine", warmup_steps=5), 5)
    with pytest.raises(ValueError, match="schedule must be one of"):
        T.TrainConfig(steps=5, schedule="linear")
    with pytest.raises(ValueError, match="applies to schedule='cosine' only"):
        T.TrainConfig(steps=5, warmup_steps=3)


@pytest.mark.slow
def test_time_limit_stops_the_run_with_a_checkpoint(tmp_path, digits, capsys):
    result = T.train(MODEL, digits, tmp_path, config(steps=10_000, time_limit=1e-6, checkpoint_every=1000))
    assert result["step"] == 1
    assert int(checkpoint_arrays(tmp_path)["step"]) == 1
    assert "time limit" in capsys.readouterr().out
