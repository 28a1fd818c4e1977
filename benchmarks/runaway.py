"""Runaway samples against temperature, for a shipped model.

    .venv/bin/python benchmarks/runaway.py [--model pixelsnail_cifar10] [--num 64] [--temperatures 1 0.9 0.8 0.7]

For each temperature T, ``--num`` samples (cached sampling, seed 0; for a
class-conditional model, the classes in turn) and, per row: the samples' own
mean bits/dim under the model at T = 1, the share of runaway samples (own
bits/dim more than 1 above the model's held-out figure), the share of vivid
pixels (HSV saturation >= 0.9, value >= 0.4; ``sample_checks.vivid_share``),
and the fill-loop check at that temperature (mean bits of the drawn values
against the mean entropy they were drawn from: equal within a few standard
errors when every pixel is drawn from the model's conditional). The first
row is the held-out images the model ships with.
"""

import argparse
import time

import numpy as np

from pixelcnn_lib.data import load_holdout_sample
from pixelcnn_lib.pretrained import PRETRAINED, load_pretrained
from pixelcnn_lib.sampling import checks as sample_checks


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default="pixelsnail_cifar10", choices=sorted(PRETRAINED))
    parser.add_argument("--num", type=int, default=64)
    parser.add_argument("--temperatures", type=float, nargs="+", default=[1.0, 0.9, 0.8, 0.7])
    args = parser.parse_args()

    model = load_pretrained(args.model)
    held, held_labels, _ = load_holdout_sample(args.model)
    held_labels = held_labels if model.conditional else None
    held_bpd = sample_checks.sample_bits_per_dim(model, held, held_labels)
    reference = float(np.mean(held_bpd))
    labels = (np.arange(args.num) % model.num_classes) if model.conditional else None
    print(f"model: {args.model}; held-out images shipped with it: {len(held)}, mean {reference:.3f} bits/dim; "
          f"{args.num} samples per temperature\n")
    print("| images | own bits/dim | runaway (> held-out + 1) | vivid pixels | drawn bits/dim | entropy bits/dim "
          "| s |")
    print("|---|---|---|---|---|---|---|")
    print(f"| held out | {reference:.3f} | {sample_checks.runaway_share(held_bpd, reference):.0%} | "
          f"{sample_checks.vivid_share(held):.1%} | | | |")
    for t in args.temperatures:
        start = time.time()
        check = sample_checks.fill_loop_check(model, args.num, seed=0, labels=labels, temperature=t,
                                              method="cached", draws=4)
        seconds = time.time() - start
        own = sample_checks.sample_bits_per_dim(model, check["samples"], labels)
        print(f"| T = {t:g} | {own.mean():.3f} | {sample_checks.runaway_share(own, reference):.0%} | "
              f"{sample_checks.vivid_share(check['samples']):.1%} | {check['drawn_bits_per_dim']:.3f} | "
              f"{check['entropy_bits_per_dim']:.3f} ± {check['standard_error']:.3f} | {seconds:.0f} |")


if __name__ == "__main__":
    main()
