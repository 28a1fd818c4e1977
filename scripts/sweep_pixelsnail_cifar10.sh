#!/usr/bin/env bash
# The sizing sweep behind the shipped PixelSNAIL: each candidate (width, depth, batch, convolution
# precision) trains for the same wall-clock budget on two CPU cores, on the JPEG copy of the CIFAR-10
# training split, and is measured on 500 held-out images (50 per class, the same for every candidate).
#
#   bash scripts/sweep_pixelsnail_cifar10.sh          # BUDGET=240 seconds each by default
#   DATA=/tmp/cifar10 (see scripts/train_pixelsnail_cifar10.sh for how the folder is laid out)
set -euo pipefail
DATA=${DATA:-/tmp/cifar10}
BUDGET=${BUDGET:-240}
OUT=${OUT:-runs/sweep}
run() {  # name, then extra options
  local name=$1; shift
  [ -f "$OUT/$name/log.csv" ] && grep -q "^" "$OUT/$name/checkpoint.npz" 2>/dev/null && return 0
  .venv/bin/python -m pixelcnn_lib train --model pixelsnail --data "$DATA/train" --val-data "$DATA/holdout" \
    --image-size 32 --output "$OUT/$name" --steps 1000000 --time-limit "$BUDGET" --learning-rate 0.0015 \
    --lr-decay 0.9999 --ema-decay 0.999 --hparam dropout=0.0 --hparam num_mixtures=10 --checkpoint-every 100000 \
    --log-every 50 --val-size 500 --flip "$@" > "$OUT/$name.log" 2>&1
}
mkdir -p "$OUT"
run f64_d2_b16 --filters 64 --depth 2 --hparam resnets_per_block=2 --batch-size 16
run f64_d2_b16_bf16 --filters 64 --depth 2 --hparam resnets_per_block=2 --batch-size 16 --conv-precision bfloat16
run f64_d4_b16_bf16 --filters 64 --depth 4 --hparam resnets_per_block=2 --batch-size 16 --conv-precision bfloat16
run f96_d2_b16_bf16 --filters 96 --depth 2 --hparam resnets_per_block=2 --batch-size 16 --conv-precision bfloat16
run f64_d2_b32_bf16 --filters 64 --depth 2 --hparam resnets_per_block=2 --batch-size 32 --conv-precision bfloat16
.venv/bin/python - "$OUT" <<'PY'
import csv, glob, os, sys
print("| run | steps | images/s | held-out bits/dim (averaged) | (raw) |")
print("|---|---|---|---|---|")
for log in sorted(glob.glob(os.path.join(sys.argv[1], "*", "log.csv"))):
    rows = list(csv.DictReader(open(log)))
    last = rows[-1]
    speed = sum(float(r["images_per_second"]) for r in rows[1:]) / max(len(rows) - 1, 1)
    print(f"| {os.path.basename(os.path.dirname(log))} | {last['step']} | {speed:.1f} | "
          f"{float(last['val_bits_per_dim']):.3f} | {float(last['val_raw_bits_per_dim']):.3f} |")
PY
