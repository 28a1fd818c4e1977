"""Precompute the shipped PixelSNAIL's receptive fields for trained mode of chapter 3's causality explorer.

    .venv/bin/python scripts/make_causality_fields.py      # about four minutes on two CPU cores

For every target of ``trained_targets()`` (every 2nd row and column of the 32x32 image), the gradient magnitude
of all of the target's outputs with respect to the input, summed over colour channels and averaged over
``trained_images()`` (8 held-out CIFAR-10 images, one per class), checked to be zero on the target pixel and every
later pixel. Written to pixelcnn_lib/assets/pixelsnail_cifar10_fields.npz as codes of ``encode_magnitude``
(``ASSET_LEVELS`` shades over ``DECADES`` decades below each target's largest gradient) with the largest
gradients. tests/test_widgets.py recomputes a few targets and compares them with the file.
"""

import time
from pathlib import Path

import numpy as np

from pixelcnn_lib import causality_explorer as cx
from pixelcnn_lib.checkpoints import load_pretrained

start = time.monotonic()
model = load_pretrained("pixelsnail_cifar10")
images, picked = cx.trained_images()
targets = cx.trained_targets(model.image_shape[0])
magnitude = cx.compute_trained_fields(model, targets, images)
out = Path(__file__).resolve().parents[1] / "pixelcnn_lib" / "assets" / cx.TRAINED_ASSET
np.savez_compressed(
    out, codes=cx.encode_magnitude(magnitude, cx.DECADES, cx.ASSET_LEVELS), peaks=magnitude.max(axis=(1, 2)),
    targets=targets, images=picked, decades=cx.DECADES, levels=cx.ASSET_LEVELS,
    description=np.array("shipped PixelSNAIL (pixelsnail_cifar10): gradient magnitude of all outputs at each target "
                         "with respect to the input, summed over colour channels, averaged over the held-out images "
                         "(indices into load_holdout_sample()); codes of encode_magnitude"))
print(f"wrote {out}: {len(targets)} targets x {len(images)} images, {out.stat().st_size:,} bytes, "
      f"{time.monotonic() - start:.0f} s")
