"""The command line end to end on a tiny generated image folder.

A real ``python -m pixelcnn_lib train`` process is killed with SIGKILL and
resumed; the other commands run ``cli.main`` in this process, which saves
TensorFlow's start-up time per command.
"""

import io
import json
import os
import re
import signal
import subprocess
import sys
import time
from contextlib import redirect_stdout
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

import pixelcnn_lib as pl
from pixelcnn_lib import checkpoints as ckpt
from pixelcnn_lib import cli
from pixelcnn_lib.data import load_source
from pixelcnn_lib.training import evaluate_bits_per_dim

REPO = Path(__file__).resolve().parents[1]


def tiny(filters=8):
    return ["--model", "pixelsnail", "--image-size", "8", "--batch-size", "8", "--filters", str(filters),
            "--depth", "1", "--hparam", "resnets_per_block=1", "--hparam", "dropout=0", "--init-batch-size", "16"]


TINY = tiny()


def main(capsys, *args):
    """cli.main in this process: (exit status, stdout, stderr). A SystemExit message counts as stderr."""
    capsys.readouterr()
    try:
        status = cli.main([str(a) for a in args])
        message = ""
    except SystemExit as exit_:
        status, message = (1, str(exit_.code)) if isinstance(exit_.code, str) else (exit_.code, "")
    out, err = capsys.readouterr()
    return status, out, err + message


def step_of(directory):
    with np.load(Path(directory) / ckpt.CHECKPOINT_FILE) as arrays:
        return int(arrays["step"])


def logged_steps(directory):
    lines = (Path(directory) / "log.csv").read_text().splitlines()[1:]
    return [int(line.split(",")[0]) for line in lines]


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    """26 smooth random-colour 8x8 images (24 PNG, 2 JPEG) in two class folders."""
    root = tmp_path_factory.mktemp("images")
    rng = np.random.default_rng(0)
    ramp = np.linspace(0, 1, 8)
    for k in range(26):
        start, end = rng.integers(0, 256, 3), rng.integers(0, 256, 3)
        image = start + (end - start) * ramp[:, None, None] * ramp[None, :, None]
        image = np.clip(image + rng.normal(0, 8, image.shape), 0, 255).astype(np.uint8)
        target = root / ("cats" if k % 2 else "dogs") / (f"{k:02d}.png" if k < 24 else f"{k:02d}.jpg")
        target.parent.mkdir(exist_ok=True)
        Image.fromarray(image).save(target)
    return root


@pytest.fixture(scope="module")
def trained(folder, tmp_path_factory):
    """``train`` killed with SIGKILL after its first checkpoint, then ``train --resume`` to the end.

    The killed run is a real ``python -m pixelcnn_lib`` process; the resumed
    one runs ``cli.main`` here. The other tests use the resulting directory.
    """
    out = tmp_path_factory.mktemp("cli") / "run"
    settings = ["--data", str(folder), "--output", str(out), "--checkpoint-every", "5", "--log-every", "5",
                "--learning-rate", "0.01", "--ema-decay", "0.9", *TINY]
    command = [sys.executable, "-m", "pixelcnn_lib", "train", "--steps", "400", *settings]
    proc = subprocess.Popen(command, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env={**os.environ, "CUDA_VISIBLE_DEVICES": ""})
    try:
        deadline = time.time() + 300
        while time.time() < deadline and proc.poll() is None:
            if (out / ckpt.CHECKPOINT_FILE).exists() and step_of(out) >= 5:
                break
            time.sleep(0.1)
        assert proc.poll() is None, "training ended before it could be killed: " + proc.communicate()[1][-3000:]
        os.kill(proc.pid, signal.SIGKILL)
    finally:
        if proc.poll() is None:
            proc.kill()
        killed_stdout, _ = proc.communicate(timeout=60)
    saved = step_of(out)  # the checkpoint survived the kill and is readable
    final = saved + 5
    buffer = io.StringIO()
    with redirect_stdout(buffer):
        status = cli.main(["train", "--steps", str(final), "--resume", *settings])
    return {"dir": out, "killed_status": proc.returncode, "killed_stdout": killed_stdout, "saved": saved,
            "final": final, "status": status, "stdout": buffer.getvalue()}


@pytest.fixture(scope="module")
def model(trained):
    return ckpt.load_model(trained["dir"])


@pytest.fixture(scope="module")
def originals(folder):
    return load_source(str(folder), "test", 8, 3)


@pytest.mark.slow  # a subprocess training run (the `trained` fixture) or a training of its own
def test_train_resumes_after_kill_9(trained):
    assert trained["killed_status"] == -signal.SIGKILL
    assert "training pixelsnail on 26 images of 8x8x3" in trained["killed_stdout"]
    saved = trained["saved"]
    assert saved >= 5 and saved % 5 == 0 and saved < 400
    assert trained["status"] == 0, trained["stdout"]
    assert f"resumed from step {saved}\n" in trained["stdout"]
    assert f"finished at step {trained['final']}" in trained["stdout"]
    assert step_of(trained["dir"]) == trained["final"]
    assert logged_steps(trained["dir"]) == list(range(5, trained["final"] + 1, 5))  # none lost, none twice
    config = ckpt.read_config(trained["dir"])
    assert config["model"]["filters"] == 8 and config["model"]["resnets_per_block"] == 1
    assert config["model"]["dropout"] == 0 and config["image_shape"] == [8, 8, 3]


@pytest.mark.slow  # a subprocess training run (the `trained` fixture) or a training of its own
def test_evaluate_prints_bits_per_dim_of_the_ema_weights(capsys, trained, folder, originals):
    status, out, err = main(capsys, "evaluate", trained["dir"], "--data", folder)
    assert status == 0, err
    last = out.strip().splitlines()[-1]
    match = re.fullmatch(r"bits/dim: (\d+\.\d{4})", last)
    assert match, last
    assert "images: 26" in out
    reported = float(match.group(1))
    ema = evaluate_bits_per_dim(ckpt.load_model(trained["dir"], ema=True), originals)
    raw = evaluate_bits_per_dim(ckpt.load_model(trained["dir"], ema=False), originals)
    assert abs(ema - raw) > 1e-3  # so the check below can tell them apart
    assert abs(reported - ema) <= 6e-5

    status, out, err = main(capsys, "evaluate", trained["dir"], "--data", folder, "--limit", 5)
    assert status == 0, err
    assert "images: 5" in out and re.fullmatch(r"bits/dim: \d+\.\d{4}", out.strip().splitlines()[-1])


@pytest.mark.slow  # a subprocess training run (the `trained` fixture) or a training of its own
def test_sample_npy_is_reproducible_and_seeds_differ(capsys, tmp_path, trained, model):
    first = tmp_path / "first.npy"
    status, out, err = main(capsys, "sample", trained["dir"], "--num", 3, "--seed", 3, "--output", first)
    assert status == 0, err
    assert f"wrote {first}" in out
    images = np.load(first)
    assert images.dtype == np.uint8 and images.shape == (3, 8, 8, 3)
    second = tmp_path / "second.npy"
    status, _, err = main(capsys, "sample", trained["dir"], "--num", 3, "--seed", 3, "--output", second)
    assert status == 0, err
    np.testing.assert_array_equal(np.load(second), images)
    np.testing.assert_array_equal(pl.sample(model, 3, seed=3), images)  # the library gives the same
    assert not np.array_equal(pl.sample(model, 3, seed=4), images)


@pytest.mark.slow  # a subprocess training run (the `trained` fixture) or a training of its own
def test_sample_png_grid(capsys, tmp_path, trained):
    path = tmp_path / "grid.png"
    status, _, err = main(capsys, "sample", trained["dir"], "--num", 4, "--seed", 0, "--output", path)
    assert status == 0, err
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    with Image.open(path) as image:
        image.verify()
    with Image.open(path) as image:
        assert image.format == "PNG" and image.width > 8 and image.height > 8


@pytest.mark.slow  # a subprocess training run (the `trained` fixture) or a training of its own
def test_complete_keeps_the_known_half_exactly(capsys, tmp_path, trained, folder, originals, model):
    path = tmp_path / "completed.npy"
    status, out, err = main(capsys, "complete", trained["dir"], "--data", folder, "--num", 4,
                            "--hide", "bottom-half", "--seed", 1, "--output", path)
    assert status == 0, err
    completed = np.load(path)
    assert completed.dtype == np.uint8 and completed.shape == (4, 8, 8, 3)
    np.testing.assert_array_equal(completed[:, :4], originals[:4, :4])  # every known pixel kept
    assert not np.array_equal(completed[:, 4:], originals[:4, 4:])  # the hidden half was sampled
    known = cli.hide_mask((4, 8, 8), "bottom-half")
    np.testing.assert_array_equal(pl.complete(model, originals[:4], known, seed=1), completed)  # reproducible
    assert not np.array_equal(pl.complete(model, originals[:4], known, seed=2), completed)

    grid = tmp_path / "completed.png"
    status, _, err = main(capsys, "complete", trained["dir"], "--data", folder, "--num", 3,
                          "--hide", "right-half", "--seed", 1, "--output", grid)
    assert status == 0, err
    with Image.open(grid) as image:
        image.verify()


@pytest.mark.slow  # uses the model of the `trained` fixture
def test_complete_keeps_every_known_pixel_of_any_mask(model, originals):
    rng = np.random.default_rng(5)
    known = rng.random((4, 8, 8)) < 0.5
    completed = pl.complete(model, originals[:4], known, seed=0)
    np.testing.assert_array_equal(completed[known], originals[:4][known])
    assert not np.array_equal(completed[~known], originals[:4][~known])
    right = cli.hide_mask((2, 8, 8), "right-half")
    assert right[:, :, :4].all() and not right[:, :, 4:].any()


@pytest.mark.slow  # a subprocess training run (the `trained` fixture) or a training of its own
def test_bad_inputs_fail_with_a_clear_message(capsys, tmp_path, trained, folder):
    def fails(*args, expect):
        status, _, err = main(capsys, *args)
        assert status != 0, args
        for part in [expect] if isinstance(expect, str) else expect:
            assert part in err, err

    train = ["train", "--output", tmp_path / "new", "--steps", 2]
    fails(*train, "--model", "resnet", "--data", "digits", "--image-size", 8, expect="unknown model 'resnet'")
    fails(*train, "--model", "pixelsnail", "--data", "digits", expect="--image-size is required")
    missing = tmp_path / "no-such-folder"
    fails(*train, "--model", "pixelsnail", "--data", missing, "--image-size", 8,
          expect=(str(missing), "no folder of that name exists"))
    fails(*train, "--model", "pixelsnail", "--data", "digits", "--image-size", 8, "--hparam", "nope",
          expect="KEY=VALUE")
    fails("train", "--model", "pixelsnail", "--data", "digits", "--image-size", 8, "--output", tmp_path / "x",
          expect="give --steps or --epochs")
    fails("sample", trained["dir"], "--output", tmp_path / "samples.txt", expect="must end in .png or .npy")
    fails("complete", trained["dir"], "--data", folder, "--output", tmp_path / "c.txt",
          expect="must end in .png or .npy")
    fails("sample", missing, "--output", tmp_path / "s.npy", expect="does not exist")
    fails("evaluate", tmp_path, "--data", folder, expect="not a training directory")
    # the trained directory: a different model is refused, and nothing overwrites its checkpoint
    same = ["train", "--data", folder, "--output", trained["dir"], "--steps", 50]
    fails(*same, *tiny(filters=16), "--resume", expect="filters: 8 in the checkpoint, 16 requested")
    fails(*same, *TINY, expect="already holds a checkpoint")
    assert step_of(trained["dir"]) == trained["final"]


@pytest.mark.slow  # a subprocess training run (the `trained` fixture) or a training of its own
def test_train_with_bfloat16_convolutions(capsys, tmp_path, folder):
    out = tmp_path / "mixed"
    status, _, err = main(capsys, "train", "--data", folder, "--output", out, "--steps", 3, *TINY,
                          "--conv-precision", "bfloat16")
    assert status == 0, err
    assert json.loads((out / ckpt.CONFIG_FILE).read_text())["training"]["conv_precision"] == "bfloat16"
    assert step_of(out) == 3
    status, _, err = main(capsys, "train", "--data", folder, "--output", tmp_path / "bad", "--steps", 3, *TINY,
                          "--conv-precision", "float64")
    assert status != 0 and "invalid choice: 'float64'" in err


def test_config_files_hold_only_known_keys(tmp_path):
    from pixelcnn_lib.cli import TRAIN_KEYS, read_train_config
    from pixelcnn_lib.training import TrainConfig

    for path in sorted((REPO / "configs").glob("*.json")):
        options = read_train_config(path)
        TrainConfig(**{k: options[k] for k in TRAIN_KEYS if k in options})  # valid settings
    bad = tmp_path / "bad.json"
    bad.write_text('{"model": "pixelsnail", "learning_rat": 0.1}')
    with pytest.raises(SystemExit, match=r"unknown key\(s\) \['learning_rat'\]"):
        read_train_config(bad)


def test_every_training_setting_is_an_option_of_train():
    """The training options are TrainConfig's fields (declared once): each is parsed into the config it names."""
    import dataclasses

    from pixelcnn_lib.training import TrainConfig

    parser = cli.build_parser()
    train = next(a for a in parser._actions if a.dest == "command").choices["train"]
    flags = {action.dest: action for action in train._actions}
    for field in dataclasses.fields(TrainConfig):
        assert field.name in flags, f"TrainConfig.{field.name} has no option"
        assert flags[field.name].help.startswith(field.metadata["help"])
    args = parser.parse_args(["train", "--output", "x", "--beta-1", "0.9", "--rotate", "--schedule", "cosine",
                              "--warmup-steps", "7", "--steps", "3"])
    config = TrainConfig(**{k: v for k, v in vars(args).items() if k in cli.TRAIN_KEYS and v is not None})
    assert (config.beta_1, config.rotate, config.schedule, config.warmup_steps, config.steps) == (0.9, True,
                                                                                                  "cosine", 7, 3)
    with pytest.raises(SystemExit):
        parser.parse_args(["train", "--output", "x", "--schedule", "linear"])


def test_help_lists_every_option_with_its_default(capsys):
    parser = cli.build_parser()
    commands = next(a for a in parser._actions if a.dest == "command").choices
    for name, sub in [("", parser), *commands.items()]:
        for action in sub._actions:
            if action.option_strings and action.dest not in ("help", "version") and not action.required:
                assert "(default" in action.help, f"{name} {action.option_strings[0]} shows no default"
    status, out, _ = main(capsys, "train", "--help")
    assert status == 0
    assert re.search(r"--batch-size BATCH_SIZE\s+global batch, split across replicas \(default: 16\)", out)
    assert "(default: 0.9995)" in out and "(default: the model's published value)" in out


def test_version_and_exit_statuses(capsys, tmp_path):
    status, out, _ = main(capsys, "--version")
    assert (status, out.strip()) == (0, f"pixelcnn_lib {pl.__version__}")
    # usage errors: 2, from argparse and from the checks of the options alike, the message on stderr
    status, out, err = main(capsys, "sample")
    assert status == 2 and "the following arguments are required" in err and not out
    status, out, err = main(capsys, "train", "--model", "resnet", "--data", "digits", "--image-size", 8,
                            "--output", tmp_path / "run", "--steps", 1)
    assert status == 2 and "error: unknown model 'resnet'" in err and not out
    bad = tmp_path / "bad.json"
    bad.write_text('{"learning_rat": 0.1}')
    status, _, err = main(capsys, "train", "--config", bad, "--output", tmp_path / "run")
    assert status == 2 and "unknown key(s) ['learning_rat']" in err
    # a command that fails at its work: 1
    status, out, err = main(capsys, "evaluate", tmp_path, "--data", "digits")
    assert status == 1 and "not a training directory" in err and not out


@pytest.mark.slow
def test_the_console_script_is_the_same_program():
    script = Path(sys.executable).with_name("pixelcnn")
    assert script.exists(), f"the console script is not installed next to {sys.executable}"
    env = {**os.environ, "CUDA_VISIBLE_DEVICES": ""}
    by_script = subprocess.run([str(script), "--version"], capture_output=True, text=True, env=env, timeout=120)
    by_module = subprocess.run([sys.executable, "-m", "pixelcnn_lib", "--version"], capture_output=True, text=True,
                               env=env, timeout=120)
    assert by_script.returncode == by_module.returncode == 0
    assert by_script.stdout == by_module.stdout == f"pixelcnn_lib {pl.__version__}\n"
    usage = subprocess.run([str(script), "sample"], capture_output=True, text=True, env=env, timeout=120)
    assert usage.returncode == 2 and "usage: pixelcnn sample" in usage.stderr  # after TensorFlow's start-up lines


def test_distribute_tpu_without_a_tpu_fails_at_the_resolver_with_a_clear_message(capsys, tmp_path, monkeypatch):
    monkeypatch.delenv("TPU_NAME", raising=False)
    status, out, err = main(capsys, "train", "--model", "pixelsnail", "--data", "digits", "--image-size", 8,
                            "--output", tmp_path / "run", "--steps", 1, "--distribute", "tpu")
    assert status == 1
    assert "--distribute tpu found no TPU (Please provide a TPU Name to connect to.)" in err
    assert not (tmp_path / "run").exists()  # nothing was started


# --- class-conditional models --------------------------------------------------------------------

CLASSES = ("amber", "jade", "ruby")
HUES = {"amber": (230, 160, 20), "jade": (20, 150, 90), "ruby": (200, 20, 40)}


def write_class_folder(root, counts, seed=0):
    """``root/<class>/NN.png``: smooth 8x8 images around each class's colour; counts: {class: images}."""
    rng = np.random.default_rng(seed)
    ramp = np.linspace(0.6, 1.2, 8)
    for name, count in counts.items():
        (root / name).mkdir(parents=True, exist_ok=True)
        for k in range(count):
            base = np.asarray(HUES.get(name, (128, 128, 128)), float) * rng.uniform(0.7, 1.1)
            image = base * ramp[:, None, None] * ramp[None, ::-1, None] + rng.normal(0, 10, (8, 8, 3))
            Image.fromarray(np.clip(image, 0, 255).astype(np.uint8)).save(root / name / f"{k:02d}.png")
    return root


def copy_classes(source, target, names):
    """``target/<name>/`` holding the images of ``source/<name>/`` (another folder with a subset of the classes)."""
    for name in names:
        (target / name).mkdir(parents=True)
        for path in sorted((source / name).glob("*.png")):
            (target / name / path.name).write_bytes(path.read_bytes())
    return target


@pytest.fixture(scope="module")
def class_folder(tmp_path_factory):
    """Five images of each of three classes."""
    return write_class_folder(tmp_path_factory.mktemp("classes"), dict.fromkeys(CLASSES, 5))


@pytest.fixture(scope="module")
def conditional(class_folder, tmp_path_factory):
    """``train --conditional --holdout-per-class 1 --export`` for a few steps, in this process."""
    base = tmp_path_factory.mktemp("conditional")
    out, export = base / "run", base / "released.keras"
    buffer = io.StringIO()
    with redirect_stdout(buffer):
        status = cli.main(["train", "--data", str(class_folder), "--output", str(out), "--steps", "4",
                           "--conditional", "--holdout-per-class", "1", "--flip", "--rotate", "--export", str(export),
                           "--learning-rate", "0.01", "--log-every", "2", *TINY, "--batch-size", "4",
                           "--init-batch-size", "12"])
    return {"dir": out, "export": export, "status": status, "stdout": buffer.getvalue()}


@pytest.fixture(scope="module")
def conditional_model(conditional):
    return ckpt.load_model(conditional["dir"])


def bits_of(out):
    """The bits/dim on the last line of ``evaluate``'s output."""
    match = re.fullmatch(r"bits/dim: (\d+\.\d{4})", out.strip().splitlines()[-1])
    assert match, out
    return float(match.group(1))


@pytest.mark.slow  # trains (the `conditional` fixture)
def test_a_resumed_run_keeps_its_held_out_split(conditional, class_folder, capsys, tmp_path):
    import shutil

    run = tmp_path / "run"
    shutil.copytree(conditional["dir"], run)
    before = (run / "checkpoint.npz").read_bytes()
    same = ["train", "--data", class_folder, "--output", run, "--steps", 6, "--resume", "--conditional",
            *TINY, "--batch-size", 4]
    status, _, err = main(capsys, *same, "--holdout-per-class", 1, "--seed", 1)  # another draw of the split
    assert status == 1 and "was started with another 'holdout'" in err, err
    status, _, err = main(capsys, *same)  # no split: it would train on the held-out images
    assert status == 1 and "'holdout' recorded in its config.json" in err and "--holdout-per-class" in err, err
    assert (run / "checkpoint.npz").read_bytes() == before  # nothing was trained
    status, out, err = main(capsys, *same, "--holdout-per-class", 1)  # the same split goes on
    assert status == 0 and "resumed from step 4" in out, err


@pytest.mark.slow  # trains (the `conditional` fixture)
def test_conditional_train_holds_out_one_image_of_every_class_and_records_the_split(conditional, class_folder):
    from pixelcnn_lib.data import holdout_indices, load_labelled

    assert conditional["status"] == 0, conditional["stdout"]
    out = conditional["stdout"]
    assert "training pixelsnail on 12 images of 8x8x3" in out and "class-conditional: 3 classes" in out
    assert "held out 3 images (1 of every class) for validation" in out
    _, labels, names, files = load_labelled(str(class_folder), "train", 8)
    expected = [files[k] for k in holdout_indices(labels, 1, seed=0)]  # --seed's default
    assert sorted(name.split("/")[0] for name in expected) == list(CLASSES)
    split = {"per_class": 1, "seed": 0, "held_out": 3, "trained_on": 12, "held_out_files": expected}
    config = ckpt.read_config(conditional["dir"])
    assert config["holdout"] == split
    assert config["num_train_images"] == 12 and config["training"]["rotate"] and config["training"]["flip"]
    assert config["model"]["num_classes"] == 3 and config["model"]["class_names"] == list(CLASSES)
    metadata = json.loads(ckpt.metadata_path(conditional["export"]).read_text())
    assert metadata["holdout"] == split and metadata["step"] == 4
    released = ckpt.load_model(conditional["export"])
    assert released.class_names == list(CLASSES) and released.metadata["holdout"] == split
    assert ckpt.load_model(conditional["dir"]).metadata["holdout"] == split
    for name in expected:
        assert (class_folder / name).is_file()


@pytest.mark.slow  # trains (the `conditional` fixture)
def test_evaluate_matches_a_folders_classes_to_the_models_by_name(capsys, tmp_path, conditional, class_folder,
                                                                   conditional_model):
    from pixelcnn_lib.data import load_labelled

    # two of the model's three classes: in this folder jade is class 0 and ruby class 1, in the model 1 and 2
    subset = copy_classes(class_folder, tmp_path / "subset", ["ruby", "jade"])
    status, out, err = main(capsys, "evaluate", conditional["dir"], "--data", subset)
    assert status == 0, err
    assert "images: 10" in out
    images, labels, names, _ = load_labelled(str(subset), "test", 8)
    assert names == ["jade", "ruby"]
    right = pl.bits_per_dim(-pl.log_prob(conditional_model, images, labels=[names[k] for k in labels]), (8, 8, 3))
    by_index = pl.bits_per_dim(-pl.log_prob(conditional_model, images, labels=labels), (8, 8, 3))
    assert abs(right - by_index) > 1e-3  # the model tells the classes apart, so the check below means something
    assert abs(bits_of(out) - right) <= 6e-5
    # the released file is the same model, and the same classes
    status, out, err = main(capsys, "evaluate", conditional["export"], "--data", subset)
    assert status == 0, err
    assert abs(bits_of(out) - right) <= 6e-5

    strange = copy_classes(class_folder, tmp_path / "strange", ["ruby"])
    write_class_folder(strange, {"topaz": 2})
    status, out, err = main(capsys, "evaluate", conditional["dir"], "--data", strange)
    assert status == 1 and "Traceback" not in err
    assert "classes the model does not know: ['topaz']" in err and "amber" in err  # names the model's too
    status, _, err = main(capsys, "evaluate", conditional["dir"], "--data", "digits")
    assert status == 1 and "'digits' has no classes" in err


@pytest.mark.slow  # trains (the `conditional` fixture)
def test_evaluate_without_class_sums_the_class_out(capsys, conditional, class_folder, conditional_model):
    from pixelcnn_lib.data import load_labelled
    from pixelcnn_lib.sampling import class_log_probs

    status, out, err = main(capsys, "evaluate", conditional["dir"], "--data", class_folder, "--without-class")
    assert status == 0, err
    lines = out.strip().splitlines()
    assert lines[-4] == "images: 15"
    summed = re.fullmatch(r"bits/dim with the class summed out \(uniform prior\): (\d+\.\d{4})", lines[-3])
    accuracy = re.fullmatch(r"classification by argmax_class p\(x \| class\): (\d+\.\d)% \(chance 33\.3%\)",
                            lines[-2])
    assert summed and accuracy, out
    images, labels, _, _ = load_labelled(str(class_folder), "test", 8)
    table = class_log_probs(conditional_model, images)
    marginal = np.logaddexp.reduce(table, axis=1) - np.log(3)
    assert abs(float(summed.group(1)) - pl.bits_per_dim(-marginal, (8, 8, 3))) <= 6e-5
    assert float(accuracy.group(1)) == pytest.approx(100 * np.mean(table.argmax(1) == labels), abs=0.05)
    plain = main(capsys, "evaluate", conditional["dir"], "--data", class_folder)[1]
    assert bits_of(out) == bits_of(plain) and "summed out" not in plain


@pytest.mark.slow  # trains (the `conditional` fixture)
def test_sample_draws_the_named_classes(capsys, tmp_path, conditional, conditional_model):
    grid = tmp_path / "classes.png"
    status, out, err = main(capsys, "sample", conditional["dir"], "--class", "ruby", "--class", "amber", "--num", 2,
                            "--output", grid)
    assert status == 0, err
    assert "sampled 4 images" in out and f"wrote {grid}" in out
    with Image.open(grid) as image:
        image.verify()
    path = tmp_path / "classes.npy"
    status, _, err = main(capsys, "sample", conditional["dir"], "--class", "ruby", "--class", "amber", "--num", 2,
                          "--seed", 3, "--output", path)
    assert status == 0, err
    images = np.load(path)
    assert images.shape == (4, 8, 8, 3) and images.dtype == np.uint8
    method = cli._method(conditional_model, "auto")
    expected = pl.sample(conditional_model, 4, seed=3, method=method, labels=["ruby", "ruby", "amber", "amber"])
    np.testing.assert_array_equal(images, expected)  # --num of every class, in the order given

    every = tmp_path / "all.npy"
    status, out, err = main(capsys, "sample", conditional["dir"], "--class", "all", "--num", 1, "--output", every)
    assert status == 0, err
    np.testing.assert_array_equal(np.load(every), pl.sample(conditional_model, 3, method=method, labels=[0, 1, 2]))
    status, out, err = main(capsys, "sample", conditional["export"], "--class", "all", "--num", 1,
                            "--output", tmp_path / "released.npy")
    assert status == 0, err
    np.testing.assert_array_equal(np.load(tmp_path / "released.npy"), np.load(every))


@pytest.mark.slow  # trains (the `conditional` fixture)
def test_sample_temperature(capsys, tmp_path, conditional):
    def drawn(*options):
        path = tmp_path / f"t{len(list(tmp_path.iterdir()))}.npy"
        status, _, err = main(capsys, "sample", conditional["dir"], "--class", "jade", "--num", 3, "--seed", 1,
                              "--output", path, *options)
        assert status == 0, err
        return np.load(path)

    default = drawn()
    np.testing.assert_array_equal(drawn("--temperature", 1), default)
    assert not np.array_equal(drawn("--temperature", 0.5), default)
    for bad in ("0", "-1", "nan", "inf"):
        status, out, err = main(capsys, "sample", conditional["dir"], "--class", "jade", "--temperature", bad,
                                "--output", tmp_path / "bad.npy")
        assert status == 2 and "--temperature must be a finite number > 0" in err and "Traceback" not in err
        assert not (tmp_path / "bad.npy").exists()


@pytest.mark.slow  # trains (the `conditional` fixture)
def test_sample_class_errors(capsys, tmp_path, conditional):
    output = tmp_path / "s.npy"
    status, _, err = main(capsys, "sample", conditional["dir"], "--class", "topaz", "--output", output)
    assert status == 2 and "no class 'topaz'" in err and "['amber', 'jade', 'ruby']" in err
    status, _, err = main(capsys, "sample", conditional["dir"], "--output", output)
    assert status == 2 and "class-conditional: give --class NAME" in err and "['amber', 'jade', 'ruby']" in err
    assert not output.exists()


@pytest.mark.slow  # trains (the `conditional` fixture)
def test_complete_hides_the_centre_of_each_class(capsys, tmp_path, conditional, class_folder, conditional_model):
    from pixelcnn_lib.data import load_labelled, subset_indices

    known = cli.hide_mask((3, 8, 8), "centre")
    assert not known[:, 2:6, 2:6].any() and known.sum() == 3 * (64 - 16)
    path = tmp_path / "centre.npy"
    status, _, err = main(capsys, "complete", conditional["dir"], "--data", class_folder, "--num", 3,
                          "--hide", "centre", "--seed", 2, "--output", path)
    assert status == 0, err
    completed = np.load(path)
    images, labels, names, _ = load_labelled(str(class_folder), "test", 8)
    chosen = subset_indices(len(images), 3, labels)  # one of every class
    originals, classes = images[chosen], [names[k] for k in labels[chosen]]
    assert sorted(classes) == list(CLASSES)
    np.testing.assert_array_equal(completed[known], originals[known])
    assert not np.array_equal(completed[~known], originals[~known])
    np.testing.assert_array_equal(completed, pl.complete(conditional_model, originals, known, seed=2, labels=classes,
                                                         method=cli._method(conditional_model, "auto")))
    warmer = tmp_path / "warmer.npy"
    status, _, err = main(capsys, "complete", conditional["dir"], "--data", class_folder, "--num", 3,
                          "--hide", "centre", "--seed", 2, "--temperature", 2, "--output", warmer)
    assert status == 0, err
    np.testing.assert_array_equal(np.load(warmer)[known], originals[known])
    assert not np.array_equal(np.load(warmer), completed)
    grid = tmp_path / "centre.png"
    status, _, err = main(capsys, "complete", conditional["dir"], "--data", class_folder, "--num", 3,
                          "--hide", "centre", "--output", grid)
    assert status == 0, err
    with Image.open(grid) as image:
        image.verify()
    status, _, err = main(capsys, "complete", conditional["dir"], "--data", class_folder, "--temperature", 0,
                          "--output", tmp_path / "bad.npy")
    assert status == 2 and "--temperature must be a finite number > 0" in err


@pytest.fixture(scope="module")
def unconditional_release(tmp_path_factory):
    """An untrained unconditional model, released as a .keras file (no training needed for these errors)."""
    import keras

    keras.utils.set_random_seed(0)
    model = pl.build_model("pixelsnail", (8, 8, 3), filters=8, depth=1, resnets_per_block=1, dropout=0.0)
    path = tmp_path_factory.mktemp("unconditional") / "plain.keras"
    ckpt.export_weights(model, path)
    return path


@pytest.mark.slow
def test_class_options_on_an_unconditional_model_are_usage_errors(capsys, tmp_path, unconditional_release,
                                                                  class_folder):
    status, _, err = main(capsys, "sample", unconditional_release, "--class", "ruby", "--output", tmp_path / "s.npy")
    assert status == 2 and "--class applies to a class-conditional model" in err
    status, _, err = main(capsys, "evaluate", unconditional_release, "--data", class_folder, "--without-class")
    assert status == 2 and "--without-class applies to a class-conditional model" in err


def test_conditional_training_data_errors_fail_cleanly(capsys, tmp_path, class_folder):
    def train(data, *options):
        status, out, err = main(capsys, "train", "--data", data, "--output", tmp_path / "run", "--steps", 1, *TINY,
                                *options)
        assert "Traceback" not in err
        return status, err

    flat = tmp_path / "flat"
    flat.mkdir()
    for k, path in enumerate(sorted(class_folder.glob("*/*.png"))[:4]):
        (flat / f"{k}.png").write_bytes(path.read_bytes())
    status, err = train(flat, "--conditional")
    assert status == 1 and "has no class sub-folders" in err and "root/<class name>/<images>" in err
    status, err = train("digits", "--conditional")
    assert status == 1 and "'digits' has no class labels" in err

    small = write_class_folder(tmp_path / "small", {"amber": 4, "jade": 1, "ruby": 3})
    status, err = train(small, "--conditional", "--holdout-per-class", 1)
    assert status == 1 and "too few images to hold out 1 of every class" in err and "class 'jade' has 1\n" in err
    status, err = train(small, "--conditional", "--holdout-per-class", 3)
    assert status == 1 and "class 'jade' has 1, class 'ruby' has 3\n" in err
    status, err = train(small, "--conditional", "--holdout-per-class", 0)
    assert status == 2 and "--holdout-per-class must be a positive number of images, got 0" in err
    status, err = train(small, "--conditional", "--holdout-per-class", 1, "--val-data", small)
    assert status == 2 and "--holdout-per-class or --val-data, not both" in err
    assert not (tmp_path / "run").exists()  # nothing was started


def test_match_classes_reindexes_by_name():
    # the data set's classes a, unused, c; the model's c, b, a: labels index the data set's names
    np.testing.assert_array_equal(cli.match_classes(np.array([2, 0, 0]), ["a", "unused", "c"], ["c", "b", "a"], "d"),
                                  [0, 2, 2])
    with pytest.raises(cli.CommandFailed, match=r"d has classes the model does not know: \['x'\]; .*\['c', 'b'\]"):
        cli.match_classes(np.array([0, 1]), ["c", "x"], ["c", "b"], "d")


def test_a_conditional_model_reads_the_split_it_is_asked_for(monkeypatch):
    import types

    import keras

    from pixelcnn_lib.data import CIFAR10_CLASSES

    train = (np.zeros((4, 32, 32, 3), np.uint8), np.array([[1], [2], [3], [4]]))
    test = (np.full((3, 32, 32, 3), 200, np.uint8), np.array([[9], [8], [7]]))
    monkeypatch.setattr(keras.datasets.cifar10, "load_data", lambda: (train, test))
    stand_in = types.SimpleNamespace(image_shape=(8, 8, 3), conditional=True, class_names=list(CIFAR10_CLASSES)[::-1])
    images, labels = cli._model_images(stand_in, "cifar10", "train")
    assert images.shape == (4, 8, 8, 3) and not images.any() and labels.tolist() == [8, 7, 6, 5]
    images, labels = cli._model_images(stand_in, "cifar10", "test")
    assert images.shape == (3, 8, 8, 3) and labels.tolist() == [0, 1, 2]


@pytest.mark.slow
def test_a_preset_name_stands_for_its_model(capsys, folder):
    """``evaluate pixelsnail_cifar10`` loads the shipped model by name, as ``pl.from_preset`` does."""
    from pixelcnn_lib.pretrained import load_pretrained

    status, out, err = main(capsys, "evaluate", "pixelsnail_cifar10", "--data", folder, "--limit", 4)
    assert status == 0, err
    images = load_source(str(folder), "test", 32)[:4]
    assert bits_of(out) == pytest.approx(evaluate_bits_per_dim(load_pretrained("pixelsnail_cifar10"), images), abs=1e-4)
    status, _, err = main(capsys, "sample", "pixelsnail_imagenet", "--output", "s.npy")
    assert status == 2 and "is not a preset: pixelsnail_cifar10, pixelsnail_gemstones" in err


@pytest.mark.slow
def test_import_has_no_side_effects_and_the_command_line_starts_tensorflow_quietly(tmp_path):
    """``import pixelcnn_lib`` imports neither Keras nor TensorFlow and leaves the environment alone; a command that
    starts TensorFlow shows its own message on standard error and none of TensorFlow's C++ start-up lines."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TF_CPP", "PIXELCNN_VERBOSE"))}
    probe = ("import os, sys; before = dict(os.environ); import pixelcnn_lib as pl; "
             "print(sorted(m for m in ('keras', 'tensorflow') if m in sys.modules), dict(os.environ) == before, "
             "'train' in dir(pl), callable(pl.from_preset))")
    done = subprocess.run([sys.executable, "-c", probe], cwd=REPO, env=env, capture_output=True, text=True)
    assert done.stdout.split() == ["[]", "True", "True", "True"], done.stdout + done.stderr
    with pytest.raises(AttributeError, match="no attribute 'nope'"):
        pl.nope  # noqa: B018
    command = [sys.executable, "-m", "pixelcnn_lib", "evaluate", str(tmp_path / "missing"), "--data", "digits"]
    done = subprocess.run(command, cwd=REPO, env={**env, "KERAS_BACKEND": "tensorflow"}, capture_output=True,
                          text=True, timeout=300)
    assert done.returncode == 2
    assert done.stderr.strip().splitlines() == [f"error: {tmp_path / 'missing'} does not exist (and is not a preset: "
                                                "pixelsnail_cifar10, pixelsnail_gemstones)"], done.stderr
    loud = subprocess.run(command, cwd=REPO, env={**env, "KERAS_BACKEND": "tensorflow", "PIXELCNN_VERBOSE": "1"},
                          capture_output=True, text=True, timeout=300)
    assert len(loud.stderr.strip().splitlines()) > 1, "TensorFlow said nothing: the check above proves nothing"
