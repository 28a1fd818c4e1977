"""Progress bars: on and off by argument and environment, per row, per batch and per step, same results."""

import numpy as np
import pytest

import pixelcnn_lib as pl
from pixelcnn_lib.progress import ENVIRONMENT_VARIABLE, progress_enabled
from pixelcnn_lib.training import TrainConfig, evaluate_bits_per_dim, train


@pytest.fixture
def small():
    return pl.build_model("pixelsnail", (4, 4, 1), filters=8, depth=1, resnets_per_block=1, num_mixtures=2,
                          dropout=0.0)


def test_the_argument_wins_then_the_environment_then_the_front_end(monkeypatch):
    monkeypatch.delenv(ENVIRONMENT_VARIABLE, raising=False)
    assert progress_enabled(True) and not progress_enabled(False)
    assert not progress_enabled(None)  # pytest captures stderr: no terminal, no kernel
    monkeypatch.setenv(ENVIRONMENT_VARIABLE, "1")
    assert progress_enabled(None) and not progress_enabled(False)
    monkeypatch.setenv(ENVIRONMENT_VARIABLE, "0")
    assert not progress_enabled(None) and progress_enabled(True)


def test_bad_settings_are_errors(monkeypatch):
    monkeypatch.setenv(ENVIRONMENT_VARIABLE, "yes")
    with pytest.raises(ValueError, match="PIXELCNN_PROGRESS must be 0 or 1"):
        progress_enabled(None)
    with pytest.raises(TypeError, match="True, False or None"):
        progress_enabled("on")


@pytest.mark.slow
@pytest.mark.parametrize("method", ["naive", "cached"])
def test_sampling_shows_one_step_per_row_and_draws_the_same(small, method, capsys):
    quiet = pl.sample(small, 2, seed=3, method=method, progress=False)
    assert capsys.readouterr().err == ""
    shown = pl.sample(small, 2, seed=3, method=method, progress=True)
    err = capsys.readouterr().err
    assert "sampling" in err and "4/4" in err and "row" in err
    assert (quiet == shown).all()


def test_completion_shows_rows(small, capsys):
    images = np.zeros((1, 4, 4, 1), np.uint8)
    known = np.zeros((1, 4, 4), bool)
    pl.complete(small, images, known, method="cached", progress=True)
    assert "4/4" in capsys.readouterr().err


def test_evaluation_shows_batches_and_the_running_figure(small, capsys):
    images = np.random.default_rng(0).integers(0, 256, (10, 4, 4, 1), dtype=np.uint8)
    quiet = evaluate_bits_per_dim(small, images, batch_size=4, progress=False)
    shown = evaluate_bits_per_dim(small, images, batch_size=4, progress=True)
    err = capsys.readouterr().err
    assert "evaluating" in err and "3/3" in err and f"bits/dim={shown:.4f}" in err
    assert quiet == shown


@pytest.mark.slow
def test_training_shows_steps_with_bits_per_dim_and_keeps_its_lines_in_a_log(tmp_path, capsys):
    images = np.random.default_rng(0).integers(0, 256, (16, 4, 4, 1), dtype=np.uint8)
    config = TrainConfig(steps=6, batch_size=4, log_every=3, checkpoint_every=6)
    model_config = {"model": "pixelsnail", "image_shape": [4, 4, 1], "filters": 8, "depth": 1,
                    "resnets_per_block": 1, "num_mixtures": 2, "dropout": 0.0}
    train(model_config, images, tmp_path / "on", config, progress=True)
    out = capsys.readouterr()
    assert "training" in out.err and "6/6" in out.err and "bits/dim=" in out.err
    assert "step 3/6" in out.out and "step 6/6" in out.out  # no terminal: the lines stay
    train(model_config, images, tmp_path / "off", config, progress=False)
    out = capsys.readouterr()
    assert out.err == "" and "step 6/6" in out.out


def test_a_finished_bar_stays_in_a_terminal_and_leaves_a_notebook(monkeypatch):
    from pixelcnn_lib import progress

    monkeypatch.setattr(progress, "in_notebook", lambda: False)
    with progress.progress_bar(3, "work", "step", progress=True) as bar:
        assert bar.leave is True
    monkeypatch.setattr(progress, "in_notebook", lambda: True)
    with progress.progress_bar(3, "work", "step", progress=True) as bar:
        assert bar.leave is False  # the notebook widget closes, and no saved output keeps it
