#!/usr/bin/env bash
# The sizing sweep for the shipped gemstone model: a class-conditional PixelSNAIL (64 filters, 2 blocks of 2
# residual blocks, ELU, 10 logistics, bfloat16 convolutions) trained for 1,500 steps of 16 images (cosine schedule,
# warm-up 100, peak learning rate 0.002, seed 0), 3 images of every class held out. Candidates differ in dropout,
# augmentation (--flip --rotate: the eight symmetries of the square) and the first-pixel offset.
#
#   DATA=/tmp/gemstones bash scripts/gemstone_sweep.sh     # DATA/train: the gemstone folder, root/<class>/*.jpg
#
# Each run writes runs/sweep/NAME (resumable); the README's table reads their logs.
set -euo pipefail
DATA=${DATA:-/tmp/gemstones}
mkdir -p runs/sweep
run() {
  name=$1; shift
  .venv/bin/python -m pixelcnn_lib train --model pixelsnail --data "$DATA/train" --conditional \
    --holdout-per-class 3 --seed 0 --image-size 32 --output "runs/sweep/$name" --steps 1500 --batch-size 16 \
    --schedule cosine --warmup-steps 100 --learning-rate 0.002 --checkpoint-every 500 --log-every 100 \
    --val-every 500 --val-size 204 --conv-precision bfloat16 --filters 64 --depth 2 \
    --hparam resnets_per_block=2 --hparam nonlinearity='"elu"' "$@" --resume > "runs/sweep/$name.log" 2>&1
}
run f64_d0_aug --hparam dropout=0.0 --flip --rotate
run f64_d02_aug --hparam dropout=0.2 --flip --rotate
run f64_d02_aug_first --hparam dropout=0.2 --flip --rotate --hparam first_pixel_bias=true
