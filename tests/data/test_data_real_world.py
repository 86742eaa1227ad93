"""Folders as users have them: nested, mixed extensions, grayscale, 16-bit, CMYK, EXIF-rotated
phone photos, a labels.txt, stray files; and a CSV list as a data source."""

from __future__ import annotations

import logging
from pathlib import Path

import cv2
import numpy as np
import pytest
from PIL import Image

from edgeres.data import load_split, open_split
from edgeres.data.calibration import count_calibration_images, iter_calibration
from edgeres.data.common import read_image
from edgeres.errors import DataError
from edgeres.runtime.predict import list_images
from edgeres.spec import InputSpec

RED, BLUE, WHITE = (200, 30, 30), (30, 30, 200), (255, 255, 255)  # RGB


def _design(colour, h=40, w=60) -> np.ndarray:
    """An RGB image of ``colour`` with a white band along its top: which way is up is visible."""
    rgb = np.zeros((h, w, 3), np.uint8)
    rgb[:] = colour
    rgb[:8] = WHITE
    return rgb


def _save(path: Path, image: np.ndarray | Image.Image, **kw) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    (image if isinstance(image, Image.Image) else Image.fromarray(image)).save(path, **kw)
    return path


def _phone_photo(path: Path, rgb: np.ndarray) -> Path:
    """A JPEG stored sideways with EXIF orientation 6 (rotate 90 degrees clockwise to show)."""
    stored = Image.fromarray(np.ascontiguousarray(np.rot90(rgb, k=1)))
    exif = stored.getexif()
    exif[0x0112] = 6
    path.parent.mkdir(parents=True, exist_ok=True)
    stored.save(path, quality=95, exif=exif.tobytes())
    return path


def _mixed_folder(root: Path) -> dict[str, Path]:
    """Two classes of images in every form a camera roll or a download gives; 12 images."""
    red, blue = _design(RED), _design(BLUE)
    made = {
        "exif": _phone_photo(root / "red" / "2024" / "trip" / "IMG_0001.JPG", red),
        "cmyk": _save(
            root / "blue" / "print.jpg", Image.fromarray(blue).convert("CMYK"), quality=95
        ),
    }
    _save(root / "red" / "a.jpeg", red, quality=95)
    _save(root / "red" / "nested" / "b.webp", red, lossless=True)
    _save(root / "red" / "c.BMP", red)
    _save(root / "red" / "d.tif", red)
    _save(root / "blue" / "e.TIFF", blue)
    _save(root / "blue" / "deep" / "f.PNG", blue)
    _save(root / "blue" / "g.Jpeg", blue, quality=95)
    gray = root / "red" / "gray.png"
    cv2.imwrite(str(gray), np.full((40, 60), 77, np.uint8))
    deep = root / "blue" / "sixteen.png"
    cv2.imwrite(str(deep), np.full((40, 60, 3), (40000, 20000, 1000), np.uint16))
    _save(root / "blue" / "h.png", blue)
    made.update(gray=gray, deep=deep)
    (root / "blue" / "notes.txt").write_text("not an image")
    (root / "blue" / ".DS_Store").write_bytes(b"\0\0")
    (root / "README.md").write_text("my photos")
    return made


def test_every_kind_of_image_is_read_the_right_way_up(tmp_path):
    made = _mixed_folder(tmp_path / "photos")
    photo = read_image(made["exif"])
    assert photo.shape == (40, 60, 3)  # turned upright: the file stores 60 x 40
    assert photo[:6].min() > 235 and abs(int(photo[30, 30, 2]) - RED[0]) < 12  # band on top
    cmyk = read_image(made["cmyk"]).astype(int)
    assert np.abs(cmyk[30, 30] - BLUE[::-1]).max() < 12  # BGR
    assert (read_image(made["gray"]) == 77).all()
    # 16-bit channels keep their high byte: 40000 -> 156, 20000 -> 78, 1000 -> 3 (in BGR order)
    assert read_image(made["deep"])[0, 0].tolist() == [156, 78, 3]


def test_a_mixed_folder_is_counted_and_labelled_the_same_by_every_reader(tmp_path, caplog):
    root = tmp_path / "photos"
    _mixed_folder(root)
    with caplog.at_level(logging.WARNING, logger="edgeres.data"):
        train = load_split(root, "train", 32, quiet=True)
        test = load_split(root, "test", 32, quiet=True)
    assert train.classes == test.classes == ("blue", "red")
    assert len(train) + len(test) == 12 and train.skipped == test.skipped == 0
    summary = [r.message for r in caplog.records if "skipped 2 files" in r.message]
    assert len(summary) == 1, caplog.text  # one line, not one per split
    assert "1 not image files (notes.txt)" in summary[0]
    assert "1 outside any class folder (README.md)" in summary[0]
    red = np.concatenate([s.images[s.labels == 1] for s in (train, test)])
    assert (red[:, 1:3].min(axis=(1, 2, 3)) > 60).all()  # every red image has its band on top
    # predict and calibration read the same 12 images from the same folder
    assert len(list_images((root,))[0]) == 12
    assert count_calibration_images(root) == 12
    spec = InputSpec(height=32, width=32)
    assert sum(len(b) for b in iter_calibration(root, spec, 12, quiet=True)) == 12


def test_labels_txt_gives_the_class_order(tmp_path):
    root = tmp_path / "photos"
    _mixed_folder(root)
    (root / "labels.txt").write_text("red\n\ngreen\nblue\n")
    test = load_split(root, "test", 32, quiet=True)
    assert test.classes == ("red", "green", "blue")
    assert set(test.labels.tolist()) == {0, 2}
    (root / "labels.txt").write_text("red\ngreen\n")
    with pytest.raises(DataError, match=r"class folders \['blue'\] that the class list lacks"):
        load_split(root, "test", 32, quiet=True)
    (root / "labels.txt").write_text("red\nred\nblue\n")
    with pytest.raises(DataError, match="names a class twice"):
        load_split(root, "test", 32, quiet=True)


def test_one_class_can_be_scored_but_not_trained(tmp_path):
    root = tmp_path / "photos"
    _mixed_folder(root)
    for p in sorted((root / "blue").rglob("*"), reverse=True):
        p.unlink() if p.is_file() else p.rmdir()
    (root / "blue").rmdir()
    assert load_split(root, "test", 32, quiet=True).classes == ("red",)
    with pytest.raises(DataError, match="at least two classes"):
        load_split(root, "train", 32, quiet=True)


def test_a_csv_of_paths_and_labels_is_a_data_source(tmp_path, caplog):
    root = tmp_path / "photos"
    _mixed_folder(root)
    files = sorted(
        p for p in root.rglob("*") if p.is_file() and p.parent != root and p.name[0] != "."
    )
    rows = ["path,label"] + [
        f"{p.relative_to(tmp_path)},{p.relative_to(root).parts[0]}" for p in files
    ]
    rows.append("photos/red/gone.jpg,red")
    (tmp_path / "list.csv").write_text("\n".join(rows) + "\n")
    with caplog.at_level(logging.WARNING, logger="edgeres.data"):
        train = load_split(tmp_path / "list.csv", "train", 32, quiet=True)
        test = load_split(tmp_path / "list.csv", "test", 32, quiet=True)
    assert train.classes == ("blue", "red") and len(train) + len(test) == 12
    assert "1 missing (gone.jpg)" in caplog.text and "not image files (notes.txt" in caplog.text
    by_folder = open_split(root, "test", 32)  # the same held-out share as the folder itself
    assert sorted(open_split(tmp_path / "list.csv", "test", 32).files) == sorted(by_folder.files)
    split = ["path,label,split", f"{files[0]},blue,train", f"{files[-1]},red,val"]
    (tmp_path / "split.csv").write_text("\n".join(split))
    assert len(load_split(tmp_path / "split.csv", "test", 32, quiet=True)) == 1
    assert count_calibration_images(tmp_path / "list.csv") == 12
    (tmp_path / "bad.csv").write_text("path,label\nonly-a-path\n")
    with pytest.raises(DataError, match="row 2 is not path,label"):
        load_split(tmp_path / "bad.csv", "test", 32, quiet=True)
