"""Command line: ``python -m pixelcnn_lib train | evaluate | sample | complete | export`` (or ``pixelcnn ...``).

    python -m pixelcnn_lib train --model NAME --data SOURCE --image-size N --output DIR \\
        [--steps N | --epochs N] [--batch-size N] [--filters N] [--depth N] [--resume] \\
        [--checkpoint-every N] [--config FILE] [--conditional [--holdout-per-class N]] [--flip] [--rotate]
    python -m pixelcnn_lib evaluate DIR --data SOURCE [--without-class]   # last line: "bits/dim: X.XXXX"
    python -m pixelcnn_lib sample DIR --num N --seed S --output FILE.png|FILE.npy [--class NAME ... | --class all] \\
        [--temperature T]
    python -m pixelcnn_lib complete DIR --data SOURCE --num N --hide bottom-half|right-half|centre --seed S \\
        --output FILE [--temperature T]
    python -m pixelcnn_lib export DIR --output FILE.keras        # EMA weights for keras.models.load_model

SOURCE is ``cifar10``, ``digits`` or ``photos`` (offline, shipped with
scikit-learn), or the path of an image folder. DIR is a training directory
(its EMA weights are used), a released ``.keras`` (or ``.npz``) file, or the
name of a model that ships with the library (``pixelsnail_cifar10``,
``pixelsnail_gemstones``; see ``pixelcnn_lib.pretrained``).

A class-conditional model (``train --conditional``) learns one class per
image: the sub-folders of an image folder laid out as ``root/<class>/``, or
CIFAR-10's labels. ``evaluate`` and ``complete`` read the classes of a folder
by name and match them to the model's class names by name; ``sample --class``
names the classes to draw.

The installed console script ``pixelcnn`` is the same program. ``--help`` on
any command lists every option with its default, ``--version`` prints the
version. Exit status: 0 done, 1 the command failed (a message on stderr), 2 a
bad command line or ``--config`` file.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

import numpy as np

HIDE_CHOICES = ("bottom-half", "right-half", "centre")


class UsageError(SystemExit):
    """A bad command line or --config file: reported on stderr, exit status 2 (as argparse's own errors)."""


class CommandFailed(RuntimeError):
    """A command that could not do its work (exit status 1)."""


def build_parser():
    from . import __version__
    from .models import MODELS

    prog = "pixelcnn" if Path(sys.argv[0]).name == "pixelcnn" else "python -m pixelcnn_lib"  # the console script
    parser = argparse.ArgumentParser(prog=prog, description=__doc__.split("\n\n")[0])
    parser.add_argument("--version", action="version", version=f"pixelcnn_lib {__version__}")
    parser.add_argument("--threads", type=int, default=0, help="CPU threads for TensorFlow (0: all)")
    sub = parser.add_subparsers(dest="command", required=True)

    t = sub.add_parser("train", help="train a model")
    t.add_argument("--config", help="JSON file with any of the options below (command-line values win)")
    t.add_argument("--model", help="pixelcnn | gated_pixelcnn | pixelcnn_pp | pixelsnail")
    t.add_argument("--data", help="cifar10 | digits | photos | path of an image folder")
    t.add_argument("--val-data", help="held-out source for bits/dim during training (default: none)")
    t.add_argument("--image-size", type=int)
    t.add_argument("--channels", type=int, choices=(1, 3))
    t.add_argument("--output", required=True, help="training directory")
    t.add_argument("--filters", type=int)
    t.add_argument("--depth", type=int)
    t.add_argument("--hparam", action="append", default=[], metavar="KEY=VALUE",
                   help="any other hyper-parameter of the model, e.g. --hparam dropout=0.1 (repeatable); "
                        + "; ".join(f"{name}: {', '.join(cls.defaults)}" for name, cls in MODELS.items()))
    _add_train_options(t)
    t.add_argument("--distribute", choices=("none", "mirrored", "multiworker", "tpu"), default=None,
                   help="tf.distribute strategy: mirrored = all local GPUs (or CPUs with --cpu-devices); "
                        "multiworker = data-parallel over the machines that TF_CONFIG names (only the chief writes)")
    t.add_argument("--cpu-devices", type=int, default=None, help="split the CPU into N logical devices")
    t.add_argument("--conditional", action="store_true", default=None,
                   help="class-conditional: one class per image, from an image folder's sub-folders (root/<class>/) "
                        "or CIFAR-10's labels")
    t.add_argument("--holdout-per-class", type=int, default=None,
                   help="hold out N images of every class of --data (a draw seeded by --seed) for validation, "
                        "instead of --val-data; the split is written into the run's config and exported metadata")
    t.add_argument("--resume", action="store_true", help="continue the checkpoint in --output")
    t.add_argument("--export", help="also write the final EMA weights to this .keras (or .npz) file")

    e = sub.add_parser("evaluate", help="bits/dim on held-out images (EMA weights)")
    e.add_argument("dir")
    e.add_argument("--data", required=True)
    e.add_argument("--split", default="test", choices=("train", "test"),
                   help="split of a built-in source (a folder is used whole)")
    e.add_argument("--limit", type=int, help="evaluate only the first N images")
    e.add_argument("--batch-size", type=int, default=64)
    e.add_argument("--without-class", action="store_true",
                   help="a class-conditional model: also give bits/dim with the class summed out, log of the mean "
                        "over classes of p(x | class), and the accuracy of argmax_class p(x | class)")

    s = sub.add_parser("sample", help="generate new images")
    s.add_argument("dir")
    s.add_argument("--num", type=int, default=16)
    s.add_argument("--seed", type=int, default=0)
    s.add_argument("--output", required=True, help=".png grid or .npy uint8 (N, H, W, C)")
    s.add_argument("--method", choices=("auto", "naive", "cached"), default="auto",
                   help="auto: cached where the model supports it (same images, much faster)")
    s.add_argument("--class", dest="classes", action="append", metavar="NAME",
                   help="a class-conditional model: draw --num images of class NAME (repeatable; 'all': every class)")
    s.add_argument("--temperature", type=float, default=1.0,
                   help="sampling temperature: mixture logits divided by T, logistic scales times T (1: the model)")

    x = sub.add_parser("export", help="write a training directory's EMA weights to a .keras (or older .npz) file")
    x.add_argument("dir")
    x.add_argument("--output", required=True,
                   help=".keras (or .npz) file (loadable with pixelcnn_lib.checkpoints.load_model)")

    c = sub.add_parser("complete", help="complete partly hidden images")
    c.add_argument("dir")
    c.add_argument("--data", required=True)
    c.add_argument("--split", default="test", choices=("train", "test"))
    c.add_argument("--num", type=int, default=8)
    c.add_argument("--hide", default="bottom-half", choices=HIDE_CHOICES)
    c.add_argument("--seed", type=int, default=0)
    c.add_argument("--output", required=True, help=".png (originals, hidden, completed) or .npy")
    c.add_argument("--method", choices=("auto", "naive", "cached"), default="auto")
    c.add_argument("--temperature", type=float, default=1.0, help="sampling temperature (see sample)")
    _show_defaults(parser, t)
    return parser


def _add_train_options(parser):
    """An option per field of ``TrainConfig`` (``--batch-size`` for ``batch_size``), with its type, choices and
    help; each is left None so that a --config file can set it (``_show_defaults`` shows TrainConfig's default)."""
    import dataclasses

    from .training.config import TrainConfig

    group = parser.add_mutually_exclusive_group()
    for field in dataclasses.fields(TrainConfig):
        flag = "--" + field.name.replace("_", "-")
        where = group if field.name in ("steps", "epochs") else parser
        kind = str(field.type)
        if kind == "bool":
            where.add_argument(flag, action="store_true", default=None, help=field.metadata["help"])
        else:
            value_type = {"int": int, "int | None": int, "float": float, "str": str}[kind]
            where.add_argument(flag, type=value_type, choices=TrainConfig.CHOICES.get(field.name),
                               help=field.metadata["help"])


NO_DEFAULT = {"model": "none; required, here or in --config", "data": "none; required, here or in --config",
              "image_size": "none; required, here or in --config", "steps": "none; give --steps or --epochs",
              "epochs": "none; give --steps or --epochs", "filters": "the model's published value",
              "depth": "the model's published value", "channels": "the source's own"}


def _show_defaults(parser, train_parser):
    """Append "(default: X)" to every option's help: argparse's own default, or, for the training options (left
    None so that a --config file can set them), TrainConfig's."""
    import dataclasses

    from .training.config import TrainConfig

    trained = {field.name: field.default for field in dataclasses.fields(TrainConfig)}
    subparsers = [action for action in parser._actions if isinstance(action, argparse._SubParsersAction)]
    for sub in [parser, *subparsers[0].choices.values()]:
        for action in sub._actions:
            if not action.option_strings or action.help == argparse.SUPPRESS or action.dest in ("help", "version"):
                continue
            default = action.default
            if sub is train_parser and default is None and action.dest in trained:
                default = trained[action.dest]
            if action.required or "(default" in (action.help or ""):
                continue
            shown = NO_DEFAULT.get(action.dest, "none") if default is None else default
            action.help = f"{action.help or ''} (default: {shown})".strip()


def _train_keys():
    """The fields of TrainConfig: every one is an option of train and a key of a --config file."""
    import dataclasses

    from .training.config import TrainConfig

    return tuple(field.name for field in dataclasses.fields(TrainConfig))


def __getattr__(name):
    if name == "TRAIN_KEYS":  # (imported late: TrainConfig's module imports Keras)
        return _train_keys()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
OTHER_KEYS = ("model", "data", "val_data", "image_size", "channels", "output", "filters", "depth", "hparams",
              "distribute", "cpu_devices", "resume", "export", "conditional", "holdout_per_class")


def _parse_value(text):
    import json

    try:
        return json.loads(text)
    except ValueError:
        return text


def read_train_config(path):
    """The options of a ``--config`` JSON file; unknown keys are an error, not ignored."""
    from .training.config import load_config_file

    options = load_config_file(path)
    train_keys = _train_keys()
    unknown = sorted(set(options) - set(train_keys) - set(OTHER_KEYS))
    if unknown:
        raise UsageError(f"{path} has unknown key(s) {unknown}; known keys are {sorted(train_keys + OTHER_KEYS)}")
    return options


def _train(args):
    from .data import holdout_indices, load_labelled, load_source
    from .models import MODELS
    from .training.config import TrainConfig
    from .training.trainer import train

    options = read_train_config(args.config) if args.config else {}
    cli = {k: v for k, v in vars(args).items() if v is not None}
    options.update({k: v for k, v in cli.items() if k not in ("hparam", "config", "command", "threads")})
    for key in ("model", "data", "image_size"):
        if key not in options:
            raise UsageError(f"--{key.replace('_', '-')} is required (on the command line or in --config)")
    if "steps" in cli and "epochs" in options and "epochs" not in cli:
        options.pop("epochs")
    if "epochs" in cli and "steps" in options and "steps" not in cli:
        options.pop("steps")
    name = options["model"]
    if name not in MODELS:
        raise UsageError(f"unknown model {name!r}; choose one of {sorted(MODELS)}")
    hparams = dict(options.get("hparams", {}))
    for key in ("filters", "depth"):
        if key in options:
            hparams[key] = options[key]
    for item in args.hparam:
        if "=" not in item:
            raise UsageError(f"--hparam expects KEY=VALUE, got {item!r}")
        key, value = item.split("=", 1)
        hparams[key] = _parse_value(value)
    unknown = sorted(set(hparams) - set(MODELS[name].defaults))
    if unknown:
        raise UsageError(f"{name} has no hyper-parameter(s) {unknown}; it takes {', '.join(MODELS[name].defaults)}")

    if options.get("export") and Path(options["export"]).suffix not in (".keras", ".npz"):
        raise UsageError(f"--export must end in .keras (or .npz, the older format), got {options['export']}")
    strategy = _strategy(options.get("distribute", "none"), options.get("cpu_devices"))
    size = int(options["image_size"])
    conditional, holdout = bool(options.get("conditional")), options.get("holdout_per_class")
    if holdout is not None and (isinstance(holdout, bool) or not isinstance(holdout, int) or holdout < 1):
        raise UsageError(f"--holdout-per-class must be a positive number of images, got {holdout!r}")
    if holdout is not None and options.get("val_data"):
        raise UsageError("give --holdout-per-class or --val-data, not both")
    labels, classes, split = None, None, None
    if conditional or holdout is not None:
        images, labels, classes, files = load_labelled(options["data"], "train", size, options.get("channels"))
    else:
        images = load_source(options["data"], "train", size, options.get("channels"))
    val, val_labels = None, None
    if holdout is not None:
        held = holdout_indices(labels, holdout, int(options.get("seed", 0)), names=classes)
        rest = np.setdiff1d(np.arange(len(images)), held)
        split = {"per_class": int(holdout), "seed": int(options.get("seed", 0)), "held_out": len(held),
                 "trained_on": len(rest), "held_out_files": [files[k] for k in held] if files else held.tolist()}
        val, val_labels = images[held], labels[held]
        images, labels = images[rest], labels[rest]
    elif options.get("val_data"):
        val, val_labels = _load_with_labels(options["val_data"], size, images.shape[-1], classes)
    if not conditional:
        labels, hparams_classes = None, {}
    else:
        hparams_classes = {"num_classes": len(classes), "class_names": classes}
    channels = images.shape[-1]
    config = TrainConfig(**{k: options[k] for k in _train_keys() if k in options})
    if config.steps is None and config.epochs is None:
        raise UsageError("give --steps or --epochs")
    print(f"training {name} on {len(images)} images of {size}x{size}x{channels} from {options['data']}", flush=True)
    if strategy is not None:
        print(f"tf.distribute: {type(strategy).__name__} over {strategy.num_replicas_in_sync} replicas", flush=True)
    if conditional:
        print(f"class-conditional: {len(classes)} classes", flush=True)
    if split:
        print(f"held out {split['held_out']} images ({split['per_class']} of every class) for validation", flush=True)
    result = train({"model": name, "image_shape": [size, size, channels], **hparams, **hparams_classes}, images,
                   options["output"], config, val_images=val, val_labels=val_labels,
                   resume=bool(options.get("resume")), strategy=strategy, labels=labels,
                   metadata={"holdout": split} if split else None)
    from .training.trainer import is_chief

    if options.get("export") and is_chief(strategy):  # the other workers hold the same weights
        from .checkpoints import export_weights

        export_weights(result["model"], options["export"],
                       extra={"step": result["step"], **({"holdout": split} if split else {})})
        print(f"exported EMA weights to {options['export']}")
    if is_chief(strategy):
        print(f"finished at step {result['step']}; checkpoint in {options['output']}")
    else:
        print(f"finished at step {result['step']}; the chief wrote the checkpoint in {options['output']}")


def _load_with_labels(source, size, channels, class_names=None, split="test"):
    """Held-out images and, for a folder of class sub-folders (or CIFAR-10), their labels (else None).

    With ``class_names`` (a conditional model's), the labels index those
    names, matched by name: a class the model does not know is an error.
    ``split``: of a built-in source (a folder is used whole).
    """
    import os

    from .data import BUILTIN_SOURCES, load_labelled, load_source

    labelled = source == "cifar10" or (source not in BUILTIN_SOURCES and os.path.isdir(source))
    if class_names is None:
        if labelled and source != "cifar10":
            try:
                images, labels, _, _ = load_labelled(source, split, size, channels)
            except ValueError:  # a flat folder: no classes
                return load_source(source, split, size, channels), None
            return images, (labels if len(np.unique(labels)) > 1 else None)
        return load_source(source, split, size, channels), None
    if not labelled:
        raise CommandFailed(f"{source!r} has no classes: a class-conditional model needs cifar10 or a folder laid out "
                            "as root/<class name>/<images>")
    images, labels, names, _ = load_labelled(source, split, size, channels)
    return images, match_classes(labels, names, class_names, source)


def match_classes(labels, names, class_names, source):
    """Labels that index ``names`` (a data set's classes), re-indexed to ``class_names`` (a model's) by name."""
    unknown = sorted(set(names[k] for k in np.unique(labels)) - set(class_names))
    if unknown:
        raise CommandFailed(f"{source} has classes the model does not know: {unknown[:10]}"
                            f"{' ...' if len(unknown) > 10 else ''}; the model's classes are {list(class_names)[:10]}"
                            f"{' ...' if len(class_names) > 10 else ''}")
    # -1: a class of the data set with no image here (every image's class is known to the model)
    lookup = np.array([list(class_names).index(n) if n in class_names else -1 for n in names], np.int64)
    return lookup[labels]


def _strategy(kind, cpu_devices):
    import tensorflow as tf

    if cpu_devices:
        cpu = tf.config.list_physical_devices("CPU")[0]
        tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * cpu_devices)
    if kind in (None, "none"):
        return None
    if kind == "multiworker":
        import json
        import os

        if "TF_CONFIG" not in os.environ:
            raise UsageError("--distribute multiworker needs TF_CONFIG: the cluster's workers and this one's task "
                             "(see the README's section on training past one machine)")
        try:
            json.loads(os.environ["TF_CONFIG"])
        except ValueError as error:
            raise UsageError(f"TF_CONFIG is not valid JSON: {error}") from None
        return tf.distribute.MultiWorkerMirroredStrategy()
    if kind == "mirrored":
        gpus = tf.config.list_logical_devices("GPU")
        devices = [d.name for d in gpus] or [d.name for d in tf.config.list_logical_devices("CPU")]
        return tf.distribute.MirroredStrategy(devices)
    try:  # TPU_NAME or a TPU VM / Colab TPU runtime tells the resolver where the TPU is
        resolver = tf.distribute.cluster_resolver.TPUClusterResolver()
    except (ValueError, RuntimeError) as error:
        raise CommandFailed(f"--distribute tpu found no TPU ({error}); run on a TPU VM or a Colab TPU runtime, or "
                            "set TPU_NAME, or choose --distribute none or mirrored") from None
    tf.config.experimental_connect_to_cluster(resolver)
    tf.tpu.experimental.initialize_tpu_system(resolver)
    return tf.distribute.TPUStrategy(resolver)


def _load(path):
    from .pretrained import PRETRAINED, from_preset

    if not Path(path).exists() and path not in PRETRAINED:
        raise UsageError(f"{path} does not exist (and is not a preset: {', '.join(sorted(PRETRAINED))})")
    try:
        return from_preset(path)
    except ValueError as error:
        raise CommandFailed(str(error)) from None


def _model_images(model, source, split, limit=None):
    """The images of ``source`` at the model's size, and, for a class-conditional model, their labels in the
    model's classes (matched by name; else None). ``limit``: the first N (for a folder, a seeded draw balanced
    over its classes, as a folder is sorted by class)."""
    from .data import load_source, subset_indices

    h, w, c = model.image_shape
    if model.conditional:
        if model.class_names is None:
            raise CommandFailed("this class-conditional model has no class names, so the classes of --data cannot "
                                "be matched to it")
        images, labels = _load_with_labels(source, h, c, model.class_names, split)
    else:
        images, labels = load_source(source, split, h, c), None
    if limit:
        chosen = (subset_indices(len(images), limit, labels) if labels is not None
                  else np.arange(min(limit, len(images))))
        images, labels = images[chosen], (None if labels is None else labels[chosen])
    return images, labels


def _evaluate(args):
    from .training.evaluation import evaluate_bits_per_dim

    model = _load(args.dir)
    if args.without_class and not model.conditional:
        raise UsageError("--without-class applies to a class-conditional model")
    images, labels = _model_images(model, args.data, args.split, args.limit)
    bpd = evaluate_bits_per_dim(model, images, args.batch_size, labels=labels)
    print(f"images: {len(images)}")
    if args.without_class:
        from .nn.heads import bits_per_dim
        from .sampling.api import class_log_probs

        table = class_log_probs(model, images, batch_size=args.batch_size)  # (N, K) nats
        marginal = np.logaddexp.reduce(table, axis=1) - np.log(model.num_classes)
        accuracy = float(np.mean(np.argmax(table, axis=1) == labels))
        print(f"bits/dim with the class summed out (uniform prior): {bits_per_dim(-marginal, model.image_shape):.4f}")
        print(f"classification by argmax_class p(x | class): {accuracy:.1%} (chance {1 / model.num_classes:.1%})")
    print(f"bits/dim: {bpd:.4f}")


def _write_images(path, images, rows=None, labels=None):
    path = Path(path)
    if path.suffix == ".npy":
        np.save(path, np.asarray(images, np.uint8))
    elif path.suffix == ".png":
        from .images import save_image_grid, save_labelled_rows

        if rows is None:
            save_image_grid(path, images)
        else:
            save_labelled_rows(path, rows, labels)
    else:
        raise UsageError(f"--output must end in .png or .npy, got {path.name}")
    print(f"wrote {path}")


def _sample(args):
    import time

    from .sampling.api import sample

    if Path(args.output).suffix not in (".png", ".npy"):
        raise UsageError(f"--output must end in .png or .npy, got {args.output}")
    _check_temperature(args.temperature)
    model = _load(args.dir)
    method = _method(model, args.method)
    classes = _sample_classes(model, args.classes)
    labels = None if classes is None else np.repeat([model.class_index(n) for n in classes], args.num)
    start = time.time()
    try:
        images = sample(model, len(labels) if classes else args.num, seed=args.seed, method=method, labels=labels,
                        temperature=args.temperature)
    except ValueError as error:
        raise CommandFailed(str(error)) from None
    print(f"sampled {len(images)} images in {time.time() - start:.1f} s ({method}, temperature {args.temperature:g})")
    if classes is None or Path(args.output).suffix == ".npy":
        _write_images(args.output, images)
    else:
        _write_images(args.output, None, rows=[images[k * args.num:(k + 1) * args.num] for k in range(len(classes))],
                      labels=classes)


def _check_temperature(temperature):
    import math

    if not (math.isfinite(temperature) and temperature > 0):
        raise UsageError(f"--temperature must be a finite number > 0, got {temperature:g}")


def _sample_classes(model, names):
    """The class names to draw (None for an unconditional model); 'all' stands for every class."""
    if not model.conditional:
        if names:
            raise UsageError("--class applies to a class-conditional model; this one is unconditional")
        return None
    if not names:
        known = model.class_names or list(range(model.num_classes))
        raise UsageError(f"this model is class-conditional: give --class NAME (repeatable) or --class all; its "
                         f"classes are {known}")
    if model.class_names is None:
        raise CommandFailed("this class-conditional model has no class names to choose from")
    if "all" in names:
        return list(model.class_names)
    for name in names:
        if name not in model.class_names:
            raise UsageError(f"the model has no class {name!r}; its classes are {list(model.class_names)}")
    return list(names)


def _method(model, method):
    if method == "auto":
        return "cached" if model.cached_sampling else "naive"
    return method


def hide_mask(shape, hide):
    """bool (B, H, W): True where the pixel is known."""
    b, h, w = shape
    known = np.ones((b, h, w), bool)
    if hide == "bottom-half":
        known[:, h // 2:] = False
    elif hide == "right-half":
        known[:, :, w // 2:] = False
    elif hide == "centre":  # the middle square, half the side
        known[:, h // 4:h - h // 4, w // 4:w - w // 4] = False
    else:
        raise ValueError(f"hide must be one of {HIDE_CHOICES}, got {hide!r}")
    return known


def _complete(args):
    from .images import hide
    from .sampling.api import complete

    if Path(args.output).suffix not in (".png", ".npy"):
        raise UsageError(f"--output must end in .png or .npy, got {args.output}")
    _check_temperature(args.temperature)
    model = _load(args.dir)
    images, labels = _model_images(model, args.data, args.split, args.num)
    known = hide_mask(images.shape[:3], args.hide)
    completed = complete(model, images, known, seed=args.seed, method=_method(model, args.method), labels=labels,
                         temperature=args.temperature)
    _write_images(args.output, completed, rows=[images, hide(images, known), completed],
                  labels=["original", "given", "completed"])


def _export(args):
    from .checkpoints import export_weights

    if Path(args.output).suffix not in (".keras", ".npz"):
        raise UsageError(f"--output must end in .keras (or .npz, the older format), got {args.output}")
    model = _load(args.dir)
    export_weights(model, args.output, extra={k: v for k, v in model.metadata.items() if k != "model"})
    print(f"exported step {model.metadata.get('step')} to {args.output}")


def start_tensorflow(threads=0):
    """Start TensorFlow (on Keras's TensorFlow backend) without its C++ start-up lines.

    On a machine without a GPU, TensorFlow writes "failed call to cuInit: ... CUDA error", notes on CPU
    instructions and oneDNN straight to the process's standard error while it starts, before its logging can be
    configured (``TF_CPP_MIN_LOG_LEVEL`` no longer reaches them). They are not for a command-line user: the start
    runs with standard error sent to a temporary file, shown only if the start fails. ``threads`` > 0 sets
    TensorFlow's CPU threads, which must happen before it starts. ``import pixelcnn_lib`` imports nothing, so that
    this runs first. ``PIXELCNN_VERBOSE=1`` shows everything.
    """
    import tempfile

    if os.environ.get("PIXELCNN_VERBOSE") == "1" or _keras_backend() != "tensorflow":
        return
    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile() as sink:
        os.dup2(sink.fileno(), 2)
        try:
            import tensorflow as tf

            if threads:
                tf.config.threading.set_intra_op_parallelism_threads(threads)
                tf.config.threading.set_inter_op_parallelism_threads(1)
            tf.config.list_physical_devices()  # where the CUDA probe happens
        except BaseException:
            os.dup2(saved, 2)
            sink.seek(0)
            sys.stderr.write(sink.read().decode(errors="replace"))
            raise
        finally:
            os.dup2(saved, 2)
            os.close(saved)


def _keras_backend():
    """The backend Keras will use, read as Keras reads it (``KERAS_BACKEND``, then ~/.keras/keras.json), without
    importing Keras."""
    import json

    if os.environ.get("KERAS_BACKEND"):
        return os.environ["KERAS_BACKEND"]
    config = Path(os.environ.get("KERAS_HOME", Path.home() / ".keras")) / "keras.json"
    try:
        return json.loads(config.read_text()).get("backend", "tensorflow")
    except (OSError, ValueError):
        return "tensorflow"


def main(argv=None):
    early = argparse.ArgumentParser(add_help=False)  # --threads, before the full parser (its defaults start TF)
    early.add_argument("--threads", type=int, default=0)
    start_tensorflow(early.parse_known_args(argv)[0].threads)
    args = build_parser().parse_args(argv)
    commands = {"train": _train, "evaluate": _evaluate, "sample": _sample, "complete": _complete,
                "export": _export}
    from .data import DataUnavailableError
    from .training.config import TrainingDiverged

    try:
        commands[args.command](args)
    except UsageError as error:
        print(f"error: {error.code}", file=sys.stderr)
        return 2
    except (CommandFailed, ValueError, TypeError, DataUnavailableError, TrainingDiverged) as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    return 0
