"""``model.fit`` on JAX under Keras's distribution API: data-parallel over two host CPU devices, as over GPUs.

    KERAS_BACKEND=jax python tests/jax_data_parallel.py

The same small PixelSNAIL is trained twice from the same seed on the same
batches, on one device and with ``keras.distribution.DataParallel`` over two
(XLA is told the host has two devices); the JSON on the last line holds both
loss histories and the devices. ``tests/test_backends_without_tensorflow.py`` runs it.
"""

from __future__ import annotations

import json
import os
import sys

os.environ["XLA_FLAGS"] = "--xla_force_host_platform_device_count=2"
sys.modules["tensorflow"] = None  # any import of TensorFlow now fails: the machine may not have it

import keras  # noqa: E402
import numpy as np  # noqa: E402

import pixelcnn_lib as pl  # noqa: E402


def fit(images):
    keras.utils.set_random_seed(0)
    model = pl.build_model("pixelsnail", (8, 8, 1), filters=8, depth=1, resnets_per_block=1, num_mixtures=2,
                           dropout=0.0)
    pl.data_dependent_init(model, images[:32])
    model.compile(optimizer=keras.optimizers.Adam(3e-3))
    return model.fit(images, batch_size=16, epochs=2, verbose=0, shuffle=False).history["loss"]


def main():
    images = np.random.default_rng(0).integers(0, 256, (64, 8, 8, 1), dtype=np.uint8)
    one_device = fit(images)
    distribution = keras.distribution.DataParallel()
    keras.distribution.set_distribution(distribution)
    print(json.dumps({"devices": list(distribution.device_mesh.devices.ravel().tolist()),
                      "one_device": one_device, "data_parallel": fit(images)}))


if __name__ == "__main__":
    main()
