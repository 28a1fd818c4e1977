"""Image sources and ``tf.data`` pipelines.

Every source gives uint8 arrays of shape (N, H, W, C). Sources by name:

* ``"cifar10"``: CIFAR-10 through ``keras.datasets.cifar10`` (needs internet
  the first time; Keras caches it in ``~/.keras/datasets``);
* ``"digits"``: the 1,797 8x8 handwritten digits that ship inside
  scikit-learn (grey, 17 levels scaled to 0..255); offline;
* ``"photos"``: square patches cut from the two photographs that ship inside
  scikit-learn (RGB); offline;
* any other string: a folder of images, searched recursively for
  .jpg/.jpeg/.png files (for example the Kaggle gemstones layout
  ``root/<class>/*.jpg``).
"""

from __future__ import annotations

import os
import warnings
from pathlib import Path

import numpy as np

from ._extras import require

IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png"}
BUILTIN_SOURCES = ("cifar10", "digits", "photos")
SPLITS = ("train", "test")


class DataUnavailableError(RuntimeError):
    """A data source could not be loaded (for example, no internet for CIFAR-10)."""


CIFAR10_CLASSES = ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck")


def load_cifar10(split="train", return_labels=False):
    """CIFAR-10 as uint8 (N, 32, 32, 3) (and int labels (N,) with ``return_labels``). Downloads once through
    Keras."""
    _check_split(split)
    import keras

    try:
        (x_train, y_train), (x_test, y_test) = keras.datasets.cifar10.load_data()
    except Exception as error:  # no internet, proxy refusing, truncated download ...
        raise DataUnavailableError(
            "CIFAR-10 could not be loaded through keras.datasets.cifar10 "
            f"({type(error).__name__}: {error}). It is downloaded from the internet the first time; "
            "on a machine without internet, copy cifar-10-batches-py.tar.gz into ~/.keras/datasets/ "
            "(as Keras would), or pass --data a folder of images instead."
        ) from error
    images = np.asarray(x_train if split == "train" else x_test, dtype=np.uint8)
    if return_labels:
        return images, np.asarray(y_train if split == "train" else y_test, np.int64).reshape(-1)
    return images


GEMSTONE_CLASSES_SHOWN = ("Ruby", "Emerald", "Sapphire Blue", "Amethyst", "Citrine", "Lapis Lazuli", "Malachite",
                          "Onyx Black")
"""The gemstone classes the book's figures draw by name: distinct colours (their held-out images ship)."""

HOLDOUT_SAMPLES = {"pixelsnail_cifar10": "cifar10_jpeg_holdout.npz", "pixelsnail_gemstones": "gemstones_holdout.npz"}


def load_holdout_sample(model="pixelsnail_cifar10"):
    """Held-out images that ship with the package beside a shipped model, for figures.

    Returns (images uint8 (N, 32, 32, 3), labels int (N,), class names).
    For "pixelsnail_cifar10": 200 CIFAR-10 images (JPEG copy), 20 of every
    class, drawn with a fixed seed from the images the shipped model was not
    trained on (the last 500 of every class of the JPEG copy of the training
    split; ``scripts/make_holdout_sample.py`` made the file); a JPEG
    re-encoding of CIFAR-10, not its original pixels. For
    "pixelsnail_gemstones": 32 of the gemstone photographs the model held
    out, reduced to 32x32, labels indexing the model's class names.
    """
    from importlib import resources

    if model not in HOLDOUT_SAMPLES:
        raise ValueError(f"no held-out sample ships for {model!r}; there are {sorted(HOLDOUT_SAMPLES)}")
    with resources.as_file(resources.files("pixelcnn_lib") / "assets" / HOLDOUT_SAMPLES[model]) as path:
        with np.load(path) as arrays:
            return arrays["images"], arrays["labels"], [str(c) for c in arrays["classes"]]


def load_digits(split="train", image_size=8):
    """scikit-learn's 8x8 digits as uint8 (N, S, S, 1); the last 297 images are the test split."""
    _check_split(split)
    sk_digits = require("sklearn.datasets", "the digits").load_digits

    images = np.round(sk_digits().images * (255.0 / 16.0)).astype(np.uint8)[..., None]
    images = images[:1500] if split == "train" else images[1500:]
    return resize_images(images, image_size) if image_size != 8 else images


def load_photo_patches(split="train", image_size=32, count=None, seed=0):
    """Square RGB patches of scikit-learn's two sample photographs.

    The train split comes from the left 80% of each photograph, the test split
    from the right 20%, so they never overlap. ``count`` defaults to 2,000
    (train) or 200 (test). Patches are cut at ``image_size`` pixels (no
    resampling).
    """
    _check_split(split)
    load_sample_images = require("sklearn.datasets", "the sample photos").load_sample_images

    photos = load_sample_images().images
    count = count or (2000 if split == "train" else 200)
    rng = np.random.default_rng(seed + (0 if split == "train" else 1))
    patches = []
    for n in range(count):
        photo = photos[n % len(photos)]
        h, w = photo.shape[:2]
        cut = int(w * 0.8)
        lo, hi = (0, cut - image_size) if split == "train" else (cut, w - image_size)
        top = rng.integers(0, h - image_size + 1)
        left = rng.integers(lo, hi + 1)
        patches.append(photo[top : top + image_size, left : left + image_size])
    return np.stack(patches).astype(np.uint8)


def load_photo_tiles(split="train", tile_size=16, test_fraction=0.1, seed=0):
    """Non-overlapping square tiles of scikit-learn's two sample photographs, split at random.

    Each photograph is cut into a grid of ``tile_size`` x ``tile_size`` tiles
    (no resampling, no overlap), and a seeded random ``test_fraction`` of all
    tiles is the test split, the rest the train split: unlike
    ``load_photo_patches``, whose test patches come from another part of the
    photographs, both splits here are drawn from the same distribution, and no
    pixel is in both. At 16 pixels: 2,080 tiles, 208 of them for testing.
    """
    _check_split(split)
    if not 0 < test_fraction < 1:
        raise ValueError(f"test_fraction must be between 0 and 1, got {test_fraction}")
    if not isinstance(tile_size, int) or tile_size < 1:
        raise ValueError(f"tile_size must be a positive number of pixels, got {tile_size!r}")
    load_sample_images = require("sklearn.datasets", "the sample photos").load_sample_images

    tiles = []
    for photo in load_sample_images().images:
        rows, cols = photo.shape[0] // tile_size, photo.shape[1] // tile_size
        grid = photo[: rows * tile_size, : cols * tile_size].reshape(rows, tile_size, cols, tile_size, 3)
        tiles.append(grid.transpose(0, 2, 1, 3, 4).reshape(-1, tile_size, tile_size, 3))
    tiles = np.concatenate(tiles).astype(np.uint8)
    order = np.random.default_rng(seed).permutation(len(tiles))
    test = int(round(len(tiles) * test_fraction))
    return tiles[np.sort(order[:test])] if split == "test" else tiles[np.sort(order[test:])]


def find_image_files(root):
    """All .jpg/.jpeg/.png files under ``root`` (any depth), sorted."""
    root = Path(root)
    if not root.is_dir():
        raise ValueError(f"image folder {str(root)!r} does not exist or is not a folder")
    return sorted(p for p in root.rglob("*") if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)


def load_image_folder(root, image_size, channels=3, mode="resize", limit=None, return_labels=False,
                      return_files=False):
    """Load every readable image under ``root`` as uint8 (N, S, S, channels).

    Files are read in sorted order, so a folder laid out as ``root/<class>/``
    comes back grouped by class: draw subsets with ``subset_indices``, never by
    slicing. With ``return_labels`` the result is ``(images, labels)``, labels
    int (N,) indexing the sorted top-level sub-folder names (all 0 for files
    directly in ``root``); with ``return_files`` too, the paths of the images
    read, relative to ``root`` (strings, "/"-separated), last.

    mode: "resize" squashes the whole image to S x S; "crop" takes the largest
    centred square, then resizes it to S x S.
    Unreadable files (corrupt images, other files with an image suffix) are
    skipped with one warning that names them; a folder with no usable image
    raises ValueError.
    """
    if mode not in ("resize", "crop"):
        raise ValueError(f"mode must be 'resize' or 'crop', got {mode!r}")
    if channels not in (1, 3):
        raise ValueError(f"channels must be 1 or 3, got {channels!r}")
    from PIL import Image, UnidentifiedImageError

    files = find_image_files(root)
    if limit is not None:
        files = files[:limit]
    classes = _classes_of(root, files)
    class_index = {name: k for k, name in enumerate(classes)}
    images, labels, read, skipped = [], [], [], []
    for path in files:
        try:
            with Image.open(path) as image:
                image = image.convert("RGB" if channels == 3 else "L")
                if mode == "crop":
                    side = min(image.size)
                    left, top = (image.width - side) // 2, (image.height - side) // 2
                    image = image.crop((left, top, left + side, top + side))
                if image.size != (image_size, image_size):
                    image = image.resize((image_size, image_size), Image.Resampling.BICUBIC)
                array = np.asarray(image, dtype=np.uint8)
        except (OSError, UnidentifiedImageError, ValueError, SyntaxError, EOFError,
                Image.DecompressionBombError) as error:
            skipped.append(f"{path} ({type(error).__name__})")
            continue
        images.append(array if channels == 3 else array[..., None])
        parts = path.relative_to(root).parts
        labels.append(class_index[parts[0]] if len(parts) > 1 else 0)
        read.append("/".join(parts))
    if skipped:
        shown = ", ".join(skipped[:10]) + (f", ... ({len(skipped) - 10} more)" if len(skipped) > 10 else "")
        warnings.warn(f"skipped {len(skipped)} unreadable file(s) in {root}: {shown}", stacklevel=2)
    if not images:
        raise ValueError(
            f"no usable image in folder {str(root)!r}: found {len(files)} file(s) with suffix "
            f"{sorted(IMAGE_SUFFIXES)}, {len(skipped)} unreadable"
        )
    result = (np.stack(images),) + ((np.asarray(labels, np.int64),) if return_labels else ()) + \
        ((read,) if return_files else ())
    return result if len(result) > 1 else result[0]


def folder_classes(root):
    """The class names of an image folder laid out as ``root/<class>/...``: its sorted top-level sub-folders
    that hold images (the names ``load_image_folder``'s labels index)."""
    return _classes_of(root, find_image_files(root))


def _classes_of(root, files):
    """The sorted top-level sub-folder names of ``root`` that ``files`` lie in (files in ``root`` itself have none)."""
    root = Path(root)
    return sorted({p.relative_to(root).parts[0] for p in files if len(p.relative_to(root).parts) > 1})


def load_labelled(source, split="train", image_size=None, channels=None):
    """Images with class labels: (images uint8 (N, S, S, C), labels int (N,), class names, files).

    CIFAR-10 gives its own labels and names (files: None); a folder laid out
    as ``root/<class>/...`` gives the sorted sub-folder names, and ``files``
    the path of every image relative to the folder. A source without classes
    (a flat folder, digits, photos) is an error, named, and so are images
    lying directly in ``root``, in no class.
    """
    if source == "cifar10":
        images, labels = load_cifar10(split, return_labels=True)
        if image_size is not None:
            images = resize_images(images, image_size)
        if channels is not None:
            images = convert_channels(images, channels)
        return images, labels, list(CIFAR10_CLASSES), None
    if source in BUILTIN_SOURCES or not os.path.isdir(source):
        raise ValueError(f"{source!r} has no class labels: class-conditional training needs cifar10 or an image "
                         "folder laid out as root/<class name>/<images>")
    if image_size is None:
        raise ValueError("image_size is required for an image folder")
    classes = folder_classes(source)
    if not classes:
        raise ValueError(f"image folder {source!r} has no class sub-folders: class-conditional training needs "
                         "root/<class name>/<images>")
    loose = [p.name for p in find_image_files(source) if p.parent == Path(source)]
    if loose:  # load_image_folder would give them label 0, the first class's
        raise ValueError(f"image folder {source!r} has images outside its class sub-folders, in no class: "
                         f"{loose[:10]}{' ...' if len(loose) > 10 else ''}; move them into root/<class name>/")
    images, labels, files = load_image_folder(source, image_size, channels or 3, return_labels=True,
                                              return_files=True)
    return images, labels, classes, files


def holdout_indices(labels, per_class, seed=0, names=None):
    """Indices of ``per_class`` items of every class, drawn with ``seed`` (sorted): a held-out split.

    Each class keeps at least one item for training: classes with at most
    ``per_class`` items are an error that names them all (by
    ``names[label]`` when the class names are given).
    """
    labels = np.asarray(labels)
    if isinstance(per_class, bool) or not isinstance(per_class, (int, np.integer)) or per_class < 1:
        raise ValueError(f"per_class must be a positive int, got {per_class!r}")
    classes, counts = np.unique(labels, return_counts=True)
    small = [f"{repr(names[c]) if names is not None else c} has {n}" for c, n in zip(classes, counts)
             if n <= per_class]
    if small:
        raise ValueError(f"too few images to hold out {per_class} of every class and keep one for training: "
                         f"class {', class '.join(small)}")
    rng = np.random.default_rng(seed)
    chosen = [rng.permutation(np.flatnonzero(labels == c))[:per_class] for c in classes]
    return np.sort(np.concatenate(chosen))


def subset_indices(count, size, labels=None, seed=0):
    """Indices of a seeded random subset of ``size`` of ``count`` items (all of them if fewer).

    With ``labels`` (int (count,)) the subset is balanced: the classes take
    turns, each contributing its items in a seeded random order, so every
    class gets ``size // classes`` items or one more (fewer only where a class
    runs out). Use it wherever a few images stand for a data set (the
    data-dependent initialisation, validation): data read from a folder is
    sorted by class, and its first images are one class.
    """
    if count < 1:
        raise ValueError("cannot draw a subset of an empty data set")
    if size < 1:
        raise ValueError(f"subset size must be positive, got {size}")
    rng = np.random.default_rng(seed)
    if labels is None:
        return np.sort(rng.permutation(count)[:size])
    labels = np.asarray(labels)
    if labels.shape != (count,):
        raise ValueError(f"labels must have shape ({count},), got {labels.shape}")
    per_class = [rng.permutation(np.flatnonzero(labels == c)) for c in np.unique(labels)]
    rounds = max(len(members) for members in per_class)
    order = [members[r] for r in range(rounds) for members in per_class if r < len(members)]
    return np.sort(np.asarray(order[:size], np.int64))


def resize_images(images, image_size):
    """uint8 (N, H, W, C) -> uint8 (N, S, S, C) with area / bicubic resampling."""
    tf = require("tensorflow", "resizing images")
    images = np.asarray(images)
    if images.shape[1] == image_size and images.shape[2] == image_size:
        return images
    method = "area" if images.shape[1] > image_size else "bicubic"
    resized = tf.image.resize(tf.cast(images, tf.float32), (image_size, image_size), method=method)
    return np.asarray(tf.cast(tf.clip_by_value(tf.round(resized), 0, 255), tf.uint8))


def load_source(source, split="train", image_size=None, channels=None):
    """Load a source by name or folder path as uint8 (N, S, S, C).

    image_size: resize to this size (default: the source's own size; required
    for folders). channels: 1 or 3 to convert (default: the source's own).
    For a folder, ``split`` is ignored: the folder is the data set.
    """
    _check_split(split)
    if source == "cifar10":
        images = load_cifar10(split)
    elif source == "digits":
        images = load_digits(split)
    elif source == "photos":
        images = load_photo_patches(split, image_size or 32)
    else:
        if not os.path.isdir(source):
            raise ValueError(
                f"unknown data source {source!r}: it is none of {list(BUILTIN_SOURCES)} and no folder "
                "of that name exists; give one of those names or the path of an image folder"
            )
        if image_size is None:
            raise ValueError("image_size is required for an image folder")
        return load_image_folder(source, image_size, channels or 3)
    if image_size is not None:
        images = resize_images(images, image_size)
    if channels is not None and channels != images.shape[-1]:
        images = convert_channels(images, channels)
    return images


def convert_channels(images, channels):
    """Grey <-> RGB for uint8 (N, H, W, C) arrays."""
    if channels == images.shape[-1]:
        return images
    if channels == 3:
        return np.repeat(images, 3, axis=-1)
    if channels == 1:
        grey = images.astype(np.float32) @ np.array([0.299, 0.587, 0.114], np.float32)
        return np.round(grey).astype(np.uint8)[..., None]
    raise ValueError(f"channels must be 1 or 3, got {channels!r}")


def epoch_order(num_images, seed, epoch, shuffle=True):
    """The order in which epoch ``epoch`` visits the images: a permutation seeded by (seed, epoch) alone."""
    return np.random.default_rng([seed, epoch]).permutation(num_images) if shuffle else np.arange(num_images)


def _epoch_seed(seed, epoch):
    return (seed * 100003 + epoch) % (2**31 - 1)


def _flip_half(image, flip_seed, position):
    """The image mirrored left-right with probability 1/2, decided by (flip_seed, position) alone."""
    tf = require("tensorflow", "tf.data pipelines")
    heads = tf.random.stateless_uniform([], seed=tf.stack([flip_seed, tf.cast(position, tf.int32)])) < 0.5
    return tf.where(heads, image[:, ::-1], image)


def _rotate_quarter(image, flip_seed, position):
    """The image turned by 0, 90, 180 or 270 degrees, each with probability 1/4, decided by (flip_seed,
    position) alone (a draw independent of ``_flip_half``'s). Square images only."""
    tf = require("tensorflow", "tf.data pipelines")
    seed = tf.stack([-1 - flip_seed, tf.cast(position, tf.int32)])
    return tf.image.rot90(image, tf.random.stateless_uniform([], seed=seed, minval=0, maxval=4, dtype=tf.int32))


def training_batches(images, batch_size, first_step, num_steps, flip=False, seed=0, labels=None, rotate=False):
    """The batches of steps ``first_step`` .. ``first_step + num_steps - 1`` of a training run, as ``tf.data``.

    A run goes through the images epoch after epoch, each epoch in its own
    seeded order (``epoch_order``) with its last partial batch dropped: step
    s is batch s of ``make_dataset(..., epoch=e)`` chained over e. Starting
    at ``first_step`` builds only what is left, so a resumed run sees exactly
    the batches it was about to see. Yields uint8 (batch_size, H, W, C), or,
    with ``labels`` (int (N,)), dicts ``{"images": ..., "labels": ...}`` as a
    class-conditional model takes them. ``flip`` mirrors half the images
    left-right, ``rotate`` turns each by a random multiple of 90 degrees
    (both: the eight symmetries of the square), each decided by the run's
    seed and the image's place in its epoch.
    """
    tf = require("tensorflow", "tf.data pipelines")
    images = np.asarray(images)
    per_epoch = len(images) // batch_size
    if per_epoch < 1:
        raise ValueError(f"batch_size {batch_size} is larger than the data set ({len(images)} images)")
    if labels is not None:
        labels = np.asarray(labels)
        if labels.shape != (len(images),):
            raise ValueError(f"{len(labels)} labels were given for {len(images)} images")
    first_epoch, last_epoch = first_step // per_epoch, (first_step + num_steps - 1) // per_epoch
    used = per_epoch * batch_size
    order = np.concatenate([epoch_order(len(images), seed, e)[:used] for e in range(first_epoch, last_epoch + 1)])
    flip_seeds = np.repeat([_epoch_seed(seed, e) for e in range(first_epoch, last_epoch + 1)], used)
    positions = np.tile(np.arange(used), last_epoch - first_epoch + 1)
    start = (first_step - first_epoch * per_epoch) * batch_size
    window = slice(start, start + num_steps * batch_size)
    pixels = tf.constant(images)

    def image(i, s, p):
        x = tf.gather(pixels, i)
        x = _flip_half(x, s, p) if flip else x
        return _rotate_quarter(x, s, p) if rotate else x

    ds = tf.data.Dataset.from_tensor_slices((order[window], flip_seeds[window].astype(np.int32), positions[window]))
    if labels is None:
        ds = ds.map(image, num_parallel_calls=tf.data.AUTOTUNE)
    else:
        classes = tf.constant(labels.astype(np.int32))
        ds = ds.map(lambda i, s, p: {"images": image(i, s, p), "labels": tf.gather(classes, i)},
                    num_parallel_calls=tf.data.AUTOTUNE)
    return ds.batch(batch_size, drop_remainder=True).prefetch(tf.data.AUTOTUNE)


def make_dataset(images, batch_size, shuffle=True, flip=False, seed=0, epoch=0, drop_remainder=True):
    """A ``tf.data`` pipeline over uint8 images: shuffle, flip, batch, prefetch.

    The shuffle order depends only on ``seed`` and ``epoch``, so a resumed run
    can rebuild exactly the batches it was about to see.
    Yields uint8 (batch_size, H, W, C).
    """
    tf = require("tensorflow", "tf.data pipelines")
    images = np.asarray(images)
    if images.dtype != np.uint8 or images.ndim != 4:
        raise ValueError(f"images must be uint8 (N, H, W, C), got {images.dtype} {images.shape}")
    if batch_size < 1:
        raise ValueError(f"batch_size must be positive, got {batch_size}")
    if drop_remainder and len(images) < batch_size:
        raise ValueError(f"batch_size {batch_size} is larger than the data set ({len(images)} images)")
    # a numpy permutation: tf.data's shuffle would also depend on TensorFlow's global seed
    images = images[epoch_order(len(images), seed, epoch, shuffle)]
    ds = tf.data.Dataset.from_tensor_slices(images)
    if flip:
        flip_seed = _epoch_seed(seed, epoch)
        ds = ds.enumerate().map(lambda i, x: _flip_half(x, flip_seed, i), num_parallel_calls=tf.data.AUTOTUNE)
    return ds.batch(batch_size, drop_remainder=drop_remainder).prefetch(tf.data.AUTOTUNE)


def _check_split(split):
    if split not in SPLITS:
        raise ValueError(f"split must be one of {SPLITS}, got {split!r}")
