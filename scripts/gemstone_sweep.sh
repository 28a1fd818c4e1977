#!/bin/bash
# Sweep: class-conditional PixelSNAIL on the gemstones, 1,500 steps of 16 images each (cosine, warm-up 100), seed 0.
cd /work/main
run() {
  name=$1; shift
  .venv/bin/python -m pixelcnn_lib train --model pixelsnail --data /tmp/gemstones/train --conditional \
    --holdout-per-class 3 --image-size 32 --output runs/sweep/$name --steps 1500 --batch-size 16 \
    --schedule cosine --warmup-steps 100 --learning-rate 0.002 --checkpoint-every 500 --log-every 100 \
    --val-every 500 --val-size 204 --conv-precision bfloat16 --hparam nonlinearity='"elu"' "$@" --resume \
    > runs/sweep/$name.log 2>&1
}
mkdir -p runs/sweep
run f64_d0_aug --filters 64 --depth 2 --hparam resnets_per_block=2 --hparam dropout=0.0 --flip --rotate
run f64_d02_aug --filters 64 --depth 2 --hparam resnets_per_block=2 --hparam dropout=0.2 --flip --rotate
run f64_d02_noaug --filters 64 --depth 2 --hparam resnets_per_block=2 --hparam dropout=0.2
run f64_d05_aug --filters 64 --depth 2 --hparam resnets_per_block=2 --hparam dropout=0.5 --flip --rotate
echo done > runs/sweep/DONE
