"""The table of the gemstone sweep (scripts/gemstone_sweep.sh): one row per run in runs/sweep.

    .venv/bin/python scripts/gemstone_sweep_table.py /tmp/gemstones/train runs/sweep/NAME ...

For each run: held-out bits/dim of the last validation (all 204 held-out stones; averaged and raw weights), the
training loss of the last logged steps, and, with the averaged weights: the first pixel (how often the model draws
a near-white one, every channel >= 200, against the training photographs), and 64 samples at T = 1 (8 per class of
GEMSTONE_CLASSES_SHOWN): the share of runaway samples (own bits/dim more than 1 above the held-out figure) and of
vivid pixels (sample_checks.vivid_share) against the held-out stones'. Each run's samples go to runs/sweep/NAME.png.
"""

import csv
import json
import sys
from pathlib import Path

import numpy as np

import pixelcnn_lib as pl
from pixelcnn_lib.checkpoints import load_model
from pixelcnn_lib.data import GEMSTONE_CLASSES_SHOWN, load_labelled
from pixelcnn_lib.sampling import checks as sample_checks
from pixelcnn_lib.teaching import plotting

folder, runs = sys.argv[1], sys.argv[2:]
images, labels, names, files = load_labelled(folder, image_size=32)
print("| run | held-out bits/dim, averaged | raw | training loss | first pixel near-white: model | data "
      "| runaway samples (T = 1) | vivid pixels: samples | held out |")
print("|---|---|---|---|---|---|---|---|---|")
for run in runs:
    log = [r for r in csv.DictReader(open(Path(run) / "log.csv"))]
    last = [r for r in log if r["val_bits_per_dim"]][-1]
    model = load_model(run)
    split = json.loads((Path(run) / "config.json").read_text())["holdout"]
    held = np.array([files.index(f) for f in split["held_out_files"]])
    train = np.setdiff1d(np.arange(len(images)), held)
    first = model({"images": np.zeros((model.num_classes, 32, 32, 3), np.uint8),
                   "labels": np.arange(model.num_classes)})[:, :1, :1]
    draws = np.concatenate([np.asarray(model.head.sample(first, seed=s))[:, 0, 0] for s in range(30)])
    classes = np.repeat([model.class_index(n) for n in GEMSTONE_CLASSES_SHOWN], 8)
    samples = pl.sample(model, len(classes), seed=0, labels=classes, method="cached", progress=False)
    plotting.class_rows_figure(samples, GEMSTONE_CLASSES_SHOWN).savefig(f"{run}.png", dpi=80, bbox_inches="tight")
    own = sample_checks.sample_bits_per_dim(model, samples, classes)
    held_labels = np.array([model.class_index(names[k]) for k in labels[held]])
    held_own = sample_checks.sample_bits_per_dim(model, images[held], held_labels)
    print(f"| {Path(run).name} | {float(last['val_bits_per_dim']):.3f} | {float(last['val_raw_bits_per_dim']):.3f} "
          f"| {float(log[-1]['bits_per_dim']):.3f} | {np.mean(draws.min(-1) >= 200):.0%} "
          f"| {np.mean(images[train, 0, 0].min(-1) >= 200):.0%} "
          f"| {sample_checks.runaway_share(own, held_own.mean()):.0%} | {sample_checks.vivid_share(samples):.1%} "
          f"| {sample_checks.vivid_share(images[held]):.1%} |", flush=True)
