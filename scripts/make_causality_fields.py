"""Precompute what chapter 3's causality explorer shows: the small stacks' fields and the shipped PixelSNAIL's.

    .venv/bin/python scripts/make_causality_fields.py            # both
    .venv/bin/python scripts/make_causality_fields.py stacks     # or one of them
    .venv/bin/python scripts/make_causality_fields.py trained

stacks: ``causality_states()`` at its defaults (every block, kernel and depth of the explorer on a 16x16 grey image,
each field by gradient through the library's layers and checked against the analytic one) and every layer's
footprints, written to
pixelcnn_lib/assets/causality_stacks.npz as codes of ``encode_magnitude`` (the page's ``LEVELS`` shades over
``DECADES`` decades), one entry per distinct stack. tests/test_widgets.py recomputes some of them and compares.

trained: for every target of ``trained_targets()`` (every 2nd row and column of the 32x32 image), the gradient
magnitude of all of the target's outputs with respect to the input, summed over colour channels and averaged over
``trained_images()`` (8 held-out CIFAR-10 images, one per class), checked to be zero on the target pixel and every
later pixel. Written to pixelcnn_lib/assets/pixelsnail_cifar10_fields.npz the same way, with the largest
gradients. tests/test_widgets.py recomputes a few targets and compares them with the file.
"""

import sys
import time
from pathlib import Path

import numpy as np

from pixelcnn_lib.teaching import causality_explorer as cx
from pixelcnn_lib.teaching import receptive_field as rf

ASSETS = Path(__file__).resolve().parents[1] / "pixelcnn_lib" / "assets"
parts = sys.argv[1:] or ["stacks", "trained"]
if set(parts) - {"stacks", "trained"}:
    sys.exit(f"usage: make_causality_fields.py [stacks] [trained], got {parts}")

if "stacks" in parts:
    start = time.monotonic()
    states = cx.causality_states()
    unique = {rf.stack_key(*setting): state for setting, state in states.items()}
    out = ASSETS / cx.STACKS_ASSET
    np.savez_compressed(
        out, keys=np.array([f"{b}/{k}/{d}" for b, k, d in unique]),
        codes=cx.encode_magnitude(np.stack([state.magnitude for state in unique.values()]), cx.DECADES, cx.LEVELS),
        patterns=np.array("[" + ", ".join(cx.patterns_to_json(state.patterns) for state in unique.values()) + "]"),
        size=cx.EXPLORER_SIZE, decades=cx.DECADES, levels=cx.LEVELS,
        description=np.array("causality_states() at its defaults: for each stack (block/kernel/depth), the gradient "
                             "magnitude at every target (raster order) of a 16x16 grey image with respect to every "
                             "input pixel; codes of encode_magnitude"))
    print(f"wrote {out}: {len(unique)} stacks, {out.stat().st_size:,} bytes, {time.monotonic() - start:.0f} s")

if "trained" in parts:
    from pixelcnn_lib.pretrained import load_pretrained

    start = time.monotonic()
    model = load_pretrained("pixelsnail_cifar10")
    images, picked = cx.trained_images()
    targets = cx.trained_targets(model.image_shape[0])
    magnitude = cx.compute_trained_fields(model, targets, images)
    out = ASSETS / cx.TRAINED_ASSET
    np.savez_compressed(
        out, codes=cx.encode_magnitude(magnitude, cx.DECADES, cx.ASSET_LEVELS), peaks=magnitude.max(axis=(1, 2)),
        targets=targets, images=picked, decades=cx.DECADES, levels=cx.ASSET_LEVELS,
        description=np.array("shipped PixelSNAIL (pixelsnail_cifar10): gradient magnitude of all outputs at each "
                             "target with respect to the input, summed over colour channels, averaged over the "
                             "held-out images (indices into load_holdout_sample()); codes of encode_magnitude"))
    print(f"wrote {out}: {len(targets)} targets x {len(images)} images, {out.stat().st_size:,} bytes, "
          f"{time.monotonic() - start:.0f} s")
