#!/usr/bin/env bash
# How the small PixelSNAIL that ships in pixelcnn_lib/assets/pixelsnail_cifar10.npz was trained,
# on two CPU cores, from the JPEG copy of the CIFAR-10 training split kept next to the repository
# for development (the last 500 images of every class held out for evaluation).
# Bits/dim measured this way are for CIFAR-10 (JPEG copy), not comparable with published CIFAR-10 figures.
#
#   bash scripts/train_pixelsnail_cifar10.sh            # start (or, with RESUME=1, continue) the run
set -euo pipefail
DATA=${DATA:-/tmp/cifar10}
RUN=${RUN:-runs/pixelsnail_cifar10}
STEPS=${STEPS:-6000}
if [ ! -d "$DATA/train" ]; then
  mkdir -p "$DATA"
  tar xzf ../shared/data/cifar10-jpeg/train.tar.gz -C "$DATA"
  for d in "$DATA"/train/*; do
    c=$(basename "$d"); mkdir -p "$DATA/holdout/$c"
    for i in $(seq 4500 4999); do mv "$d/$(printf %04d.jpg "$i")" "$DATA/holdout/$c/"; done
  done
fi
.venv/bin/python -m pixelcnn_lib train --model pixelsnail --data "$DATA/train" --val-data "$DATA/holdout" \
  --image-size 32 --output "$RUN" --steps "$STEPS" --batch-size 16 --filters 64 --depth 2 \
  --hparam resnets_per_block=2 --hparam dropout=0.0 --learning-rate 0.0015 --lr-decay 0.9999 --ema-decay 0.999 \
  --hparam num_mixtures=10 --checkpoint-every 200 --log-every 50 --val-every 1000 --flip \
  ${RESUME:+--resume}
# The run may be stopped early (kill at any moment; RESUME=1 continues it). Then: evaluate the EMA weights
# and the raw weights on all 5,000 held-out images, and ship the better of the two with its result and the
# training log (over a short run, EMA weights with decay 0.999 still carry the early, poor weights).
.venv/bin/python - "$RUN" "$DATA/holdout" <<'PY'
import shutil, sys
from pixelcnn_lib.checkpoints import export_weights, load_model
from pixelcnn_lib.data import load_source
from pixelcnn_lib.training import evaluate_bits_per_dim
run, holdout = sys.argv[1], sys.argv[2]
images = load_source(holdout, image_size=32)
results = {}
for ema in (True, False):
    model = load_model(run, ema=ema)
    results[ema] = (evaluate_bits_per_dim(model, images), model)
    print(f"{'EMA' if ema else 'raw'} weights, step {model.metadata['step']}: held-out bits/dim {results[ema][0]:.4f}")
ema = results[True][0] <= results[False][0]
bpd, model = results[ema]
export_weights(model, "pixelcnn_lib/assets/pixelsnail_cifar10.npz", extra={
    "step": model.metadata["step"], "training": model.metadata["training"], "weights": "EMA" if ema else "raw",
    "holdout_bits_per_dim": round(bpd, 4), "holdout_images": int(len(images)),
    "holdout": "CIFAR-10 (JPEG copy): the last 500 images of every class of the training split, held out"})
shutil.copy(f"{run}/log.csv", "pixelcnn_lib/assets/pixelsnail_cifar10_log.csv")
print(f"shipped the {'EMA' if ema else 'raw'} weights of step {model.metadata['step']}: held-out bits/dim {bpd:.4f}")
PY
