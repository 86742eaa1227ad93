"""Image folders: one sub-folder per class, the layout of torchvision, Keras and Ultralytics.

Two layouts are accepted:

* ``DIR/train/<class>/*`` and ``DIR/val/<class>/*`` (or ``DIR/test/<class>/*``): the split
  ``"test"`` reads ``val/`` when it exists, else ``test/``.
* ``DIR/<class>/*`` alone: a fixed share (``HOLDOUT``) of each class is held out for ``"test"``,
  chosen by the seed (stratified and deterministic).

Corrupt or non-image files are skipped with a warning naming each; the loader counts them.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from edgeres.data.common import (
    DATASET_EXTS,
    image_files,
    log,
)
from edgeres.errors import DataError
from edgeres.text import shown

HOLDOUT = 0.2  # share of each class held out as "test" when a folder has no train/val split
_EXPECTED = "expected DIR/<class>/<image> or DIR/train/<class>/<image> + DIR/val/<class>/<image>"


@dataclass(frozen=True)
class FolderSplit:
    """The files of one split, before decoding."""

    files: list[Path]
    labels: list[int]
    classes: tuple[str, ...]
    layout: str  # "train/val", "train/test" or "classes"


def _class_dirs(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.is_dir() and not p.name.startswith("."))


def _check_folder(folder: Path) -> None:
    if not folder.exists():
        raise DataError(f"data folder '{shown(folder)}' does not exist ({_EXPECTED})")
    if not folder.is_dir():
        raise DataError(f"data source '{shown(folder)}' is not a folder ({_EXPECTED})")
    if not any(folder.iterdir()):
        raise DataError(f"data folder '{shown(folder)}' is empty ({_EXPECTED})")


def _eval_folder(folder: Path) -> Path | None:
    for name in ("val", "test"):
        if (folder / name).is_dir():
            return folder / name
    return None


def _classes_of(folder: Path) -> tuple[str, ...]:
    dirs = _class_dirs(folder)
    if not dirs:
        raise DataError(f"'{shown(folder)}' has no class sub-folders ({_EXPECTED})")
    return tuple(d.name for d in dirs)


def _files_by_class(
    folder: Path, classes: tuple[str, ...], known: tuple[str, ...] | None = None
) -> list[list[Path]]:
    """The image files of each of ``classes`` in ``folder``; a class folder not in ``known``
    (default ``classes``) is refused."""
    unknown = sorted(set(d.name for d in _class_dirs(folder)) - set(known or classes))
    if unknown:
        raise DataError(
            f"'{shown(folder)}' has class folders {unknown} that the train split lacks "
            f"(train classes: {', '.join(classes)}); use the same class names in both"
        )
    return [
        image_files(folder / c, DATASET_EXTS, warn_other=True) if (folder / c).is_dir() else []
        for c in classes
    ]


def _non_empty(folder: Path, classes: tuple[str, ...]) -> tuple[tuple[str, ...], list[list[Path]]]:
    """The classes of ``folder`` that hold images, and their files; empty ones are skipped.

    An empty folder would otherwise become a class no image teaches, and one class alone
    would train to a meaningless 100%.
    """
    files = _files_by_class(folder, classes)
    for name, found in zip(classes, files, strict=True):
        if not found:
            log.warning("warning: skipped the class folder '%s': it holds no images", folder / name)
    kept = [(c, f) for c, f in zip(classes, files, strict=True) if f]
    if len(kept) < 2:
        names = ", ".join(c for c, _ in kept) or "none"
        raise DataError(
            f"'{folder}' has {len(kept)} class folder(s) with images ({names}); a classifier "
            f"needs at least two classes: add one folder of images per class ({_EXPECTED})"
        )
    return tuple(c for c, _ in kept), [f for _, f in kept]


def _holdout(files: list[Path], seed: int, label: int) -> tuple[list[Path], list[Path]]:
    """Split one class's files into (train, test) by seed; at least one of each when possible."""
    if len(files) < 2:
        return files, []
    order = np.random.default_rng([seed, label, 0x4F1D]).permutation(len(files))
    n_test = min(len(files) - 1, max(1, math.ceil(HOLDOUT * len(files))))
    test = set(order[:n_test].tolist())
    return ([f for i, f in enumerate(files) if i not in test],
            [f for i, f in enumerate(files) if i in test])  # fmt: skip


def list_split(folder: str | Path, split: str, *, seed: int = 0) -> FolderSplit:
    """Find the files and labels of ``split`` (``"train"`` or ``"test"``) in an image folder."""
    folder = Path(folder)
    _check_folder(folder)
    train_dir, eval_dir = folder / "train", _eval_folder(folder)
    if train_dir.is_dir():
        if eval_dir is None:
            raise DataError(
                f"'{shown(folder)}' has train/ but no val/ or test/ folder; add one, or put the class "
                f"folders directly in '{shown(folder)}' to hold out {HOLDOUT:.0%} by seed"
            )
        classes, per_class = _non_empty(train_dir, _classes_of(train_dir))
        if split != "train":
            per_class = _files_by_class(eval_dir, classes, known=_classes_of(train_dir))
        layout = f"train/{eval_dir.name}"
    else:
        classes, all_files = _non_empty(folder, _classes_of(folder))
        per_class = []
        for label, files in enumerate(all_files):
            tr, te = _holdout(files, seed, label)
            per_class.append(tr if split == "train" else te)
        layout = "classes"
    files = [f for fs in per_class for f in fs]
    labels = [label for label, fs in enumerate(per_class) for _ in fs]
    if not files:
        raise DataError(
            f"no {split} images found in '{shown(folder)}' (accepted: {', '.join(sorted(DATASET_EXTS))}, "
            f"any case; {_EXPECTED})"
        )
    return FolderSplit(files, labels, classes, layout)
