#!/usr/bin/env bash
# What three parts of PixelSNAIL's attention are worth (chapter 4's ablation table): the small PixelSNAIL of
# scripts/compare_models_cifar10.sh (64 filters, 2 blocks of 2 residual blocks, 10 logistics, no dropout;
# ELU, as the reference's CIFAR-10 command) trained four ways, each the same number of steps with the same
# settings as that comparison (batch 16, flips, learning rate 0.0015 decaying by 0.9999 a step, Polyak 0.999,
# bfloat16 convolutions, seed 0), and scored with averaged weights on all 5,000 held-out images of the JPEG copy:
#   full            the model as it ships
#   no_background   attention without the two coordinate ("background") channels: --hparam background=false
#   no_image_keys   keys and values from the features alone, without the raw image: --hparam image_keys=false
#   concat_elu      PixelCNN++'s concatenated ELU in every block instead of ELU
#   full_seed1      the full model again with another seed: how far two runs of one model differ by chance
# A budget of steps rather than seconds keeps the runs independent of what else the machine does; the table says
# how fast each trained.
#
#   bash scripts/ablate_pixelsnail_cifar10.sh     # STEPS=1200; DATA=/tmp/cifar10, laid out by cifar10_jpeg_split.sh
set -euo pipefail
DATA=${DATA:-/tmp/cifar10}
STEPS=${STEPS:-1200}
OUT=${OUT:-runs/ablation}
source scripts/cifar10_jpeg_split.sh
mkdir -p "$OUT"
run() {  # name, then its own options
  local name=$1; shift
  [ -f "$OUT/$name.bpd" ] && return 0
  .venv/bin/python -m pixelcnn_lib train --model pixelsnail --data "$DATA/train" --image-size 32 \
    --output "$OUT/$name" --steps "$STEPS" --batch-size 16 --learning-rate 0.0015 --lr-decay 0.9999 \
    --ema-decay 0.999 --conv-precision bfloat16 --checkpoint-every 100000 --log-every 50 --flip \
    --filters 64 --depth 2 --hparam resnets_per_block=2 --hparam num_mixtures=10 --hparam dropout=0.0 \
    "$@" > "$OUT/$name.log" 2>&1
  .venv/bin/python -m pixelcnn_lib evaluate "$OUT/$name" --data "$DATA/holdout" | tail -1 | cut -d' ' -f2 > "$OUT/$name.bpd"
}
run full --seed 0
run no_background --seed 0 --hparam background=false
run no_image_keys --seed 0 --hparam image_keys=false
run concat_elu --seed 0 --hparam nonlinearity=concat_elu
run full_seed1 --seed 1
.venv/bin/python - "$OUT" <<'PY'
import csv, statistics, sys
from pixelcnn_lib.checkpoints import load_model
out = sys.argv[1]
rows = {}
for name in ("full", "no_background", "no_image_keys", "concat_elu", "full_seed1"):
    log = list(csv.DictReader(open(f"{out}/{name}/log.csv")))
    speed = statistics.median(float(r["images_per_second"]) for r in log[1:])
    rows[name] = (load_model(f"{out}/{name}").count_params(), int(log[-1]["step"]), speed,
                  float(open(f"{out}/{name}.bpd").read()))
print(f"| variant | parameters | steps of 16 | median images/s | held-out bits/dim | against the full model |")
print("|---|---|---|---|---|---|")
for name, (params, steps, speed, bpd) in rows.items():
    print(f"| {name} | {params:,} | {steps:,} | {speed:.1f} | {bpd:.3f} | {bpd - rows['full'][3]:+.3f} |")
PY
