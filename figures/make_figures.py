"""The pictures the README shows a visitor, drawn from the library and the shipped model.

    .venv/bin/python figures/make_figures.py      # writes figures/*.png (about a minute on two CPU cores)

gemstones.png       new gemstones of the shipped class-conditional PixelSNAIL, eight classes, eight each, and a
                    real held-out stone of each class
samples.png         new images of the shipped PixelSNAIL beside real held-out CIFAR-10 images (JPEG copy)
completions.png     held-out images with the bottom half hidden, completed twice
receptive_fields.png what PixelCNN, Gated PixelCNN and PixelSNAIL can see of the pixels before a target
explorer.png        the causality explorer's trained mode as a still: the shipped PixelSNAIL's field at one
                    target (every earlier pixel) and the gradient magnitude of each
"""

from pathlib import Path

import keras
import numpy as np

import pixelcnn_lib as pl
from pixelcnn_lib.data import GEMSTONE_CLASSES_SHOWN, load_holdout_sample
from pixelcnn_lib.pretrained import load_pretrained
from pixelcnn_lib.teaching import causality_explorer, plotting
from pixelcnn_lib.teaching import receptive_field as rf
from pixelcnn_lib.teaching import widgets as pw

HERE = Path(__file__).resolve().parent
FIGURES = ("gemstones.png", "samples.png", "completions.png", "receptive_fields.png", "explorer.png")
GEMSTONE_TEMPERATURE = 1.0  # the model's own distribution


def save(figure, name):
    figure.savefig(HERE / name, dpi=100, bbox_inches="tight")
    print(f"wrote figures/{name}")


def gemstones(per_class=8):
    model = load_pretrained("pixelsnail_gemstones")
    held, held_labels, _ = load_holdout_sample("pixelsnail_gemstones")
    classes = [model.class_index(name) for name in GEMSTONE_CLASSES_SHOWN]
    real = np.stack([held[list(held_labels).index(c)] for c in classes])
    new = pl.sample(model, per_class * len(classes), seed=0, labels=np.repeat(classes, per_class),
                    temperature=GEMSTONE_TEMPERATURE, method="cached")
    save(plotting.class_rows_figure(new, GEMSTONE_CLASSES_SHOWN, real), "gemstones.png")


def samples_and_completions(count=8):
    model = load_pretrained("pixelsnail_cifar10")
    holdout, labels, _ = load_holdout_sample()
    real = holdout[[int(np.flatnonzero(labels == k)[0]) for k in range(count)]]
    new = pl.sample(model, count, seed=0, method="cached")
    save(plotting.labelled_rows_figure([new, real], ["new (sampled)", "real (held out)"]), "samples.png")

    originals = holdout[[int(np.flatnonzero(labels == k)[1]) for k in range(count)]]
    known = np.zeros(originals.shape[:3], bool)
    known[:, :16] = True  # the top half is given
    twice = pl.complete(model, np.concatenate([originals, originals]), np.concatenate([known, known]), seed=0,
                        method="cached")
    rows = [originals, plotting.hide(originals, known), twice[:count], twice[count:]]
    save(plotting.labelled_rows_figure(rows, ["original", "given", "draw 1", "draw 2"]),
         "completions.png")


def receptive_fields(size=12):
    grey, target = (size, size, 1), (size // 2, size // 2)
    models = {
        "PixelCNN": pl.build_model("pixelcnn", grey, filters=8, depth=size // 2 - 2, first_kernel=3, kernel=3,
                                   head_filters=8),
        "Gated PixelCNN": pl.build_model("gated_pixelcnn", grey, filters=12, kernel=5, depth=size // 4 + 2,
                                         head_filters=8),
        "PixelSNAIL": pl.build_model("pixelsnail", grey, filters=8, depth=1, resnets_per_block=1, num_mixtures=2,
                                     dropout=0.0),
    }
    panels = [(name, rf.receptive_field_by_gradient(model, grey, target), target) for name, model in models.items()]
    save(plotting.plot_fields(panels, size=2.6), "receptive_fields.png")


def explorer(target=(21, 15)):
    """The explorer's trained mode as a still: the shipped PixelSNAIL's field at a target (the nearest one
    computed), every earlier pixel in theory, and how strongly each one matters in fact."""
    trained = pw.trained_fields()
    k = int(np.argmin(np.abs(trained.targets - np.array(target)).sum(axis=1)))
    where = tuple(int(v) for v in trained.targets[k])
    figure = plotting.field_magnitude_figure({"shipped PixelSNAIL": trained.magnitude[k]}, where,
                                             decades=causality_explorer.DECADES)
    save(figure, "explorer.png")


if __name__ == "__main__":
    keras.utils.set_random_seed(0)
    gemstones()
    samples_and_completions()
    receptive_fields()
    explorer()
