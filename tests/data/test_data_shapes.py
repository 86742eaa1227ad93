"""The synthetic shapes data set: determinism, any size, disjoint splits, balance."""

from __future__ import annotations

import hashlib

import numpy as np
import pytest

from edgeres.data import ImageSet, load_split, shapes
from edgeres.errors import UsageError


def _hashes(images: np.ndarray) -> set[str]:
    return {hashlib.sha1(im.tobytes()).hexdigest() for im in images}


def test_same_seed_same_bytes_different_seed_differs():
    a, la = shapes.generate(40, 32, seed=3)
    b, lb = shapes.generate(40, 32, seed=3)
    c, _ = shapes.generate(40, 32, seed=4)
    assert a.tobytes() == b.tobytes() and np.array_equal(la, lb)
    assert a.tobytes() != c.tobytes()


def test_prefix_and_offset_are_consistent_across_chunks():
    # Image i is the same whether made in one call, with a limit, or from an offset.
    start = shapes.CHUNK - 5
    whole, labels = shapes.generate(10, 32, start=start)
    head, _ = shapes.generate(5, 32, start=start)
    tail, tail_labels = shapes.generate(5, 32, start=shapes.CHUNK)
    assert np.array_equal(whole[:5], head)
    assert np.array_equal(whole[5:], tail) and np.array_equal(labels[5:], tail_labels)


@pytest.mark.parametrize("size", [8, 32, 64, 96, 224, (48, 80)])
def test_any_size(size):
    images, labels = shapes.generate(3, size)
    h, w = (size, size) if isinstance(size, int) else size
    assert images.shape == (3, h, w, 3) and images.dtype == np.uint8
    assert labels.dtype == np.int64
    assert images.std() > 5  # not blank


def test_same_scene_at_every_size():
    _, small = shapes.generate(20, 32)
    _, large = shapes.generate(20, 96)
    assert np.array_equal(small, large)


def test_splits_never_share_an_image():
    train, _ = shapes.generate(1500, 16, split="train")
    test, _ = shapes.generate(500, 16, split="test")
    calib, _ = shapes.generate(300, 16, split="calib")
    h_train, h_test, h_calib = _hashes(train), _hashes(test), _hashes(calib)
    assert not (h_train & h_test) and not (h_train & h_calib) and not (h_test & h_calib)


def test_classes_are_balanced():
    _, labels = shapes.generate(shapes.CHUNK, 8)
    counts = np.bincount(labels, minlength=len(shapes.CLASSES))
    assert (counts == shapes.CHUNK // len(shapes.CLASSES)).all()
    assert len(shapes.CLASSES) == 10 and len(set(shapes.CLASSES)) == 10


def test_load_split_shapes():
    ds = load_split("shapes", "test", 32, limit=25, quiet=True)
    assert isinstance(ds, ImageSet) and len(ds) == 25
    assert ds.images.shape == (25, 32, 32, 3) and ds.classes == shapes.CLASSES
    assert ds.source == "shapes" and ds.size == (32, 32)
    again = load_split("shapes", "test", 32, limit=10, quiet=True)
    assert np.array_equal(again.images, ds.images[:10])


@pytest.mark.parametrize(
    ("source", "split", "match"),
    [
        ("shapez", "train", "did you mean shapes"),
        ("shapes", "val", "unknown split"),
        ("mnist:foo", "train", "unknown data source"),
        ("cifar10:", "train", "needs the folder"),
        ("", "train", "no data source"),
    ],
)
def test_load_split_bad_names(source, split, match):
    with pytest.raises(UsageError, match=match):
        load_split(source, split, 32)


def test_bad_arguments():
    with pytest.raises(UsageError):
        shapes.generate(2, 4)
    with pytest.raises(UsageError):
        shapes.generate(2, 32, seed=-1)
    with pytest.raises(UsageError):
        load_split("shapes", "train", 32, limit=0)


def test_data_package_does_not_import_torch():
    import subprocess
    import sys

    code = (
        "import sys, edgeres.data, edgeres.data.calibration, edgeres.data.cifar, "
        "edgeres.data.folders, edgeres.data.augment; "
        "sys.exit('torch' in sys.modules)"
    )
    assert subprocess.run([sys.executable, "-c", code], check=False).returncode == 0
