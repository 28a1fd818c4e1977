"""Image sources and the tf.data pipeline: good folders, bad folders, offline sources, shuffling, flips."""

import io
import struct
import urllib.error
import warnings
import zlib

import numpy as np
import pytest
import tensorflow as tf
from PIL import Image

from pixelcnn_lib import data as D


def write_image(path, array, fmt=None):
    path.parent.mkdir(parents=True, exist_ok=True)
    array = np.asarray(array, np.uint8)
    Image.fromarray(array.squeeze(-1) if array.ndim == 3 and array.shape[-1] == 1 else array).save(path, fmt)
    return path


def solid(colour, h=8, w=8):
    return np.broadcast_to(np.asarray(colour, np.uint8), (h, w, 3)).copy()


def png_bytes(array):
    buffer = io.BytesIO()
    Image.fromarray(np.asarray(array, np.uint8)).save(buffer, "PNG")
    return buffer.getvalue()


def huge_png_header():
    """A valid-looking 30000 x 30000 PNG: PIL refuses it as a decompression bomb."""
    def chunk(kind, body):
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body) & 0xFFFFFFFF)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", 30000, 30000, 8, 2, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(b"\0" * 64)) + chunk(b"IEND", b""))


# --- image folders ---------------------------------------------------------------------------------

COLOURS = {  # relative path -> solid colour; nested class folders, every suffix spelling
    "a/red.png": (255, 0, 0),
    "a/deeper/green.PNG": (0, 255, 0),
    "b/blue.jpg": (0, 0, 255),
    "b/grey.JPEG": (128, 128, 128),
    "c/yellow.jpeg": (255, 255, 0),
    "top.JPG": (0, 255, 255),
}


@pytest.fixture
def colour_folder(tmp_path):
    root = tmp_path / "gems"
    for rel, colour in COLOURS.items():
        fmt = "PNG" if rel.lower().endswith(".png") else "JPEG"
        write_image(root / rel, solid(colour, 12, 10), fmt)
    (root / "notes.txt").write_text("not an image")
    write_image(root / "ignored.gif", solid((1, 2, 3)), "GIF")  # not one of the suffixes
    return root


def test_find_image_files_recurses_and_matches_suffixes_case_insensitively(colour_folder):
    files = D.find_image_files(colour_folder)
    assert [p.relative_to(colour_folder).as_posix() for p in files] == sorted(COLOURS)


@pytest.mark.parametrize("mode", ["resize", "crop"])
def test_image_folder_gives_uint8_squares_with_the_right_colours(colour_folder, mode):
    images = D.load_image_folder(colour_folder, 6, mode=mode)
    assert images.dtype == np.uint8 and images.shape == (len(COLOURS), 6, 6, 3)
    for image, rel in zip(images, sorted(COLOURS)):
        expected = np.asarray(COLOURS[rel], np.int32)
        tolerance = 0 if rel.lower().endswith(".png") else 6  # JPEG is lossy, even on flat colour
        assert np.abs(image.astype(np.int32) - expected).max() <= tolerance, rel


def test_crop_takes_the_centre_square_and_resize_keeps_the_whole_image(tmp_path):
    image = solid((0, 0, 255), 8, 12)  # 8 high, 12 wide: blue borders two columns wide
    image[:, 2:10] = (255, 0, 0)  # red centre square
    write_image(tmp_path / "wide.png", image)
    cropped = D.load_image_folder(tmp_path, 8, mode="crop")
    assert cropped.shape == (1, 8, 8, 3)
    np.testing.assert_array_equal(cropped[0], solid((255, 0, 0)))
    cropped_small = D.load_image_folder(tmp_path, 4, mode="crop")
    np.testing.assert_array_equal(cropped_small[0], solid((255, 0, 0), 4, 4))
    resized = D.load_image_folder(tmp_path, 8, mode="resize")
    # squashing the whole width keeps blue at the left and right edges
    assert resized[0, :, 0, 2].min() > 200 and resized[0, :, -1, 2].min() > 200
    assert resized[0, :, 4, 0].min() > 200 and resized[0, :, 4, 2].max() < 50


def test_grey_conversion(tmp_path):
    write_image(tmp_path / "red.png", solid((255, 0, 0)))
    write_image(tmp_path / "white.png", solid((255, 255, 255)))
    grey = D.load_image_folder(tmp_path, 8, channels=1)
    assert grey.shape == (2, 8, 8, 1) and grey.dtype == np.uint8
    assert abs(int(grey[0].min()) - 76) <= 1 and abs(int(grey[0].max()) - 76) <= 1  # 0.299 * 255
    assert grey[1].min() == 255
    via_source = D.load_source(str(tmp_path), image_size=8, channels=1)
    np.testing.assert_array_equal(via_source, grey)


def test_limit_and_bad_arguments(colour_folder):
    assert len(D.load_image_folder(colour_folder, 4, limit=2)) == 2
    with pytest.raises(ValueError, match="mode"):
        D.load_image_folder(colour_folder, 4, mode="stretch")
    with pytest.raises(ValueError, match="channels"):
        D.load_image_folder(colour_folder, 4, channels=2)


def test_unreadable_files_are_skipped_with_one_warning_naming_them(tmp_path):
    good = np.random.default_rng(0).integers(0, 256, (8, 8, 3), dtype=np.uint8)
    write_image(tmp_path / "cls" / "good1.png", good)
    write_image(tmp_path / "cls" / "good2.jpg", good, "JPEG")
    full = png_bytes(good)
    (tmp_path / "cls" / "truncated.png").write_bytes(full[: len(full) // 2])
    (tmp_path / "x.jpg").write_text("this is a text file with an image name")
    (tmp_path / "empty.jpeg").write_bytes(b"")
    (tmp_path / "huge.png").write_bytes(huge_png_header())

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        images = D.load_image_folder(tmp_path, 8)
    messages = [str(w.message) for w in caught if "unreadable" in str(w.message)]
    assert len(messages) == 1, messages
    message = messages[0]
    assert "skipped 4 unreadable" in message
    for name in ("truncated.png", "x.jpg", "empty.jpeg", "huge.png"):
        assert name in message
    assert "good1" not in message and "good2" not in message
    assert images.shape == (2, 8, 8, 3)
    np.testing.assert_array_equal(images[0], good)  # cls/good1.png, lossless

    with pytest.warns(UserWarning, match=r"skipped 4 unreadable file\(s\)"):
        D.load_source(str(tmp_path), image_size=8)


def test_folder_without_usable_images_is_an_error_naming_it(tmp_path):
    folder = tmp_path / "broken"
    folder.mkdir()
    (folder / "a.jpg").write_text("text")
    (folder / "readme.txt").write_text("text")
    with pytest.warns(UserWarning, match="skipped 1"):
        with pytest.raises(ValueError, match="no usable image") as info:
            D.load_image_folder(folder, 8)
    assert str(folder) in str(info.value)

    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(ValueError, match="no usable image") as info:
        D.load_source(str(empty), image_size=8)
    assert str(empty) in str(info.value)


def test_missing_folder_and_unknown_source(tmp_path):
    missing = tmp_path / "does-not-exist"
    with pytest.raises(ValueError, match="does not exist") as info:
        D.load_image_folder(missing, 8)
    assert str(missing) in str(info.value)
    with pytest.raises(ValueError, match="no folder") as info:
        D.load_source(str(missing), image_size=8)
    assert str(missing) in str(info.value)
    with pytest.raises(ValueError, match="unknown data source 'mnist'") as info:
        D.load_source("mnist")
    assert "digits" in str(info.value) and "cifar10" in str(info.value)
    with pytest.raises(ValueError, match="split"):
        D.load_source("digits", split="validation")


def test_folder_needs_an_image_size(colour_folder):
    with pytest.raises(ValueError, match="image_size"):
        D.load_source(str(colour_folder))


# --- built-in offline sources ----------------------------------------------------------------------

def test_digits_are_grey_8x8_with_disjoint_splits():
    from sklearn.datasets import load_digits

    train, test = D.load_source("digits", "train"), D.load_source("digits", "test")
    assert train.dtype == np.uint8 and test.dtype == np.uint8
    assert train.shape[1:] == (8, 8, 1) and test.shape[1:] == (8, 8, 1)
    assert train.max() == 255 and train.min() == 0
    # the two splits partition the 1,797 images: no image index is in both
    reference = np.round(load_digits().images * (255.0 / 16.0)).astype(np.uint8)[..., None]
    assert len(train) + len(test) == len(reference)
    np.testing.assert_array_equal(np.concatenate([train, test]), reference)
    rgb16 = D.load_source("digits", "test", image_size=16, channels=3)
    assert rgb16.shape == (len(test), 16, 16, 3) and rgb16.dtype == np.uint8
    np.testing.assert_array_equal(rgb16[..., 0], rgb16[..., 2])


def _locate(photos, patch):
    """(photo index, top, left) where ``patch`` lies in one of the photographs."""
    size = patch.shape[0]
    for k, photo in enumerate(photos):
        ys, xs = np.nonzero(np.all(photo[: photo.shape[0] - size + 1, : photo.shape[1] - size + 1] == patch[0, 0],
                                   axis=-1))
        for y, x in zip(ys, xs):
            if np.array_equal(photo[y: y + size, x: x + size], patch):
                return k, y, x
    raise AssertionError("patch not found in the photographs")


def test_photos_are_rgb_patches_from_disjoint_regions():
    from sklearn.datasets import load_sample_images

    photos = load_sample_images().images
    size = 12
    train = D.load_photo_patches("train", size, count=12)
    test = D.load_photo_patches("test", size, count=12)
    assert train.shape == (12, size, size, 3) and test.shape == (12, size, size, 3)
    assert train.dtype == np.uint8
    for patch in train:
        k, _, left = _locate(photos, patch)
        assert left + size <= int(photos[k].shape[1] * 0.8)
    for patch in test:
        k, _, left = _locate(photos, patch)
        assert left >= int(photos[k].shape[1] * 0.8)
    default = D.load_source("photos", "test", image_size=16)
    assert default.shape == (200, 16, 16, 3) and default.dtype == np.uint8
    np.testing.assert_array_equal(D.load_photo_patches("test", size, count=12), test)  # reproducible


def test_photo_tiles_split_one_grid_at_random_into_disjoint_parts():
    from collections import Counter

    from sklearn.datasets import load_sample_images

    photos = load_sample_images().images
    grid = [[p[r:r + 16, c:c + 16].tobytes() for r in range(0, p.shape[0] - 15, 16)
             for c in range(0, p.shape[1] - 15, 16)] for p in photos]  # each photograph's 16-pixel grid, cut here
    train, test = D.load_photo_tiles("train"), D.load_photo_tiles("test")
    assert train.shape[1:] == test.shape[1:] == (16, 16, 3) and train.dtype == test.dtype == np.uint8
    assert len(test) == 208 and len(train) + len(test) == sum(map(len, grid)) == 2080
    # together the two splits are exactly the grid's tiles, each once: a partition, so no pixel is in both
    assert Counter(t.tobytes() for t in np.concatenate([train, test])) == Counter(grid[0] + grid[1])
    # the test tiles come from both photographs, spread over them (not one region, as load_photo_patches' are)
    from_first = sum(t.tobytes() in set(grid[0]) for t in test)
    assert 50 < from_first < 158
    np.testing.assert_array_equal(D.load_photo_tiles("test"), test)  # seeded
    assert not np.array_equal(D.load_photo_tiles("test", seed=1), test)
    with pytest.raises(ValueError, match="test_fraction"):
        D.load_photo_tiles("test", test_fraction=1.0)
    with pytest.raises(ValueError, match="tile_size"):
        D.load_photo_tiles("test", tile_size=0)
    with pytest.raises(ValueError, match="split must be one of"):
        D.load_photo_tiles("validation")


@pytest.mark.parametrize("error", [urllib.error.URLError("no route to host"), OSError("Network is unreachable")])
def test_cifar10_offline_fails_with_a_message_on_how_to_get_it(monkeypatch, error):
    import keras

    def offline():
        raise error

    monkeypatch.setattr(keras.datasets.cifar10, "load_data", offline)
    with pytest.raises(D.DataUnavailableError) as info:
        D.load_source("cifar10", "train")
    message = str(info.value)
    assert type(error).__name__ in message
    assert "internet" in message and "cifar-10-batches-py.tar.gz" in message and "~/.keras/datasets" in message
    assert "folder of images" in message


def test_cifar10_through_keras_when_available(monkeypatch):
    import keras

    x_train = np.zeros((5, 32, 32, 3), np.uint8)
    x_test = np.full((3, 32, 32, 3), 7, np.uint8)
    monkeypatch.setattr(keras.datasets.cifar10, "load_data",
                        lambda: ((x_train, np.zeros(5)), (x_test, np.zeros(3))))
    assert D.load_source("cifar10", "train").shape == (5, 32, 32, 3)
    test = D.load_source("cifar10", "test", image_size=16, channels=1)
    assert test.shape == (3, 16, 16, 1) and test.dtype == np.uint8 and (test == 7).all()


# --- make_dataset ----------------------------------------------------------------------------------

def numbered_images(n, size=4):
    """uint8 (n, size, size, 1): image k is filled with the value k (k < 256)."""
    return np.repeat(np.arange(n, dtype=np.uint8), size * size).reshape(n, size, size, 1)


def order(ds):
    return np.concatenate([batch.numpy()[:, 0, 0, 0] for batch in ds])


def test_make_dataset_batches_uint8_images():
    images = numbered_images(10)
    batches = list(D.make_dataset(images, 4, seed=1))
    assert len(batches) == 2  # the remainder is dropped
    for batch in batches:
        assert batch.dtype == tf.uint8 and tuple(batch.shape) == (4, 4, 4, 1)
    seen = order(D.make_dataset(images, 4, seed=1))
    assert len(set(seen.tolist())) == 8
    everything = order(D.make_dataset(images, 4, shuffle=False, drop_remainder=False))
    np.testing.assert_array_equal(everything, np.arange(10))


def test_shuffle_order_depends_only_on_seed_and_epoch():
    images = numbered_images(40)
    first = order(D.make_dataset(images, 8, seed=3, epoch=0))
    assert sorted(first.tolist()) == list(range(40))
    assert not np.array_equal(first, np.arange(40))
    np.testing.assert_array_equal(order(D.make_dataset(images, 8, seed=3, epoch=0)), first)
    assert not np.array_equal(order(D.make_dataset(images, 8, seed=3, epoch=1)), first)
    assert not np.array_equal(order(D.make_dataset(images, 8, seed=4, epoch=0)), first)
    # TensorFlow's global seed (set by keras.utils.set_random_seed, for example) must not matter
    tf.random.set_seed(12345)
    np.testing.assert_array_equal(order(D.make_dataset(images, 8, seed=3, epoch=0)), first)


def test_flips_mirror_some_images_reproducibly():
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (32, 4, 6, 3), dtype=np.uint8)
    out = np.concatenate([b.numpy() for b in D.make_dataset(images, 8, shuffle=False, flip=True, seed=2)])
    flipped = np.array([np.array_equal(o, x[:, ::-1]) for o, x in zip(out, images)])
    kept = np.array([np.array_equal(o, x) for o, x in zip(out, images)])
    assert np.all(flipped | kept)
    assert 0 < flipped.sum() < len(images)
    again = np.concatenate([b.numpy() for b in D.make_dataset(images, 8, shuffle=False, flip=True, seed=2)])
    np.testing.assert_array_equal(again, out)
    plain = np.concatenate([b.numpy() for b in D.make_dataset(images, 8, shuffle=False)])
    np.testing.assert_array_equal(plain, images)


def test_make_dataset_rejects_bad_input():
    images = numbered_images(5)
    with pytest.raises(ValueError, match="larger than the data set"):
        D.make_dataset(images, 6)
    assert len(list(D.make_dataset(images, 6, drop_remainder=False))) == 1
    with pytest.raises(ValueError, match="uint8"):
        D.make_dataset(images.astype(np.float32), 2)
    with pytest.raises(ValueError, match="uint8"):
        D.make_dataset(images[..., 0], 2)
    with pytest.raises(ValueError, match="positive"):
        D.make_dataset(images, 0)


def test_shipped_holdout_sample_is_balanced_uint8_cifar():
    from pixelcnn_lib.data import load_holdout_sample

    images, labels, classes = load_holdout_sample()
    assert images.shape == (200, 32, 32, 3) and images.dtype == np.uint8
    assert len(classes) == 10 and "airplane" in classes
    assert np.bincount(labels).tolist() == [20] * 10
    assert len(np.unique(images.reshape(200, -1), axis=0)) == 200  # 200 different images


# --- labelled data: class folders, held-out splits, labelled batches ------------------------------

def test_load_labelled_folder_gives_class_names_relative_files_and_labels(tmp_path):
    root = tmp_path / "gems"
    layout = {"ruby/r1.png": (255, 0, 0), "ruby/cut/r2.png": (200, 0, 0), "amber/a1.png": (255, 190, 0),
              "jade/j1.png": (0, 160, 80), "jade/j2.png": (0, 120, 60)}
    for rel, colour in layout.items():
        write_image(root / rel, solid(colour, 10, 12))
    images, labels, names, files = D.load_labelled(str(root), "train", 8)
    assert names == ["amber", "jade", "ruby"] == D.folder_classes(root)
    assert files == sorted(layout)  # relative, "/"-separated, in the order of the images
    assert images.shape == (5, 8, 8, 3) and images.dtype == np.uint8
    assert labels.dtype == np.int64
    for image, label, rel in zip(images, labels, files):
        assert names[label] == rel.split("/")[0]
        np.testing.assert_array_equal(image, solid(layout[rel]))  # PNG, flat colour: exact
    grey = D.load_labelled(str(root), "test", 4, channels=1)[0]
    assert grey.shape == (5, 4, 4, 1)
    same, with_labels, read = D.load_image_folder(root, 8, return_labels=True, return_files=True)
    np.testing.assert_array_equal(same, images)
    np.testing.assert_array_equal(with_labels, labels)
    assert read == files


def test_load_labelled_refuses_sources_without_classes(tmp_path):
    write_image(tmp_path / "flat" / "a.png", solid((1, 2, 3)))
    with pytest.raises(ValueError, match="no class sub-folders"):
        D.load_labelled(str(tmp_path / "flat"), "train", 8)
    write_image(tmp_path / "mixed" / "cls" / "a.png", solid((1, 2, 3)))
    write_image(tmp_path / "mixed" / "loose.png", solid((1, 2, 3)))
    with pytest.raises(ValueError, match=r"in no class: \['loose.png'\]"):  # not silently the first class
        D.load_labelled(str(tmp_path / "mixed"), "train", 8)
    for source in ("digits", "photos", str(tmp_path / "missing")):
        with pytest.raises(ValueError, match="has no class labels"):
            D.load_labelled(source, "train", 8)


def test_load_labelled_cifar10_gives_its_own_labels_and_names(monkeypatch):
    import keras

    x_test = np.full((4, 32, 32, 3), 9, np.uint8)
    y_test = np.array([[3], [0], [9], [3]])
    monkeypatch.setattr(keras.datasets.cifar10, "load_data",
                        lambda: ((np.zeros((2, 32, 32, 3), np.uint8), np.zeros((2, 1))), (x_test, y_test)))
    images, labels, names, files = D.load_labelled("cifar10", "test", 16, channels=1)
    assert images.shape == (4, 16, 16, 1) and files is None
    assert labels.tolist() == [3, 0, 9, 3] and names == list(D.CIFAR10_CLASSES) and names[3] == "cat"


def test_holdout_indices_are_per_class_seeded_and_sorted():
    labels = np.random.default_rng(0).permutation(np.repeat([0, 1, 2], [6, 3, 5]))
    held = D.holdout_indices(labels, 2, seed=3)
    assert held.tolist() == sorted(held.tolist()) and len(set(held.tolist())) == 6
    assert np.bincount(labels[held]).tolist() == [2, 2, 2]
    np.testing.assert_array_equal(D.holdout_indices(labels, 2, seed=3), held)  # the same draw for the same seed
    draws = {tuple(D.holdout_indices(labels, 2, seed=s)) for s in range(6)}
    assert len(draws) > 1  # the seed decides which images
    assert np.bincount(labels[D.holdout_indices(labels, 1)]).tolist() == [1, 1, 1]


def test_holdout_indices_keep_an_image_of_every_class_for_training():
    labels = np.repeat([0, 1, 2], [6, 3, 5])
    with pytest.raises(ValueError, match="too few images to hold out 3 of every class .*: class 1 has 3$"):
        D.holdout_indices(labels, 3)
    with pytest.raises(ValueError, match="class 'jade' has 3, class 'ruby' has 5$"):
        D.holdout_indices(labels, 5, names=["amber", "jade", "ruby"])
    assert len(D.holdout_indices(labels, 2)) == 6
    for bad in (0, -1, 1.5, True):
        with pytest.raises(ValueError, match="per_class must be a positive int"):
            D.holdout_indices(labels, bad)


def batches_of(ds):
    """A labelled tf.data pipeline as (images (N, ...), labels (N,)) numpy arrays."""
    parts = list(ds)
    for batch in parts:
        assert set(batch) == {"images", "labels"}
    return (np.concatenate([b["images"].numpy() for b in parts]), np.concatenate([b["labels"].numpy() for b in parts]))


def test_training_batches_with_labels_are_dicts_that_keep_each_image_with_its_label():
    images = numbered_images(20)  # image k is filled with k
    labels = np.arange(20) % 3
    ds = D.training_batches(images, 4, 0, 8, seed=1, labels=labels)  # 5 steps an epoch: two epochs
    batch = next(iter(ds))
    assert batch["images"].dtype == tf.uint8 and tuple(batch["images"].shape) == (4, 4, 4, 1)
    assert tuple(batch["labels"].shape) == (4,)
    seen, seen_labels = batches_of(ds)
    ids = seen[:, 0, 0, 0]
    np.testing.assert_array_equal(seen_labels, labels[ids])
    # the same images, in the same order, as without labels
    plain = np.concatenate([b.numpy() for b in D.training_batches(images, 4, 0, 8, seed=1)])
    np.testing.assert_array_equal(seen, plain)
    assert sorted(ids[:20].tolist()) == list(range(20))  # the first epoch visits every image once
    with pytest.raises(ValueError, match="3 labels were given for 20 images"):
        D.training_batches(images, 4, 0, 1, labels=labels[:3])


@pytest.mark.parametrize("flip", [False, True])
def test_rotated_batches_hold_turns_of_the_right_images(flip):
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (24, 5, 5, 3), dtype=np.uint8)
    labels = np.arange(24)  # each image its own label, to find where it came from
    seen, seen_labels = batches_of(D.training_batches(images, 6, 0, 8, seed=2, labels=labels, rotate=True,
                                                      flip=flip))
    turns = []
    for image, label in zip(seen, seen_labels):
        source = images[label]
        candidates = [np.rot90(source, k) for k in range(4)]
        if flip:
            candidates += [np.rot90(source[:, ::-1], k) for k in range(4)]
        matches = [k for k, c in enumerate(candidates) if np.array_equal(image, c)]
        assert matches, f"batch image of label {label} is no symmetry of image {label}"
        turns.append(matches[0])
    assert len(set(turns)) >= 4  # several different symmetries were drawn
    again = batches_of(D.training_batches(images, 6, 0, 8, seed=2, labels=labels, rotate=True, flip=flip))
    np.testing.assert_array_equal(again[0], seen)  # reproducible


def test_labelled_batches_resume_mid_run_exactly():
    rng = np.random.default_rng(1)
    images = rng.integers(0, 256, (18, 4, 4, 3), dtype=np.uint8)
    labels = rng.integers(0, 3, 18)
    options = dict(seed=5, labels=labels, flip=True, rotate=True)
    whole = batches_of(D.training_batches(images, 4, 0, 10, **options))  # 4 steps an epoch: into a third epoch
    for first in (3, 4, 7):
        head = batches_of(D.training_batches(images, 4, 0, first, **options))
        tail = batches_of(D.training_batches(images, 4, first, 10 - first, **options))
        for part in range(2):
            np.testing.assert_array_equal(np.concatenate([head[part], tail[part]]), whole[part])
