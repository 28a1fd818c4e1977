#!/usr/bin/env bash
# The equal-budget comparison of chapter 5: PixelCNN, Gated PixelCNN, PixelCNN++ and PixelSNAIL at small CPU
# sizes, each trained for the same wall-clock time (BUDGET seconds, 900 by default) on two CPU cores, on the
# JPEG copy of the CIFAR-10 training split, then evaluated on all 5,000 held-out images (the last 500 of
# every class). Same data, batch, learning rate, schedule and bfloat16 convolutions for all four (as the shipped
# model); dropout 0 (a few epochs at most).
# The sizes are close to each other, 300,000 to 360,000 parameters (Gated PixelCNN's filters must be a multiple
# of 6 on RGB).
#
#   bash scripts/compare_models_cifar10.sh      # DATA=/tmp/cifar10, laid out by cifar10_jpeg_split.sh
set -euo pipefail
DATA=${DATA:-/tmp/cifar10}
BUDGET=${BUDGET:-900}
OUT=${OUT:-runs/compare}
source scripts/cifar10_jpeg_split.sh
mkdir -p "$OUT"
run() {  # name, model, then its hyper-parameters
  local name=$1 model=$2; shift 2
  [ -f "$OUT/$name.bpd" ] && return 0
  .venv/bin/python -m pixelcnn_lib train --model "$model" --data "$DATA/train" --image-size 32 \
    --output "$OUT/$name" --steps 1000000 --time-limit "$BUDGET" --batch-size 16 --learning-rate 0.0015 \
    --lr-decay 0.9999 --ema-decay 0.999 --conv-precision bfloat16 --checkpoint-every 100000 --log-every 50 \
    --flip "$@" > "$OUT/$name.log" 2>&1
  .venv/bin/python -m pixelcnn_lib evaluate "$OUT/$name" --data "$DATA/holdout" | tail -1 | cut -d' ' -f2 > "$OUT/$name.bpd"
}
run pixelcnn pixelcnn --filters 64 --depth 4 --hparam head_filters=128
run gated_pixelcnn gated_pixelcnn --filters 42 --depth 4 --hparam head_filters=128
run pixelcnn_pp pixelcnn_pp --filters 32 --depth 1 --hparam num_mixtures=5 --hparam levels=2 --hparam dropout=0.0
run pixelsnail pixelsnail --filters 64 --depth 2 --hparam resnets_per_block=2 --hparam num_mixtures=10 --hparam dropout=0.0
echo "| model | parameters | steps in ${BUDGET} s | held-out bits/dim (averaged weights, 5,000 images) |"
echo "|---|---|---|---|"
for name in pixelcnn gated_pixelcnn pixelcnn_pp pixelsnail; do
  .venv/bin/python - "$OUT/$name" "$(cat "$OUT/$name.bpd")" <<'PY'
import csv, sys
from pixelcnn_lib.checkpoints import load_model
model = load_model(sys.argv[1])
steps = list(csv.DictReader(open(f"{sys.argv[1]}/log.csv")))[-1]["step"]
print(f"| {model.model_name} | {model.count_params():,} | {int(steps):,} | {float(sys.argv[2]):.3f} |")
PY
done
