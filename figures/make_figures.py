"""The pictures the README shows a visitor, drawn from the library and the shipped model.

    .venv/bin/python figures/make_figures.py      # writes figures/*.png (about a minute on two CPU cores)

samples.png         new images of the shipped PixelSNAIL beside real held-out CIFAR-10 images (JPEG copy)
completions.png     held-out images with the bottom half hidden, completed twice
receptive_fields.png what PixelCNN, Gated PixelCNN and PixelSNAIL can see of the pixels before a target
explorer.png        the causality explorer's view for a masked stack: the field and every layer's footprints
"""

from pathlib import Path

import keras
import numpy as np
from PIL import Image

import pixelcnn_lib as pl
from pixelcnn_lib import plotting
from pixelcnn_lib import receptive_field as rf
from pixelcnn_lib import widgets as pw
from pixelcnn_lib.checkpoints import load_pretrained
from pixelcnn_lib.data import load_holdout_sample

HERE = Path(__file__).resolve().parent
FIGURES = ("samples.png", "completions.png", "receptive_fields.png", "explorer.png")


def save(figure, name):
    figure.savefig(HERE / name, dpi=100)
    print(f"wrote figures/{name}")


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
    save(pw.plot_fields(panels, size=2.6), "receptive_fields.png")


def explorer(size=7, depth=3):
    stack = rf.LayerStack("masked", 3, depth, image_shape=(size, size, 1))
    target = (size // 2, size // 2)
    field = stack.field([target])[0]
    left = pw.field_picture(field, target, caption=pw.field_caption(field, target))
    right = pw.pattern_picture(stack.patterns())
    height = max(left.shape[0], right.shape[0])
    canvas = Image.new("RGB", (left.shape[1] + 24 + right.shape[1], height), "white")
    canvas.paste(Image.fromarray(left), (0, 0))
    canvas.paste(Image.fromarray(right), (left.shape[1] + 24, 0))
    canvas.save(HERE / "explorer.png", optimize=True)
    print("wrote figures/explorer.png")


if __name__ == "__main__":
    keras.utils.set_random_seed(0)
    samples_and_completions()
    receptive_fields()
    explorer()
