"""Run on one Keras backend with TensorFlow made unimportable: build, initialise, train, sample, save.

    KERAS_BACKEND=jax python tests/backend_check.py OUT_DIR

Every model of the family is built small, its receptive field found by gradient
(the teaching tools' gradient on this backend) and held against the analytic one
(PixelCNN++, which has none, against causality),
initialised from data, trained for a few steps with ``model.fit``, sampled pixel
by pixel and scored; the PixelSNAIL
model is saved to OUT_DIR/pixelsnail.keras with its log-probabilities of fixed
images in OUT_DIR/pixelsnail.npz, and the shipped model (trained on TensorFlow)
scores fixed images (OUT_DIR/shipped.npz). A JSON summary is printed on the last line.
``tests/test_backends_without_tensorflow.py`` runs it on JAX and PyTorch.
"""

from __future__ import annotations

import json
import sys

sys.modules["tensorflow"] = None  # any import of TensorFlow now fails: the machine may not have it

import keras  # noqa: E402
import numpy as np  # noqa: E402

import pixelcnn_lib as pl  # noqa: E402
from pixelcnn_lib.teaching import receptive_field as rf  # noqa: E402

CONFIGS = {
    "pixelcnn": dict(filters=12, depth=1, head_filters=24),
    "gated_pixelcnn": dict(filters=12, depth=2, head_filters=24),
    "pixelcnn_pp": dict(filters=12, depth=1, num_mixtures=2, dropout=0.5),
    "pixelsnail": dict(filters=12, depth=1, resnets_per_block=1, num_mixtures=2, dropout=0.5),
}


def fixed_images():
    return np.random.default_rng(0).integers(0, 256, (4, 8, 8, 3), dtype=np.uint8)


def shipped_images():
    return np.random.default_rng(1).integers(0, 256, (2, 32, 32, 3), dtype=np.uint8)


def main(out_dir):
    keras.utils.set_random_seed(0)
    images = fixed_images()
    summary = {"backend": keras.backend.backend()}
    for name, hparams in CONFIGS.items():
        model = pl.build_model(name, image_shape=(8, 8, 3), **hparams)
        targets = [(row, col) for row in range(8) for col in range(8)]
        by_gradient = rf.receptive_field_by_gradient(model, (8, 8, 3), targets).any(axis=-1)
        # the pixels before the target and the target itself (its green sees its red): those before the next pixel
        earlier = np.stack([rf.earlier_pixels((8, 8), (row, col + 1)) for row, col in targets])
        # PixelCNN++ changes resolution, so it has no analytic description: its field is checked to be causal
        analytic = None if name == "pixelcnn_pp" else np.stack(
            [rf.analytic_receptive_field(rf.model_spec(model), (8, 8), t) for t in targets])
        pl.data_dependent_init(model, images)
        model.compile(optimizer=keras.optimizers.Adam(1e-3))
        history = model.fit(images, batch_size=2, epochs=2, verbose=0).history["loss"]
        samples = pl.sample(model, 2, seed=1, progress=False)
        again = pl.sample(model, 2, seed=1, progress=False)
        summary[name] = {
            "loss": history, "evaluate": float(model.evaluate(images, verbose=0)),
            "bits_per_dim": pl.bits_per_dim(-pl.log_prob(model, images), (8, 8, 3)),
            "sample_shape": list(samples.shape), "sample_dtype": str(samples.dtype),
            "sample_repeatable": bool((samples == again).all()), "sample_levels": int(len(np.unique(samples))),
            "receptive_field_is_analytic": None if analytic is None else bool((by_gradient == analytic).all()),
            "receptive_field_is_causal": not bool((by_gradient & ~earlier).any()),
            "receptive_field_pixels": int(by_gradient.sum()),
        }
        if name == "pixelsnail":
            model.save(f"{out_dir}/pixelsnail.keras")
            np.savez(f"{out_dir}/pixelsnail.npz", images=images, log_prob=pl.log_prob(model, images))
    from pixelcnn_lib.pretrained import load_pretrained  # the shipped .keras file, trained on TensorFlow

    shipped, some = load_pretrained("pixelsnail_cifar10"), shipped_images()
    np.savez(f"{out_dir}/shipped.npz", images=some, log_prob=pl.log_prob(shipped, some))
    summary["tensorflow_loaded"] = sys.modules.get("tensorflow") is not None
    print(json.dumps(summary))


if __name__ == "__main__":
    main(sys.argv[1])
