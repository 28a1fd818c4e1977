#!/usr/bin/env bash
# The layout every CIFAR-10 script of the book uses: the JPEG copy of the CIFAR-10 training split, kept next to the
# repository for development, unpacked into $DATA/train/CLASS/NNNN.jpg with the last 500 images of every class
# (4500 to 4999) moved to $DATA/holdout/CLASS: 45,000 images to train on, 5,000 held out. Does nothing when
# $DATA/train exists. Sourced by the training, comparison and ablation scripts.
DATA=${DATA:-/tmp/cifar10}
if [ ! -d "$DATA/train" ]; then
  mkdir -p "$DATA"
  tar xzf ../shared/data/cifar10-jpeg/train.tar.gz -C "$DATA"
  for d in "$DATA"/train/*; do
    c=$(basename "$d"); mkdir -p "$DATA/holdout/$c"
    for i in $(seq 4500 4999); do mv "$d/$(printf %04d.jpg "$i")" "$DATA/holdout/$c/"; done
  done
fi
