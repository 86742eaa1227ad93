"""Image folders: one sub-folder per class, the layout of torchvision, Keras and Ultralytics.

Two layouts are accepted:

* ``DIR/train/<class>/*`` and ``DIR/val/<class>/*`` (or ``DIR/test/<class>/*``): the split
  ``"test"`` reads ``val/`` when it exists, else ``test/``.
* ``DIR/<class>/*`` alone: a fixed share (``HOLDOUT``) of each class is held out for ``"test"``,
  chosen by the seed (stratified and deterministic).

The class is the top-level folder; its images may lie anywhere below it (nested folders). A
``labels.txt`` or ``classes.txt`` in ``DIR`` (one name a line) fixes the classes and their order
(a model's output order); without one the folder names, sorted, are the classes. Files that are
not images, and files outside any class folder, are counted in one summary line; corrupt
images are skipped with a warning naming each when read, and the loader counts them.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from edgeres.data.common import (
    DATASET_EXTS,
    Skipped,
    image_files,
    log,
    log_skipped,
)
from edgeres.errors import DataError
from edgeres.spec import MAX_CLASS_NAME, MAX_CLASSES
from edgeres.text import shown

HOLDOUT = 0.2  # share of each class held out as "test" when a folder has no train/val split
_EXPECTED = "expected DIR/<class>/<image> or DIR/train/<class>/<image> + DIR/val/<class>/<image>"
CLASS_FILES = ("labels.txt", "classes.txt")  # beside the class folders: their names, in order
_MAX_CLASS_FILE_BYTES = 4 << 20


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


def read_class_file(path: Path) -> tuple[str, ...]:
    """Class names from a ``labels.txt``/``classes.txt``: one a line, blank lines ignored.

    Raises:
        DataError: Unreadable, too large, repeated or over-long names.
    """
    try:
        if path.stat().st_size > _MAX_CLASS_FILE_BYTES:
            raise DataError(
                f"'{shown(path)}' is over {_MAX_CLASS_FILE_BYTES} bytes; one class a line"
            )
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError as e:
        raise DataError(f"cannot read '{shown(path)}': {e.strerror}") from None
    names = tuple(line.strip() for line in text.splitlines() if line.strip())
    if len(set(names)) != len(names):
        seen: set[str] = set()
        twice = [n for n in names if n in seen or seen.add(n)]
        raise DataError(f"'{shown(path)}' names a class twice ({shown(', '.join(twice[:5]))})")
    if not names or len(names) > MAX_CLASSES or any(len(n) > MAX_CLASS_NAME for n in names):
        raise DataError(f"'{shown(path)}' must list 1 to {MAX_CLASSES} class names, one a line")
    return names


def listed_classes(folder: Path) -> tuple[tuple[str, ...], Path] | None:
    """The classes a ``labels.txt``/``classes.txt`` in ``folder`` lists, and that file."""
    for name in CLASS_FILES:
        if (folder / name).is_file():
            return read_class_file(folder / name), folder / name
    return None


def _files_by_class(
    folder: Path, classes: tuple[str, ...], skipped: Skipped, known: tuple[str, ...] | None = None
) -> list[list[Path]]:
    """The image files of each of ``classes`` in ``folder``; a class folder not in ``known``
    (default ``classes``) is refused, a file outside the class folders counted as skipped."""
    unknown = sorted(set(d.name for d in _class_dirs(folder)) - set(known or classes))
    if unknown:
        raise DataError(
            f"'{shown(folder)}' has class folders {unknown} that the class list lacks "
            f"(classes: {', '.join(classes)}); use the same class names throughout"
        )
    for p in sorted(folder.iterdir()):
        if p.is_file() and not p.name.startswith(".") and p.name not in CLASS_FILES:
            skipped.add(p, "outside any class folder")
    return [
        image_files(folder / c, DATASET_EXTS, warn_other=True, skipped=skipped)
        if (folder / c).is_dir()
        else []
        for c in classes
    ]


def _non_empty(
    folder: Path, classes: tuple[str, ...], skipped: Skipped, minimum: int, listed: bool
) -> tuple[tuple[str, ...], list[list[Path]]]:
    """The classes of ``folder`` that hold images, and their files; empty ones are skipped
    (kept, without images, when a class file lists them: its order is the model's).

    An empty folder would otherwise become a class no image teaches, and one class alone
    would train to a meaningless 100% (``minimum`` is 2 for training, 1 for scoring).
    """
    files = _files_by_class(folder, classes, skipped)
    empty = [name for name, found in zip(classes, files, strict=True) if not found]
    if empty and not listed:
        for name in empty:
            log.warning("warning: skipped the class folder '%s': it holds no images", folder / name)
    kept = [(c, f) for c, f in zip(classes, files, strict=True) if f]
    if len(kept) < minimum:
        names = ", ".join(c for c, _ in kept) or "none"
        raise DataError(
            f"'{shown(folder)}' has {len(kept)} class folder(s) with images ({names}); a "
            f"{'classifier needs at least two classes' if minimum > 1 else 'data set needs a class'}: "
            "add one folder of images per class "
            f"({_EXPECTED})"
        )
    if listed:
        return classes, files
    return tuple(c for c, _ in kept), [f for _, f in kept]


def holdout_split(files: list[Path], seed: int, label: int) -> tuple[list[Path], list[Path]]:
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
    skipped, minimum = Skipped(), 2 if split == "train" else 1
    if train_dir.is_dir():
        if eval_dir is None:
            raise DataError(
                f"'{shown(folder)}' has train/ but no val/ or test/ folder; add one, or put the class "
                f"folders directly in '{shown(folder)}' to hold out {HOLDOUT:.0%} by seed"
            )
        found = listed_classes(folder) or listed_classes(train_dir)
        names = found[0] if found else _classes_of(train_dir)
        classes, per_class = _non_empty(train_dir, names, skipped, minimum, found is not None)
        if split != "train":
            known = found[0] if found else _classes_of(train_dir)
            per_class = _files_by_class(eval_dir, classes, skipped, known=known)
        layout = f"train/{eval_dir.name}"
    else:
        found = listed_classes(folder)
        names = found[0] if found else _classes_of(folder)
        classes, all_files = _non_empty(folder, names, skipped, minimum, found is not None)
        per_class = []
        for label, files in enumerate(all_files):
            tr, te = holdout_split(files, seed, label)
            per_class.append(tr if split == "train" else te)
        layout = "classes"
    log_skipped(skipped, folder)
    files = [f for fs in per_class for f in fs]
    labels = [label for label, fs in enumerate(per_class) for _ in fs]
    if not files:
        raise DataError(
            f"no {split} images found in '{shown(folder)}' (accepted: {', '.join(sorted(DATASET_EXTS))}, "
            f"any case; {_EXPECTED})"
        )
    return FolderSplit(files, labels, classes, layout)
