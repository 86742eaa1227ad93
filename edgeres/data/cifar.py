"""CIFAR-10 in its own on-disk formats (``--data cifar10:DIR``), read without executing code.

* Binary version (``cifar-10-batches-bin``): ``data_batch_1.bin`` .. ``data_batch_5.bin`` and
  ``test_batch.bin``, records of 3073 bytes (a label byte, then 1024 R, 1024 G, 1024 B bytes);
  class names in ``batches.meta.txt``.
* Python version (``cifar-10-batches-py``): pickled dicts ``data_batch_1`` .. ``test_batch`` and
  ``batches.meta``. A pickle can run arbitrary code, so a restricted unpickler accepts only plain
  containers and numpy arrays and refuses any other global by name.

``DIR`` may be the extracted folder itself or the folder that contains it.
"""

from __future__ import annotations

import io
import pickle
from pathlib import Path
from typing import Any

import numpy as np

from edgeres.data.common import resizer
from edgeres.errors import DataError
from edgeres.text import shown

CIFAR10_CLASSES: tuple[str, ...] = (
    "airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck",
)  # fmt: skip
RECORD = 1 + 32 * 32 * 3
_SUBDIRS = ("cifar-10-batches-bin", "cifar-10-batches-py")


def _numpy_reconstruct() -> Any:
    try:
        from numpy._core.multiarray import _reconstruct  # numpy >= 2
    except ImportError:  # pragma: no cover - numpy 1.x
        from numpy.core.multiarray import _reconstruct
    return _reconstruct


def _latin1_encode(text: str, encoding: str = "utf-8") -> bytes:
    # Python 3 pickles bytes at protocol <= 2 as _codecs.encode(str, "latin1"); allow only that.
    if not isinstance(text, str) or encoding.replace("-", "").lower() not in ("latin1", "utf8"):
        raise DataError("refused global '_codecs.encode' with unusual arguments")
    return text.encode(encoding)


# The only globals a CIFAR python batch needs: numpy's array reconstruction (both module names,
# numpy 1 wrote "numpy.core", numpy 2 writes "numpy._core") and the bytes helper of protocol 2.
_ALLOWED: dict[tuple[str, str], Any] = {
    ("_codecs", "encode"): lambda: _latin1_encode,
    ("numpy.core.multiarray", "_reconstruct"): _numpy_reconstruct,
    ("numpy._core.multiarray", "_reconstruct"): _numpy_reconstruct,
    ("numpy", "ndarray"): lambda: np.ndarray,
    ("numpy", "dtype"): lambda: np.dtype,
}


class _RestrictedUnpickler(pickle.Unpickler):
    """Builds plain containers, strings, numbers and numpy arrays; refuses every other global."""

    def find_class(self, module: str, name: str) -> Any:
        factory = _ALLOWED.get((module, name))
        if factory is None:
            raise DataError(f"refused global '{module}.{name}'")
        return factory()

    def persistent_load(self, pid: Any) -> Any:
        raise DataError("refused persistent id")


def safe_unpickle(path: Path) -> Any:
    """Unpickle ``path`` allowing only containers and numpy arrays (``DataError`` otherwise)."""
    try:
        data = path.read_bytes()
    except OSError as e:
        raise DataError(f"cannot read '{shown(path)}': {e.strerror or e}") from None
    try:
        # latin1 is how numpy arrays pickled by Python 2 (the original CIFAR files) decode.
        return _RestrictedUnpickler(io.BytesIO(data), encoding="latin1").load()
    except DataError as e:
        raise DataError(
            f"refusing to load '{shown(path)}': its pickle would call {str(e).removeprefix('refused ')}, "
            "and only plain containers and numpy arrays are allowed; is this a CIFAR-10 batch?"
        ) from None
    except Exception as e:  # any malformed pickle: truncated, wrong protocol, garbage
        raise DataError(f"'{shown(path)}' is not a readable CIFAR-10 python batch ({e})") from None


def find_cifar_dir(root: str | Path) -> tuple[Path, str]:
    """Locate the batches folder under ``root``; return ``(folder, "bin" | "py")``."""
    root = Path(root)
    if not root.is_dir():
        raise DataError(
            f"CIFAR-10 folder '{root}' does not exist; pass cifar10:DIR with DIR the extracted "
            "cifar-10-batches-bin or cifar-10-batches-py folder (or its parent)"
        )
    for folder in (root, *(root / s for s in _SUBDIRS)):
        if (folder / "test_batch.bin").is_file() or (folder / "data_batch_1.bin").is_file():
            return folder, "bin"
        if (folder / "test_batch").is_file() or (folder / "data_batch_1").is_file():
            return folder, "py"
    raise DataError(
        f"no CIFAR-10 batches in '{root}' (looked for data_batch_1[.bin] and test_batch[.bin] "
        f"there and in {' and '.join(_SUBDIRS)}); download and extract CIFAR-10 first"
    )


def _batch_names(split: str, kind: str, folder: Path) -> list[Path]:
    suffix = ".bin" if kind == "bin" else ""
    names = ["test_batch"] if split == "test" else [f"data_batch_{i}" for i in range(1, 6)]
    paths = [folder / f"{n}{suffix}" for n in names if (folder / f"{n}{suffix}").is_file()]
    if not paths:
        raise DataError(f"no CIFAR-10 {split} batch ({names[0]}{suffix}) in '{shown(folder)}'")
    return paths


def _read_bin(path: Path) -> tuple[np.ndarray, np.ndarray]:
    # A memory map: the records are read when an image is, not all at once.
    size = path.stat().st_size
    if size == 0 or size % RECORD:
        raise DataError(
            f"'{shown(path)}' is not a CIFAR-10 binary batch: {size} bytes is not a whole number "
            f"of {RECORD}-byte records (truncated download?)"
        )
    rec = np.memmap(str(path), dtype=np.uint8, mode="r").reshape(-1, RECORD)
    return rec[:, 1:], np.asarray(rec[:, 0], dtype=np.int64)


def _read_py(path: Path) -> tuple[np.ndarray, np.ndarray]:
    batch = safe_unpickle(path)
    if not isinstance(batch, dict):
        raise DataError(
            f"'{shown(path)}' is not a CIFAR-10 python batch (a {type(batch).__name__})"
        )
    # Python 2 pickles read with latin1 give str keys; some re-pickled copies use bytes keys.
    get = {(k.decode() if isinstance(k, bytes) else k): v for k, v in batch.items()}
    try:
        data = np.asarray(get["data"], dtype=np.uint8)
        labels = np.asarray(get.get("labels", get.get("fine_labels")), dtype=np.int64)
    except (KeyError, TypeError, ValueError) as e:
        raise DataError(f"'{shown(path)}' lacks CIFAR-10 'data'/'labels' entries ({e})") from None
    if data.ndim != 2 or data.shape[1] != RECORD - 1 or len(labels) != len(data):
        raise DataError(
            f"'{shown(path)}' has data of shape {data.shape} and {len(labels)} labels; "
            f"expected N x {RECORD - 1} and N labels"
        )
    return data, labels


def _class_names(folder: Path, kind: str) -> tuple[str, ...]:
    if kind == "bin" and (folder / "batches.meta.txt").is_file():
        names = [n.strip() for n in (folder / "batches.meta.txt").read_text().splitlines()]
        names = [n for n in names if n]
        if len(names) == 10:
            return tuple(names)
    if kind == "py" and (folder / "batches.meta").is_file():
        meta = safe_unpickle(folder / "batches.meta")
        names = (
            meta.get("label_names", meta.get(b"label_names")) if isinstance(meta, dict) else None
        )
        if names and len(names) == 10:
            return tuple(n.decode() if isinstance(n, bytes) else str(n) for n in names)
    return CIFAR10_CLASSES


class Records:
    """The image records of several batches read as one sequence, without concatenating them."""

    def __init__(self, parts: list[np.ndarray], limit: int | None = None) -> None:
        self.parts = parts
        self.starts = np.cumsum([0] + [len(p) for p in parts])
        self.count = int(self.starts[-1]) if limit is None else min(limit, int(self.starts[-1]))

    def __len__(self) -> int:
        return self.count

    def __getitem__(self, i: int) -> np.ndarray:
        k = int(np.searchsorted(self.starts, i, side="right")) - 1
        return self.parts[k][i - self.starts[k]]


def open_cifar10(
    root: str | Path, split: str, *, limit: int | None = None
) -> tuple[Records, np.ndarray, tuple[str, ...], list[Path]]:
    """The records, labels, classes and batch files of a CIFAR-10 split; nothing decoded."""
    folder, kind = find_cifar_dir(root)
    read = _read_bin if kind == "bin" else _read_py
    files = _batch_names(split, kind, folder)
    parts = [read(p) for p in files]
    records = Records([d for d, _ in parts], limit)
    labels = np.concatenate([lab for _, lab in parts])[: len(records)]
    if labels.size and (labels.min() < 0 or labels.max() > 9):
        raise DataError(f"CIFAR-10 labels in '{shown(folder)}' must be 0-9, found {labels.max()}")
    return records, labels, _class_names(folder, kind), files


def load_cifar10(
    root: str | Path,
    split: str,
    size: int | tuple[int, int] = 32,
    *,
    limit: int | None = None,
) -> tuple[np.ndarray, np.ndarray, tuple[str, ...]]:
    """Read a CIFAR-10 split as BGR uint8 ``N x H x W x 3`` images and int64 labels.

    Args:
        root: The extracted batches folder or its parent.
        split: ``"train"`` (data batches 1-5) or ``"test"`` (``test_batch``).
        size: Output size; images are resized from 32x32 with ``InputSpec.resize_image``.
        limit: Keep the first ``limit`` images.

    Returns:
        ``(images, labels, classes)``.
    """
    folder, kind = find_cifar_dir(root)
    read = _read_bin if kind == "bin" else _read_py
    parts = [read(p) for p in _batch_names(split, kind, folder)]
    data = np.concatenate([d for d, _ in parts])
    labels = np.concatenate([lab for _, lab in parts])
    if limit is not None:
        data, labels = data[:limit], labels[:limit]
    if labels.size and (labels.min() < 0 or labels.max() > 9):
        raise DataError(f"CIFAR-10 labels in '{shown(folder)}' must be 0-9, found {labels.max()}")
    # Planes R, G, B -> H x W x C, then reverse channels: OpenCV's BGR everywhere.
    images = data.reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1)[..., ::-1]
    spec = resizer(size)
    if spec.size != (32, 32):
        images = np.stack([spec.resize_image(np.ascontiguousarray(im)) for im in images])
    return np.ascontiguousarray(images), labels, _class_names(folder, kind)
