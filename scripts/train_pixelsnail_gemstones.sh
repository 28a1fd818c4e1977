#!/usr/bin/env bash
# How the class-conditional PixelSNAIL that ships in pixelcnn_lib/assets/pixelsnail_gemstones.keras was trained,
# on two CPU cores, from the gemstone photographs kept next to the repository for development (2,042 images in 68
# classes, the Kaggle "Gemstones Images" selection of Chow and Reyes-Aldasoro, 2022). 3 images of every class
# (204, a draw seeded by --seed 0) are held out for validation and the book's figures; the split is written into
# the run's config.json and the shipped metadata.
#
#   bash scripts/train_pixelsnail_gemstones.sh            # start, or with RESUME=1 continue, the run
#   SHIP=1 bash scripts/train_pixelsnail_gemstones.sh     # evaluate and ship the run's current checkpoint
#
# Size, dropout and augmentation come from the sweep of scripts/gemstone_sweep.sh (table in the README). The
# schedule has a fixed budget: STEPS steps, linear warm-up, then a cosine to zero at the last step. The run may be
# stopped at any moment and resumed exactly (RESUME=1), so it can be split into parts.
set -euo pipefail
DATA=${DATA:-/tmp/gemstones}
RUN=${RUN:-runs/pixelsnail_gemstones}
STEPS=${STEPS:-15000}
DROPOUT=${DROPOUT:-0.2}
if [ ! -d "$DATA/train" ]; then
  mkdir -p "$DATA"
  tar xzf ../shared/data/gemstones/train.tar.gz -C "$DATA"
fi
if [ -z "${SHIP:-}" ]; then
  .venv/bin/python -m pixelcnn_lib train --model pixelsnail --data "$DATA/train" --conditional \
    --holdout-per-class 3 --seed 0 --image-size 32 --output "$RUN" --steps "$STEPS" --batch-size 16 \
    --filters 64 --depth 2 --hparam resnets_per_block=2 --hparam dropout="$DROPOUT" --hparam num_mixtures=10 \
    --hparam nonlinearity='"elu"' --hparam first_pixel_bias=true --conv-precision bfloat16 \
    --learning-rate 0.002 --schedule cosine \
    --warmup-steps 500 --ema-decay 0.9995 --flip --rotate --checkpoint-every 200 --log-every 50 \
    --val-every 1000 --val-size 204 ${RESUME:+--resume}
fi
# Ship: choose the averaged or the raw weights by the last validation in the log (all 204 held-out images),
# measure the chosen weights with and without the class, and as a classifier; ship them with those figures, the
# log and 32 held-out images at 32x32 (one class each) for the book's figures.
.venv/bin/python - "$RUN" "$DATA/train" <<'PY'
import csv, json, shutil, sys
from pathlib import Path
import numpy as np
from pixelcnn_lib.checkpoints import export_weights, load_model
from pixelcnn_lib.data import load_labelled
from pixelcnn_lib.nn.heads import bits_per_dim
from pixelcnn_lib.sampling import class_log_probs
from pixelcnn_lib.training import evaluate_bits_per_dim
run, folder = sys.argv[1], sys.argv[2]
config = json.loads(Path(run, "config.json").read_text())
split = config["holdout"]
last = [r for r in csv.DictReader(open(f"{run}/log.csv")) if r["val_bits_per_dim"]][-1]
ema = float(last["val_bits_per_dim"]) <= float(last["val_raw_bits_per_dim"])
print(f"validation at step {last['step']}: averaged {last['val_bits_per_dim']}, raw {last['val_raw_bits_per_dim']}"
      f" -> ship the {'averaged' if ema else 'raw'} weights")
model = load_model(run, ema=ema)
images, labels, names, files = load_labelled(folder, image_size=32)
held = np.array([files.index(f) for f in split["held_out_files"]])
labels = np.array([model.class_index(names[k]) for k in labels])  # by name
x, y = images[held], labels[held]
bpd = evaluate_bits_per_dim(model, x, labels=y)
table = class_log_probs(model, x)
marginal = np.logaddexp.reduce(table, axis=1) - np.log(model.num_classes)
without = bits_per_dim(-marginal, model.image_shape)
accuracy = float(np.mean(np.argmax(table, axis=1) == y))
print(f"held out ({len(x)} images): {bpd:.4f} bits/dim with the class, {without:.4f} with the class summed out; "
      f"classifier accuracy {accuracy:.1%} (chance {1 / model.num_classes:.1%})")
source = ("Gemstones Images (Kaggle, lsind18), as selected by Chow and Reyes-Aldasoro, Minerals 2022, 12(1), 60; "
          "pictures mostly from minerals.net and rasavgems.com")
export_weights(model, "pixelcnn_lib/assets/pixelsnail_gemstones.keras", extra={
    "step": model.metadata["step"], "training": model.metadata["training"], "weights": "EMA" if ema else "raw",
    "holdout_bits_per_dim": round(bpd, 4), "holdout_images": int(len(x)),
    "holdout_bits_per_dim_without_class": round(without, 4), "holdout_classifier_accuracy": round(accuracy, 4),
    "holdout": f"gemstones: {split['per_class']} images of every class, drawn with seed {split['seed']}, held out",
    "split": split, "data": source,
    "first_pixel_near_white_data": round(float(np.mean(np.delete(images, held, axis=0)[:, 0, 0].min(axis=-1) >= 200)), 4)})
shutil.copy(f"{run}/log.csv", "pixelcnn_lib/assets/pixelsnail_gemstones_log.csv")
# 32 held-out images of 32 different classes for the book's figures: the eight classes the figures show by name
# (SHOWN in pixelcnn_lib.data), then 24 more in a seeded draw; one held-out image of each, a seeded draw
from pixelcnn_lib.data import GEMSTONE_CLASSES_SHOWN
rng = np.random.default_rng(0)
shown = [model.class_index(n) for n in GEMSTONE_CLASSES_SHOWN]
others = [c for c in rng.permutation(np.unique(y)) if c not in shown][:32 - len(shown)]
classes = np.sort(np.array(shown + others))
picked = np.array([rng.choice(np.flatnonzero(y == c)) for c in classes])
np.savez_compressed("pixelcnn_lib/assets/gemstones_holdout.npz", images=x[picked], labels=y[picked],
                    classes=np.array(model.class_names), files=np.array([split["held_out_files"][k] for k in picked]),
                    description=np.array(f"32 held-out gemstone photographs at 32x32, one of each of 32 classes, "
                                         f"never trained on. Source: {source}"))
print(f"shipped the {'averaged' if ema else 'raw'} weights of step {model.metadata['step']}")
PY
