"""Write the 200 held-out CIFAR-10 (JPEG copy) images that ship with the package for the book's figures.

    .venv/bin/python scripts/make_holdout_sample.py /tmp/cifar10/holdout

The folder is the held-out part of the JPEG copy of the CIFAR-10 training split (the last 500 images of
every class, laid out as holdout/<class>/NNNN.jpg by scripts/train_pixelsnail_cifar10.sh). 20 images of
every class are drawn with a fixed seed. The shipped model never trained on them.
"""

import sys
from pathlib import Path

import numpy as np

from pixelcnn_lib.data import find_image_files, load_image_folder, subset_indices

folder = Path(sys.argv[1])
images, labels = load_image_folder(folder, 32, return_labels=True)
files = find_image_files(folder)
classes = sorted({p.relative_to(folder).parts[0] for p in files})
picked = subset_indices(len(images), 200, labels, seed=0)
picked = picked[np.argsort(labels[picked], kind="stable")]
names = np.array([str(files[i].relative_to(folder)) for i in picked])
out = Path(__file__).resolve().parents[1] / "pixelcnn_lib" / "assets" / "cifar10_jpeg_holdout.npz"
np.savez_compressed(out, images=images[picked], labels=labels[picked], classes=np.array(classes), files=names,
                    description=np.array("CIFAR-10 (JPEG copy): 200 held-out images (20 per class) of the "
                                         "training split's last 500 per class, never trained on"))
print(f"wrote {out}: {len(picked)} images, {out.stat().st_size:,} bytes")
