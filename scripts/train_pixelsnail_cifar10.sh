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
# on all 5,000 held-out images and ship them with the result and the training log.
.venv/bin/python -m pixelcnn_lib evaluate "$RUN" --data "$DATA/holdout" | tee "$RUN/holdout_eval.txt"
.venv/bin/python - "$RUN" <<'PY'
import re, shutil, sys
from pixelcnn_lib.checkpoints import export_weights, load_model
run = sys.argv[1]
bpd = float(re.search(r"bits/dim: ([0-9.]+)", open(f"{run}/holdout_eval.txt").read()).group(1))
model = load_model(run)
export_weights(model, "pixelcnn_lib/assets/pixelsnail_cifar10.npz", extra={
    "step": model.metadata["step"], "training": model.metadata["training"],
    "holdout_bits_per_dim": bpd,
    "holdout": "CIFAR-10 (JPEG copy): the last 500 images of every class of the training split, held out"})
shutil.copy(f"{run}/log.csv", "pixelcnn_lib/assets/pixelsnail_cifar10_log.csv")
print(f"shipped step {model.metadata['step']}, held-out bits/dim {bpd:.4f}")
PY
