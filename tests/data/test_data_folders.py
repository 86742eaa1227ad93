"""Image folder loader: both layouts, extensions in any case, corrupt files, bad folders."""

from __future__ import annotations

import logging
from pathlib import Path

import cv2
import numpy as np
import pytest

from edgeres.data import load_split
from edgeres.data.folders import HOLDOUT, list_split
from edgeres.errors import DataError


def _write(path: Path, colour: int, size=(20, 30)) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    image = np.full((*size, 3), colour, np.uint8)
    ok, buf = cv2.imencode(path.suffix.lower() if path.suffix.lower() != ".jpeg" else ".jpg", image)
    assert ok
    path.write_bytes(buf.tobytes())


def _class_folder(root: Path, per_class: int = 10) -> Path:
    exts = [".png", ".JPG", ".jpeg", ".Bmp", ".webp"]
    for c, name in enumerate(["cat", "dog"]):
        for i in range(per_class):
            _write(root / name / f"img_{i}{exts[i % len(exts)]}", 40 + 150 * c)
    return root


def test_train_val_layout(tmp_path):
    for split, n in (("train", 3), ("val", 2)):
        for c, name in enumerate(["b_class", "a_class"]):
            for i in range(n):
                _write(tmp_path / split / name / f"{i}.png", 10 * c)
    train = load_split(tmp_path, "train", 16, quiet=True)
    test = load_split(tmp_path, "test", (12, 16), quiet=True)
    assert train.classes == ("a_class", "b_class") and len(train) == 6
    assert len(test) == 4 and test.images.shape == (4, 12, 16, 3)
    assert train.images.dtype == np.uint8 and train.labels.dtype == np.int64
    assert sorted(train.labels.tolist()) == [0, 0, 0, 1, 1, 1]


def test_test_folder_used_when_no_val(tmp_path):
    for name in ("x", "y"):
        _write(tmp_path / "train" / name / "0.png", 1)
        _write(tmp_path / "test" / name / "0.png", 2)
    assert list_split(tmp_path, "test").layout == "train/test"


def test_class_only_layout_is_split_by_seed(tmp_path):
    root = _class_folder(tmp_path / "d")
    train = list_split(root, "train", seed=0)
    test = list_split(root, "test", seed=0)
    assert set(train.files).isdisjoint(test.files)
    assert len(train.files) + len(test.files) == 20
    # Stratified: the held-out share of each class.
    assert test.labels.count(0) == test.labels.count(1) == round(HOLDOUT * 10)
    assert list_split(root, "test", seed=0).files == test.files  # deterministic
    assert list_split(root, "test", seed=1).files != test.files
    ds = load_split(root, "train", 32, quiet=True)
    assert len(ds) == 16 and ds.images.shape[1:] == (32, 32, 3)


def test_mixed_case_extensions_all_read(tmp_path):
    root = _class_folder(tmp_path / "d", per_class=5)
    found = list_split(root, "train").files + list_split(root, "test").files
    assert {p.suffix for p in found} == {".png", ".JPG", ".jpeg", ".Bmp", ".webp"}


def test_corrupt_and_non_image_files_are_skipped_with_a_warning(tmp_path, caplog):
    root = _class_folder(tmp_path / "d", per_class=5)
    bad = root / "cat" / "broken.png"
    bad.write_bytes(b"not a png at all")
    note = root / "dog" / "notes.txt"
    note.write_text("hello")
    with caplog.at_level(logging.WARNING, logger="edgeres.data"):
        train = load_split(root, "train", 16, seed=0, quiet=True)
        test = load_split(root, "test", 16, seed=0, quiet=True)
    text = caplog.text
    assert "notes.txt" in text
    assert "broken.png" in text
    assert train.skipped + test.skipped == 1
    assert len(train) + len(test) == 10


def test_unicode_path(tmp_path):
    root = tmp_path / "données"
    for name in ("chat_é", "chien_ü"):
        _write(root / name / "ñ.png", 5)
        _write(root / name / "b.png", 5)
    ds = load_split(root, "train", 8, quiet=True)
    assert ds.classes == ("chat_é", "chien_ü") and len(ds) == 2


def test_only_corrupt_files_is_an_error(tmp_path, caplog):
    for name in ("a", "b"):
        (tmp_path / name).mkdir()
        (tmp_path / name / "x.jpg").write_bytes(b"\xff\xd8garbage")
        (tmp_path / name / "y.jpg").write_bytes(b"")
    with pytest.raises(DataError, match="could be read"):
        load_split(tmp_path, "train", 8, quiet=True)


@pytest.mark.parametrize("case", ["missing", "empty", "classless", "file", "no_images", "no_val"])
def test_bad_folders(tmp_path, case):
    folder = tmp_path / "data"
    if case == "empty":
        folder.mkdir()
    elif case == "classless":
        _write(folder / "loose.png", 1)
    elif case == "file":
        folder.write_text("x")
    elif case == "no_images":
        (folder / "cat").mkdir(parents=True)
        (folder / "dog").mkdir(parents=True)
    elif case == "no_val":
        _write(folder / "train" / "cat" / "0.png", 1)
    with pytest.raises(DataError) as info:
        load_split(folder, "train", 8, quiet=True)
    message = str(info.value)
    assert "\n" not in message and str(folder) in message


def test_limit_takes_a_seeded_subset(tmp_path):
    root = _class_folder(tmp_path / "d")
    ds = load_split(root, "train", 8, limit=5, quiet=True)
    assert len(ds) == 5


def test_image_dims_from_headers_without_decoding(tmp_path):
    from edgeres.data.headers import image_dims

    for ext in (".png", ".jpg", ".bmp", ".webp"):
        _write(tmp_path / f"x{ext}", 9, size=(21, 34))
        assert image_dims((tmp_path / f"x{ext}").read_bytes()) == (34, 21), ext
    ok, buf = cv2.imencode(
        ".webp", np.zeros((21, 34, 3), np.uint8), [cv2.IMWRITE_WEBP_QUALITY, 101]
    )
    assert image_dims(buf.tobytes()) == (34, 21)  # lossless VP8L
    assert image_dims(b"GIF89a\x22\x00\x15\x00") == (34, 21)
    assert image_dims(b"not an image") is None


def test_decompression_bombs_are_refused_from_the_header(png_bomb, large_png, tmp_path):
    from edgeres.data.common import ImageTooLarge, read_image

    with pytest.raises(ImageTooLarge, match="declares 60000x60000 pixels.*--max-image-pixels"):
        read_image(png_bomb)
    with pytest.raises(ImageTooLarge, match="declares 30000x30000 pixels"):
        read_image(large_png)
    small = tmp_path / "small.png"
    _write(small, 1, size=(20, 30))
    assert read_image(small).shape == (20, 30, 3)
    with pytest.raises(ImageTooLarge, match="over the limit of 500 pixels"):
        read_image(small, max_pixels=500)


def test_bombs_in_a_folder_are_skipped_with_a_warning(png_bomb, large_png, tmp_path, caplog):
    root = _class_folder(tmp_path / "d", per_class=5)
    (root / "cat" / "bomb.png").write_bytes(png_bomb.read_bytes())
    (root / "dog" / "large.png").write_bytes(large_png.read_bytes())
    with caplog.at_level(logging.WARNING, logger="edgeres.data"):
        train = load_split(root, "train", 16, seed=0, quiet=True)
        test = load_split(root, "test", 16, seed=0, quiet=True)
    assert train.skipped + test.skipped == 2
    assert "'" + str(root / "cat" / "bomb.png") + "': declares 60000x60000" in caplog.text
    assert "large.png': declares 30000x30000" in caplog.text


def test_file_names_are_escaped_in_warnings(tmp_path, caplog):
    root = _class_folder(tmp_path / "d", per_class=5)
    (root / "cat" / "evil\n\x1b[2Jname.png").write_bytes(b"not a png")
    with caplog.at_level(logging.WARNING, logger="edgeres.data"):
        load_split(root, "train", 16, seed=0, quiet=True)
        load_split(root, "test", 16, seed=0, quiet=True)
    assert "evil\\n\\x1b[2Jname.png" in caplog.text
    assert "\x1b" not in caplog.text and "evil\n" not in caplog.text


@pytest.mark.parametrize("layout", ["classes", "train/val"])
def test_an_empty_class_folder_is_skipped_with_a_warning(tmp_path, caplog, layout):
    root = _class_folder(tmp_path / "data")
    if layout == "train/val":
        for name in ("cat", "dog"):
            (root / "train").mkdir(exist_ok=True)
            (root / name).rename(root / "train" / name)
            _write(root / "val" / name / "0.png", 40)
        (root / "train" / "emu").mkdir()
        (root / "val" / "emu").mkdir()
        empty = root / "train" / "emu"
    else:
        (root / "emu").mkdir()
        empty = root / "emu"
    with caplog.at_level(logging.WARNING, logger="edgeres.data"):
        train = load_split(root, "train", 8, quiet=True)
        test = load_split(root, "test", 8, quiet=True)
    assert train.classes == test.classes == ("cat", "dog")
    assert set(train.labels.tolist()) == {0, 1}
    assert f"skipped the class folder '{empty}': it holds no images" in caplog.text


@pytest.mark.parametrize("second", ["missing", "empty"])
def test_a_single_class_is_refused(tmp_path, second):
    root = tmp_path / "data"
    for i in range(5):
        _write(root / "cat" / f"{i}.png", 40)
    if second == "empty":
        (root / "dog").mkdir()
    with pytest.raises(DataError, match=r"1 class folder\(s\) with images \(cat\).*two classes"):
        load_split(root, "train", 8, quiet=True)
