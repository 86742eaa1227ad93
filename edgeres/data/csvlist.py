"""A CSV of ``path,label`` rows as a data source (``--data list.csv``, ``--calib list.csv``).

Rows are ``path,label`` with an optional third column ``split`` (``train``, ``val`` or
``test``); a first row naming the columns (``path,label[,split]``; ``image``/``file`` and
``class`` are understood too) is a header. Paths are relative to the CSV's folder unless
absolute. The classes are those a ``labels.txt``/``classes.txt`` beside the CSV lists, in its
order, else the labels sorted. Without a split column a seeded share of each class is held out
for ``"test"``, as for a folder of class folders. Missing files and files that are not images
are counted in one summary line.
"""

from __future__ import annotations

import csv
from pathlib import Path

from edgeres.data.common import DATASET_EXTS, Skipped, log_skipped
from edgeres.data.folders import FolderSplit, holdout_split, listed_classes
from edgeres.errors import DataError
from edgeres.text import shown

_PATH_NAMES = ("path", "image", "file", "filename")
_LABEL_NAMES = ("label", "class")
_TRAIN, _TEST = ("train",), ("val", "test")


def is_csv(source: str | Path) -> bool:
    return str(source).lower().endswith(".csv")


def _columns(first: list[str]) -> tuple[int, int, int | None, bool]:
    """``(path, label, split, header)`` column positions from the first row."""
    cells = [c.strip().lower() for c in first]
    path = next((i for i, c in enumerate(cells) if c in _PATH_NAMES), None)
    label = next((i for i, c in enumerate(cells) if c in _LABEL_NAMES), None)
    if path is not None and label is not None:
        return path, label, cells.index("split") if "split" in cells else None, True
    return 0, 1, 2 if len(cells) > 2 else None, False


def read_rows(path: Path) -> list[tuple[Path, str, str | None]]:
    """``(file, label, split)`` of every row.

    Raises:
        DataError: A missing or unreadable CSV, or a row without a path and a label.
    """
    if not path.is_file():
        raise DataError(f"data list '{shown(path)}' does not exist (a CSV of path,label rows)")
    try:
        with open(path, newline="", encoding="utf-8-sig", errors="replace") as f:
            rows = [r for r in csv.reader(f) if r and any(c.strip() for c in r)]
    except (OSError, csv.Error) as e:
        raise DataError(f"cannot read the CSV '{shown(path)}': {shown(e)}") from None
    if not rows:
        raise DataError(f"data list '{shown(path)}' is empty; write one path,label row per image")
    p, lab, sp, header = _columns(rows[0])
    out = []
    for n, row in enumerate(rows[1:] if header else rows, start=2 if header else 1):
        if len(row) <= max(p, lab) or not row[p].strip() or not row[lab].strip():
            raise DataError(f"'{shown(path)}' row {n} is not path,label: {shown(','.join(row))}")
        split = row[sp].strip().lower() if sp is not None and len(row) > sp else None
        if split is not None and split not in (*_TRAIN, *_TEST):
            raise DataError(
                f"'{shown(path)}' row {n} has split '{shown(split)}' (valid: train, val, test)"
            )
        file = Path(row[p].strip())
        out.append((file if file.is_absolute() else path.parent / file, row[lab].strip(), split))
    return out


def _classes(path: Path, labels: list[str]) -> tuple[str, ...]:
    found = listed_classes(path.parent)
    if found is None:
        return tuple(sorted(set(labels)))
    names, class_file = found
    unknown = sorted(set(labels) - set(names))
    if unknown:
        raise DataError(
            f"'{shown(path)}' has labels {shown(', '.join(unknown[:5]))} that "
            f"'{shown(class_file)}' does not list"
        )
    return names


def list_csv_split(path: str | Path, split: str, *, seed: int = 0) -> FolderSplit:
    """The files and labels of ``split`` (``"train"`` or ``"test"``) in a CSV list."""
    path = Path(path)
    rows, skipped = read_rows(path), Skipped()
    kept = []
    for file, label, row_split in rows:
        if file.suffix.lower() not in DATASET_EXTS:
            skipped.add(file, "not image files")
        elif not file.is_file():
            skipped.add(file, "missing")
        else:
            kept.append((file, label, row_split))
    log_skipped(skipped, path)
    classes = _classes(path, [label for _, label, _ in rows])
    index = {c: i for i, c in enumerate(classes)}
    if any(s is not None for _, _, s in kept):
        wanted = _TRAIN if split == "train" else _TEST
        chosen = [(f, index[lab]) for f, lab, s in kept if (s or "train") in wanted]
    else:
        chosen = []
        for label, name in enumerate(classes):
            files = [f for f, lab, _ in kept if lab == name]
            train, test = holdout_split(files, seed, label)
            chosen += [(f, label) for f in (train if split == "train" else test)]
    if not chosen:
        raise DataError(f"no {split} images found in the list '{shown(path)}'")
    if split == "train" and len({label for _, label in chosen}) < 2:
        raise DataError(f"'{shown(path)}' lists images of one class; a classifier needs two")
    return FolderSplit([f for f, _ in chosen], [lab for _, lab in chosen], classes, "csv")


def csv_images(path: str | Path) -> list[Path]:
    """Every readable-looking image file a CSV list names (calibration takes them all)."""
    rows, skipped = read_rows(Path(path)), Skipped()
    files = []
    for file, _, _ in rows:
        if file.suffix.lower() not in DATASET_EXTS:
            skipped.add(file, "not image files")
        elif not file.is_file():
            skipped.add(file, "missing")
        else:
            files.append(file)
    log_skipped(skipped, path)
    return files
