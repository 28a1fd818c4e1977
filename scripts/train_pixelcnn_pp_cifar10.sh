#!/usr/bin/env bash
# The equal-budget answer to "is PixelSNAIL better than PixelCNN++?": a PixelCNN++ trained for the wall-clock time
# of the shipped PixelSNAIL (pixelcnn_lib/assets/pixelsnail_cifar10_log.csv: 18,000 steps in 7,831 s on this
# project's two CPU cores), with everything else the same: the JPEG copy of the CIFAR-10 training split, laid out
# and held out as by scripts/train_pixelsnail_cifar10.sh (45,000 images to train on, the last 500 of every class
# held out), batch 16, flips, bfloat16 convolutions, peak learning rate 0.0015 with 1,000 steps of linear warm-up and
# a cosine to zero at the last step, Polyak averaging 0.9995, dropout 0, seed 0. A cosine schedule needs its length
# up front, so the budget is a number of steps: this PixelCNN++ is sized to train as fast as the PixelSNAIL (see
# STEPS), so its 18,000 steps are the same budget. It is scored on all 5,000 held-out images, as the PixelSNAIL was.
#
#   bash scripts/train_pixelcnn_pp_cifar10.sh            # start, or with RESUME=1 continue, the run
#   SHIP=1 bash scripts/train_pixelcnn_pp_cifar10.sh     # score the run's current checkpoint and write its figures
set -euo pipefail
DATA=${DATA:-/tmp/cifar10}
RUN=${RUN:-runs/pixelcnn_pp_cifar10}
# The size: the PixelSNAIL's width (64 filters), one gated residual block per stage (depth 1), the three resolutions
# and 10 logistics of the paper, 2,296,008 parameters. It trains at the PixelSNAIL's speed (80 steps, batch 16,
# bfloat16, measured back to back on this machine: PixelSNAIL 41.3 images/s, this PixelCNN++ 43.1; 40 filters ran at
# 66.6, 48 at 57.5, 56 at 49.7, depth 2 at 40 filters 44.3), so the same 18,000 steps take about the same time and
# the schedule is the PixelSNAIL's step for step. The log's elapsed_seconds says how long it really took.
STEPS=${STEPS:-18000}
source scripts/cifar10_jpeg_split.sh
if [ -z "${SHIP:-}" ]; then
  .venv/bin/python -m pixelcnn_lib train --model pixelcnn_pp --data "$DATA/train" --val-data "$DATA/holdout" \
    --image-size 32 --output "$RUN" --steps "$STEPS" --batch-size 16 --filters 64 --depth 1 \
    --hparam levels=3 --hparam dropout=0.0 --hparam num_mixtures=10 --conv-precision bfloat16 \
    --learning-rate 0.0015 --schedule cosine --warmup-steps 1000 --ema-decay 0.9995 \
    --checkpoint-every 200 --log-every 50 --val-every 1000 --val-size 500 --flip ${RESUME:+--resume}
fi
# Score: the averaged or the raw weights by the last validation in the log (as for the PixelSNAIL), on all 5,000
# held-out images; write the log and the figures beside the PixelSNAIL's assets (no weights: the book shows the
# curve and the score).
.venv/bin/python - "$RUN" "$DATA/holdout" <<'PY'
import csv, json, shutil, sys
from pixelcnn_lib.checkpoints import load_model
from pixelcnn_lib.data import load_source
from pixelcnn_lib.training import evaluate_bits_per_dim
run, holdout = sys.argv[1], sys.argv[2]
rows = list(csv.DictReader(open(f"{run}/log.csv")))
last = [r for r in rows if r["val_bits_per_dim"]][-1]
ema = float(last["val_bits_per_dim"]) <= float(last["val_raw_bits_per_dim"])
model = load_model(run, ema=ema)
images = load_source(holdout, image_size=32)
bpd = evaluate_bits_per_dim(model, images)
summary = {"model": model.config, "parameters": int(model.count_params()), "step": int(model.metadata["step"]),
           "elapsed_seconds": float(rows[-1]["elapsed_seconds"]), "weights": "EMA" if ema else "raw",
           "holdout_bits_per_dim": round(bpd, 4), "holdout_images": int(len(images)),
           "training": model.metadata["training"]}
with open("pixelcnn_lib/assets/pixelcnn_pp_cifar10_equal_budget.json", "w") as f:
    json.dump(summary, f, indent=2, sort_keys=True)
shutil.copy(f"{run}/log.csv", "pixelcnn_lib/assets/pixelcnn_pp_cifar10_equal_budget_log.csv")
print(f"{'averaged' if ema else 'raw'} weights of step {summary['step']} ({summary['elapsed_seconds']:.0f} s): "
      f"{bpd:.4f} bits/dim on all {len(images)} held-out images")
PY
