"""Calibration samples for INT8 quantization, streamed batch by batch.

Every image goes through the model's ``InputSpec.preprocess``, the same code the runtime uses, so
calibration sees exactly what inference will see. Sources:

* a folder: every image OpenCV reads, recursively; corrupt files are skipped with a warning;
* a ``.csv`` list of ``path,label`` rows (``edgeres.data.csvlist``): the images it names;
* ``"shapes"``: the synthetic data's calibration stream (disjoint from its train and test splits);
* a ``.npy`` file of already preprocessed tensors, NCHW or NHWC (memory-mapped; transposed to
  the spec's layout when needed, so one file calibrates every format).

Memory does not grow with ``samples``: files are read lazily, one batch at a time.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np

from edgeres.data import shapes
from edgeres.data.common import OPENCV_EXTS, Skipped, image_files, log_skipped, read_image_or_warn
from edgeres.data.csvlist import csv_images, is_csv
from edgeres.errors import DataError, UsageError
from edgeres.fileio import shipped_folder
from edgeres.progress import progress
from edgeres.spec import InputSpec
from edgeres.text import shown

# The shipped calibration images: top-level ``calibration_data/``, installed as a package.
CALIB_FOLDER = "calibration_data"


def default_calibration_source() -> Path:
    """The shipped calibration images (``calibration_data/``), used when no ``--calib`` is given.

    Raises:
        DataError: The folder is missing from this install (never a silent switch to other data).
    """
    folder = shipped_folder(CALIB_FOLDER)
    if folder is None:
        raise DataError(
            f"the shipped calibration images (package 'edgeres.{CALIB_FOLDER}') are missing from "
            "this install; pass --calib DIR (a folder of your images), --calib shapes or "
            "--calib FILE.npy"
        )
    return folder


def _is_npy(source: str | Path) -> bool:
    return str(source).lower().endswith(".npy")


def count_calibration_images(source: str | Path) -> int | None:
    """Candidate samples in ``source``: image files in a folder, rows of a ``.npy``.

    ``None`` for ``"shapes"`` (an endless stream). A folder's count may include corrupt files,
    which are only found when read.
    """
    if str(source) == "shapes":
        return None
    path = Path(source)
    if _is_npy(source):
        return int(_open_npy(path).shape[0])
    if is_csv(source):
        return len(csv_images(path))
    _check_folder(path)
    return len(image_files(path, OPENCV_EXTS, warn_other=False))


def _check_folder(folder: Path) -> None:
    if not folder.exists():
        raise DataError(
            f"calibration source '{shown(folder)}' does not exist (valid: a folder of images, 'shapes', "
            "or a .npy of preprocessed tensors)"
        )
    if not folder.is_dir():
        raise DataError(
            f"calibration source '{shown(folder)}' is not a folder, 'shapes' or a .npy file; "
            "pass a folder of images"
        )
    if not any(folder.iterdir()):
        raise DataError(f"calibration folder '{shown(folder)}' is empty; put some images in it")


def _open_npy(path: Path) -> np.ndarray:
    if not path.is_file():
        raise DataError(f"calibration file '{shown(path)}' does not exist")
    try:
        arr = np.load(path, mmap_mode="r", allow_pickle=False)
    except (ValueError, OSError, EOFError) as e:  # EOFError: an empty file (click: "Aborted!")
        raise DataError(
            f"'{shown(path)}' is not a readable .npy array ({shown(e) or 'empty file'})"
        ) from None
    if not isinstance(arr, np.ndarray) or arr.dtype.kind not in "fiu" or arr.dtype.fields:
        raise DataError(
            f"'{shown(path)}' holds {shown(getattr(arr, 'dtype', type(arr).__name__))} values; "
            "calibration tensors are plain numbers (save a float32 array)"
        )
    return arr


def _check_samples(samples: int, batch_size: int) -> None:
    if samples < 1:
        raise UsageError(f"--samples must be at least 1, got {samples}")
    if batch_size < 1:
        raise UsageError(f"batch size must be at least 1, got {batch_size}")


def iter_calibration(
    source: str | Path,
    spec: InputSpec,
    samples: int,
    batch_size: int = 32,
    quiet: bool = False,
) -> Iterator[np.ndarray]:
    """Yield float32 batches (``spec.shape(n)``, in ``spec.layout``) totalling ``samples`` samples.

    The source is checked when this is called (before any batch is made), so a bad source fails
    before an expensive quantization starts.

    Args:
        source: A folder of images, ``"shapes"``, or a ``.npy`` of preprocessed tensors.
        spec: The model's input spec; images are resized and normalised with it.
        samples: How many samples to yield in all.
        batch_size: Samples per batch (the last batch may be smaller).
        quiet: No progress bar.

    Raises:
        DataError: Missing or empty folder, no image file, a ``.npy`` of the wrong shape, or
            fewer samples than ``samples``. Corrupt files are only found while streaming, so
            too few *readable* images raise at the end of the stream.
    """
    _check_samples(samples, batch_size)
    if str(source) == "shapes":
        batches = _iter_shapes(spec, samples, batch_size)
    elif _is_npy(source):
        batches = _iter_npy(_checked_npy(Path(source), spec, samples), spec, samples, batch_size)
    else:
        folder = Path(source)
        batches = _iter_folder(folder, _checked_files(folder, samples), spec, samples, batch_size)
    return _with_progress(batches, samples, quiet)


def _with_progress(batches: Iterator[np.ndarray], samples: int, quiet: bool):
    with progress(total=samples, quiet=quiet, desc="calibration", unit="img", delay=1.0) as bar:
        for batch in batches:
            bar.update(len(batch))
            yield batch


def _iter_shapes(spec: InputSpec, samples: int, batch_size: int) -> Iterator[np.ndarray]:
    for start in range(0, samples, batch_size):
        n = min(batch_size, samples - start)
        images, _ = shapes.generate(n, spec.size, split="calib", start=start)
        yield spec.preprocess(images)


def _npy_layout(path: Path, arr: np.ndarray, spec: InputSpec) -> str:
    """The layout ``arr`` is in: the spec's own, else the other one (transposed when read), so
    one ``.npy`` calibrates both the NCHW ONNX file and the NHWC TFLite file."""
    for layout in (spec.layout, *(lay for lay in ("NCHW", "NHWC") if lay != spec.layout)):
        if arr.ndim == 4 and tuple(arr.shape[1:]) == spec.with_layout(layout).shape(1)[1:]:
            return layout
    want = spec.shape(1)[1:]
    raise DataError(
        f"'{shown(path)}' holds an array of shape {arr.shape}; this model's preprocessed input is "
        f"N x {' x '.join(map(str, want))} ({spec.layout}, or its transpose); save tensors made "
        "with its InputSpec"
    )


def _check_finite(path: Path, arr: np.ndarray, samples: int, chunk: int = 256) -> None:
    """Refuse NaN and infinity in the rows calibration will read (a chunk at a time)."""
    for start in range(0, samples, chunk):
        block = np.asarray(arr[start : min(samples, start + chunk)])
        if block.dtype.kind == "f" and not np.isfinite(block).all():
            row = start + int(np.argwhere(~np.isfinite(block))[0][0])
            raise DataError(
                f"'{shown(path)}' holds NaN or infinite values (first in sample {row}); "
                "calibration needs finite tensors"
            )


def _checked_npy(path: Path, spec: InputSpec, samples: int) -> tuple[np.ndarray, str]:
    arr = _open_npy(path)
    layout = _npy_layout(path, arr, spec)
    if arr.shape[0] < samples:
        raise DataError(
            f"'{shown(path)}' holds {arr.shape[0]} samples, fewer than the {samples} requested; "
            f"pass --samples {arr.shape[0]} or save more"
        )
    _check_finite(path, arr, samples)
    return arr, layout


def _iter_npy(
    checked: tuple[np.ndarray, str], spec: InputSpec, samples: int, batch_size: int
) -> Iterator[np.ndarray]:
    arr, layout = checked
    for start in range(0, samples, batch_size):
        batch = np.asarray(arr[start : min(samples, start + batch_size)], dtype=np.float32)
        yield np.ascontiguousarray(spec.from_layout(batch, layout))


def _checked_files(folder: Path, samples: int) -> list[Path]:
    if is_csv(folder):
        files = csv_images(folder)
    else:
        _check_folder(folder)
        skipped = Skipped()
        files = image_files(folder, OPENCV_EXTS, warn_other=False, skipped=skipped)
        if folder != shipped_folder(CALIB_FOLDER):  # its README and package file are ours
            log_skipped(skipped, folder)
    if not files:
        raise DataError(
            f"no image files in '{shown(folder)}' (looked recursively for "
            f"{', '.join(sorted(OPENCV_EXTS))}); add images or use --calib shapes"
        )
    if len(files) < samples:
        raise DataError(
            f"'{shown(folder)}' has {len(files)} image files, fewer than the {samples} calibration samples "
            f"requested; pass --samples {len(files)} or add images"
        )
    return files


def _iter_folder(folder: Path, files: list[Path], spec: InputSpec, samples: int, batch_size: int):
    batch: list[np.ndarray] = []
    found = 0
    for path in files:
        image = read_image_or_warn(path)
        if image is None:
            continue
        batch.append(spec.resize_image(image))
        found += 1
        if len(batch) == batch_size or found == samples:
            yield spec.normalize(np.stack(batch))
            batch = []
        if found == samples:
            return
    if found == 0:
        raise DataError(f"none of the {len(files)} image files in '{shown(folder)}' could be read")
    raise DataError(
        f"only {found} of the files in '{shown(folder)}' are readable images, fewer than the {samples} "
        f"calibration samples requested; pass --samples {found} or add images"
    )
