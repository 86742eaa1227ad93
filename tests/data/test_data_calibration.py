"""Calibration streams: folder (recursive, corrupt skipped), shapes, .npy, and their errors."""

from __future__ import annotations

import logging
import types
from pathlib import Path

import cv2
import numpy as np
import pytest

from edgeres.data import calibration
from edgeres.data.calibration import (
    count_calibration_images,
    default_calibration_source,
    iter_calibration,
)
from edgeres.errors import DataError, UsageError
from edgeres.spec import InputSpec

SPEC = InputSpec(height=16, width=16, mean=(0.5, 0.5, 0.5), std=(0.25, 0.25, 0.25))


def _image_folder(root: Path, n: int = 7) -> Path:
    for i in range(n):
        sub = root / ("a" if i % 2 else "b/deeper")
        sub.mkdir(parents=True, exist_ok=True)
        image = np.full((24 + i, 30, 3), 20 * i, np.uint8)
        ext = [".png", ".JPG", ".tif"][i % 3]
        cv2.imwrite(str(sub / f"{i}{ext.lower()}"), image)
        if ext != ext.lower():
            (sub / f"{i}{ext.lower()}").rename(sub / f"{i}{ext}")
    (root / "README.md").write_text("not an image, ignored silently")
    return root


def test_folder_stream_is_recursive_and_uses_the_spec(tmp_path):
    root = _image_folder(tmp_path / "calib")
    batches = list(iter_calibration(root, SPEC, samples=7, batch_size=3, quiet=True))
    assert [b.shape for b in batches] == [(3, 3, 16, 16), (3, 3, 16, 16), (1, 3, 16, 16)]
    assert all(b.dtype == np.float32 for b in batches)
    assert count_calibration_images(root) == 7
    # The same numbers as the runtime's preprocessing of the same files.
    files = sorted(p for p in root.rglob("*") if p.suffix.lower() in {".png", ".jpg", ".tif"})
    expected = SPEC.preprocess([cv2.imread(str(p)) for p in files[:3]])
    np.testing.assert_array_equal(batches[0], expected)


def test_folder_stream_nhwc_layout(tmp_path):
    root = _image_folder(tmp_path / "calib", n=4)
    (batch,) = iter_calibration(root, SPEC.with_layout("NHWC"), samples=4, batch_size=8, quiet=True)
    assert batch.shape == (4, 16, 16, 3)


def test_corrupt_files_are_skipped_with_a_warning(tmp_path, caplog):
    root = _image_folder(tmp_path / "calib", n=5)
    (root / "a" / "zz_bad.png").write_bytes(b"garbage")
    with caplog.at_level(logging.WARNING, logger="edgeres.data"):
        batches = list(iter_calibration(root, SPEC, samples=5, batch_size=2, quiet=True))
    assert sum(len(b) for b in batches) == 5
    assert "zz_bad.png" in caplog.text


def test_stream_reads_files_lazily(tmp_path, monkeypatch):
    root = _image_folder(tmp_path / "calib", n=7)
    reads = []
    real = calibration.read_image_or_warn
    monkeypatch.setattr(calibration, "read_image_or_warn", lambda p: reads.append(p) or real(p))
    stream = iter_calibration(root, SPEC, samples=6, batch_size=2, quiet=True)
    next(stream)
    assert len(reads) == 2  # one batch read, not the whole folder
    assert isinstance(stream, types.GeneratorType)


def test_shapes_stream():
    batches = list(iter_calibration("shapes", SPEC, samples=10, batch_size=4, quiet=True))
    assert [len(b) for b in batches] == [4, 4, 2]
    again = next(iter_calibration("shapes", SPEC, samples=4, batch_size=4, quiet=True))
    np.testing.assert_array_equal(batches[0], again)


def test_npy_stream_is_memory_mapped_and_shape_checked(tmp_path):
    data = np.random.default_rng(0).standard_normal((9, 3, 16, 16)).astype(np.float32)
    path = tmp_path / "calib.npy"
    np.save(path, data)
    batches = list(iter_calibration(path, SPEC, samples=9, batch_size=4, quiet=True))
    np.testing.assert_array_equal(np.concatenate(batches), data)
    assert count_calibration_images(path) == 9
    # The other layout is transposed on read: one .npy calibrates the ONNX and TFLite files.
    nhwc = next(iter_calibration(path, SPEC.with_layout("NHWC"), samples=4, quiet=True))
    np.testing.assert_array_equal(nhwc, data[:4].transpose(0, 2, 3, 1))
    np.save(path, data[:, :, :8])
    with pytest.raises(DataError, match=r"shape .*N x 3 x 16 x 16"):
        next(iter_calibration(path, SPEC, samples=4, quiet=True))
    np.save(path, data)
    with pytest.raises(DataError, match="--samples 9"):
        next(iter_calibration(path, SPEC, samples=20, quiet=True))


def _hostile_npy(path, case):
    data = np.zeros((4, 3, 16, 16), np.float32)
    if case == "nan":
        data[2, 1, 3, 3] = np.nan
    elif case == "inf":
        data[3, 0, 0, 0] = -np.inf
    elif case == "structured":
        data = np.zeros((4, 3, 16, 16), dtype=[("a", "<f4"), ("b", "<i4")])
    elif case == "strings":
        data = np.full((4, 3, 16, 16), "x")
    if case == "zero_bytes":
        path.write_bytes(b"")
    else:
        np.save(path, data)


@pytest.mark.parametrize("case", ["nan", "inf", "structured", "strings", "zero_bytes"])
def test_hostile_npy_is_one_line_data_error(tmp_path, case):
    path = tmp_path / f"{case}.npy"
    _hostile_npy(path, case)
    with pytest.raises(DataError) as info:
        next(iter_calibration(path, SPEC, samples=4, quiet=True))
    assert "\n" not in str(info.value) and path.name in str(info.value)


@pytest.mark.parametrize("case", ["missing", "empty", "unreadable", "too_few", "npy_missing"])
def test_errors(tmp_path, case):
    folder = tmp_path / "calib"
    samples = 4
    if case == "empty":
        folder.mkdir()
    elif case == "unreadable":
        folder.mkdir()
        (folder / "x.png").write_bytes(b"nope")
        samples = 1
    elif case == "too_few":
        _image_folder(folder, n=3)
    elif case == "npy_missing":
        folder = tmp_path / "nothing.npy"
    with pytest.raises(DataError) as info:
        stream = iter_calibration(folder, SPEC, samples=samples, quiet=True)
        # Everything but an unreadable file is caught before the first batch is made.
        assert case == "unreadable"
        list(stream)
    message = str(info.value)
    assert "\n" not in message
    if case == "too_few":
        assert "--samples 3" in message


def test_too_few_readable_found_while_streaming(tmp_path):
    root = _image_folder(tmp_path / "calib", n=3)
    (root / "bad.png").write_bytes(b"nope")
    with pytest.raises(DataError, match="only 3 .*--samples 3"):
        list(iter_calibration(root, SPEC, samples=4, quiet=True))


def test_bad_counts():
    with pytest.raises(UsageError):
        list(iter_calibration("shapes", SPEC, samples=0))
    with pytest.raises(UsageError):
        list(iter_calibration("shapes", SPEC, samples=4, batch_size=0))


def test_default_source_is_the_shipped_folder(monkeypatch):
    folder = default_calibration_source()
    assert folder.name == "calibration_data"
    assert count_calibration_images(folder) == 320
    # Missing from an install: a clear error, never a silent switch to other data.
    monkeypatch.setattr(calibration, "CALIB_FOLDER", "no-such-folder")
    with pytest.raises(DataError, match="missing from this install; pass --calib DIR"):
        default_calibration_source()


def test_bombs_are_skipped_while_calibrating(tmp_path, png_bomb, caplog):
    root = _image_folder(tmp_path / "calib", n=5)
    (root / "a" / "zz_bomb.png").write_bytes(png_bomb.read_bytes())
    with caplog.at_level(logging.WARNING, logger="edgeres.data"):
        batches = list(iter_calibration(root, SPEC, samples=5, batch_size=2, quiet=True))
    assert sum(len(b) for b in batches) == 5
    assert "zz_bomb.png': declares 60000x60000" in caplog.text


def test_the_shipped_images_calibrate_without_a_skip_line(caplog):
    # The shipped folder is a package: its README.md and __init__.py are ours, not a user's
    # stray files, and `make demo` printed a skip warning for them.
    with caplog.at_level(logging.WARNING, logger="edgeres.data"):
        source = default_calibration_source()
        batches = list(iter_calibration(source, SPEC, samples=8, batch_size=4, quiet=True))
    assert sum(len(b) for b in batches) == 8
    assert "skipped" not in caplog.text, caplog.text
