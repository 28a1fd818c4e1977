#!/usr/bin/env bash
# How the small PixelSNAIL that ships in pixelcnn_lib/assets/pixelsnail_cifar10.keras was trained, on two CPU
# cores, from the JPEG copy of the CIFAR-10 training split kept next to the repository for development (the
# last 500 images of every class held out for evaluation; 45,000 images for training). Bits/dim measured this
# way are for CIFAR-10 (JPEG copy), not comparable with published CIFAR-10 figures.
#
#   bash scripts/train_pixelsnail_cifar10.sh            # start, or with RESUME=1 continue, the run
#   SHIP=1 bash scripts/train_pixelsnail_cifar10.sh     # evaluate and ship the run's current checkpoint
#
# The model is the reference's PixelSNAIL (variant "original", ELU) at the size the sizing sweep picked
# (scripts/sweep_pixelsnail_cifar10.sh; table in the README). The schedule has a fixed budget: STEPS steps,
# 1,000 of linear warm-up, then a cosine to zero at the last step. The run may be stopped at any moment and
# resumed exactly (RESUME=1), so it can be split into parts.
set -euo pipefail
DATA=${DATA:-/tmp/cifar10}
RUN=${RUN:-runs/pixelsnail_cifar10}
STEPS=${STEPS:-18000}
source scripts/cifar10_jpeg_split.sh
if [ -z "${SHIP:-}" ]; then
  .venv/bin/python -m pixelcnn_lib train --model pixelsnail --data "$DATA/train" --val-data "$DATA/holdout" \
    --image-size 32 --output "$RUN" --steps "$STEPS" --batch-size 16 --filters 64 --depth 2 \
    --hparam resnets_per_block=2 --hparam dropout=0.0 --hparam num_mixtures=10 --conv-precision bfloat16 \
    --learning-rate 0.0015 --schedule cosine --warmup-steps 1000 --ema-decay 0.9995 \
    --checkpoint-every 200 --log-every 50 --val-every 1000 --val-size 500 --flip ${RESUME:+--resume}
fi
# Ship: choose the averaged or the raw weights by the last validation in the log (500 balanced held-out
# images), then measure both on all 5,000 held-out images and ship the chosen ones with that figure and the log.
.venv/bin/python - "$RUN" "$DATA/holdout" <<'PY'
import csv, shutil, sys
from pixelcnn_lib.checkpoints import export_weights, load_model
from pixelcnn_lib.data import load_source
from pixelcnn_lib.training import evaluate_bits_per_dim
run, holdout = sys.argv[1], sys.argv[2]
last = [r for r in csv.DictReader(open(f"{run}/log.csv")) if r["val_bits_per_dim"]][-1]
ema = float(last["val_bits_per_dim"]) <= float(last["val_raw_bits_per_dim"])
print(f"validation at step {last['step']}: averaged {last['val_bits_per_dim']}, raw {last['val_raw_bits_per_dim']}"
      f" -> ship the {'averaged' if ema else 'raw'} weights")
images = load_source(holdout, image_size=32)
results = {}
for averaged in (True, False):
    model = load_model(run, ema=averaged)
    results[averaged] = (evaluate_bits_per_dim(model, images), model)
    print(f"{'averaged' if averaged else 'raw'} weights, step {model.metadata['step']}: bits/dim on all "
          f"{len(images)} held-out images {results[averaged][0]:.4f}")
bpd, model = results[ema]
export_weights(model, "pixelcnn_lib/assets/pixelsnail_cifar10.keras", extra={
    "step": model.metadata["step"], "training": model.metadata["training"], "weights": "EMA" if ema else "raw",
    "holdout_bits_per_dim": round(bpd, 4), "holdout_images": int(len(images)),
    "holdout": "CIFAR-10 (JPEG copy): the last 500 images of every class of the training split, held out"})
shutil.copy(f"{run}/log.csv", "pixelcnn_lib/assets/pixelsnail_cifar10_log.csv")
print(f"shipped the {'averaged' if ema else 'raw'} weights of step {model.metadata['step']}: {bpd:.4f} bits/dim")
PY
