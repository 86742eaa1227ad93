"""Train-time augmentation keeps shape and dtype and is repeatable."""

from __future__ import annotations

import numpy as np

from edgeres.data import shapes
from edgeres.data.augment import augment


def test_augment_shape_dtype_and_repeatable():
    images, _ = shapes.generate(16, 32)
    a = augment(images, np.random.default_rng(1))
    b = augment(images, np.random.default_rng(1))
    assert a.shape == images.shape and a.dtype == np.uint8
    assert np.array_equal(a, b)
    assert not np.array_equal(a, images)
    assert images.tobytes() == shapes.generate(16, 32)[0].tobytes()  # input untouched


def test_augment_flips_some_images_and_changes_nothing_else():
    # No image here is its own mirror, so "flipped" and "kept" are told apart.
    images = np.random.default_rng(3).integers(0, 255, (32, 8, 8, 3), dtype=np.uint8)
    out = augment(images, np.random.default_rng(0), pad=0, flip=True)
    flipped = [np.array_equal(dst, src[:, ::-1]) for src, dst in zip(images, out, strict=True)]
    kept = [np.array_equal(dst, src) for src, dst in zip(images, out, strict=True)]
    assert all(f or k for f, k in zip(flipped, kept, strict=True))  # a flip or the image itself
    assert 4 <= sum(flipped) <= 28  # about half flipped: an augment doing nothing fails here


def test_augment_non_square_and_empty():
    images = np.zeros((3, 20, 40, 3), np.uint8)
    assert augment(images, np.random.default_rng(0)).shape == (3, 20, 40, 3)
    assert augment(images[:0], np.random.default_rng(0)).shape == (0, 20, 40, 3)


def _asymmetric(n: int = 64) -> np.ndarray:
    """A bright left half: a flip moves it to the right, a shift only blurs the edge."""
    images = np.zeros((n, 16, 16, 3), np.uint8)
    images[:, :, :8] = 255
    return images


def test_augment_choices_flip_or_not():
    from edgeres.data.augment import parse_augment

    images = _asymmetric()
    right_bright = lambda out: out[:, :, 12:].mean(axis=(1, 2, 3)) > 128  # noqa: E731
    for text, flips in (("crop,flip", True), ("flip", True), ("crop", False), ("none", False)):
        augs = parse_augment(text)
        out = augment(images, np.random.default_rng(3), crop="crop" in augs, flip="flip" in augs)
        assert right_bright(out).any() == flips, text
    none = augment(images, np.random.default_rng(3), crop=False, flip=False)
    assert np.array_equal(none, images)


def test_parse_augment_words():
    import pytest

    from edgeres.data.augment import augment_name, parse_augment
    from edgeres.errors import UsageError

    assert parse_augment("flip, crop") == ("crop", "flip")
    assert augment_name(parse_augment("none")) == "none"
    with pytest.raises(UsageError, match="--augment 'rotate' is not one of crop, flip or none"):
        parse_augment("crop,rotate")
    with pytest.raises(UsageError, match="--augment is empty"):
        parse_augment("")
