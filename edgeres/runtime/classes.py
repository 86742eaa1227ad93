"""Matching a data set's classes to a model's: by name, as the file's metadata lists them.

Labels of an image folder are positions in its sorted folder names (or in its ``labels.txt``); a
model's outputs are positions in the class list it was trained with. The two agree only by name:
a correct model on a folder whose classes sort in another order would otherwise score 0%. A data
set may hold fewer classes than the model; it may not hold one the model does not know.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

import numpy as np

from edgeres.errors import DataError
from edgeres.text import shown

log = logging.getLogger("edgeres.runtime")


def scored(imageset: object, count: int) -> np.ndarray:
    """Which of the ``count`` images of ``imageset`` are scored: all but those found unreadable
    while streaming (``imageset.bad``; they were read as black frames). The one rule every
    score uses (eval, its report, quantize's FP32 vs INT8), so their counts agree."""
    keep = np.ones(count, dtype=bool)
    keep[sorted(getattr(imageset, "bad", ()))] = False
    return keep


def _unnamed(classes: Sequence[str]) -> bool:
    # Files without metadata get "0", "1", ...: there is no name to match.
    return not classes or all(c.isdigit() for c in classes)


def model_labels(
    labels: np.ndarray,
    data_classes: Sequence[str],
    model_classes: Sequence[str],
    by_index: bool = False,
) -> np.ndarray:
    """``labels`` (indices into ``data_classes``) as indices into ``model_classes``.

    Named classes are matched by name, so a data set holding only some of the model's classes
    (new photos of two of ten kinds) is scored on those, with a warning naming the absent
    ones. Folders named by number (``0/``, ``3/``) are outputs 0 and 3. Otherwise (a file
    without class names, or ``by_index``) label *i* is output *i*, which needs the whole list
    of classes in the model's order (a ``labels.txt`` beside the folder gives it).

    Args:
        labels: The data set's labels.
        data_classes: The data set's class names in label order.
        model_classes: The model's class names in output order (from its metadata).
        by_index: Take label *i* as output *i* whatever the names (``--by-index``).

    Raises:
        DataError: A data class the model does not know (listing the difference), a number
            beyond its outputs, or, by index, more or fewer classes than it has.
    """
    labels = np.asarray(labels)
    if data_classes and all(c.isdigit() for c in data_classes) and model_classes:
        mapping = _by_number(data_classes, model_classes)
    elif by_index or _unnamed(model_classes) or _unnamed(data_classes):
        if data_classes and model_classes and len(data_classes) != len(model_classes):
            raise DataError(
                f"the model has {len(model_classes)} classes but the data has "
                f"{len(data_classes)}, and {_why_by_index(model_classes, by_index)}; put a "
                "labels.txt listing the model's classes in output order beside the class folders"
            )
        return labels
    else:
        mapping = _by_name(data_classes, model_classes)
    _say_absent(labels, mapping, model_classes)
    return mapping[labels] if len(labels) else labels.astype(np.int64)


def _why_by_index(model_classes: Sequence[str], by_index: bool) -> str:
    if by_index:
        return "--by-index takes label i as output i (drop it to match the classes by name)"
    return "the model names no classes to match them by"


def _by_number(data_classes: Sequence[str], model_classes: Sequence[str]) -> np.ndarray:
    outputs = [int(c) for c in data_classes]
    beyond = [c for c, n in zip(data_classes, outputs, strict=True) if n >= len(model_classes)]
    if beyond:
        raise DataError(
            f"the data has class folders {', '.join(beyond)} but the model has outputs "
            f"0..{len(model_classes) - 1} only"
        )
    return np.asarray(outputs, dtype=np.int64)


def _by_name(data_classes: Sequence[str], model_classes: Sequence[str]) -> np.ndarray:
    position = {name: i for i, name in enumerate(model_classes)}
    missing = [c for c in data_classes if c not in position]
    if missing:
        extra = [c for c in model_classes if c not in set(data_classes)]
        raise DataError(
            "the data's class names do not match the model's: only in the data: "
            f"{', '.join(missing)}; only in the model: {', '.join(extra) or 'none'}. Rename the "
            "class folders, or pass --by-index to score label i as output i"
        )
    return np.asarray([position[c] for c in data_classes], dtype=np.int64)


def _say_absent(labels: np.ndarray, mapping: np.ndarray, model_classes: Sequence[str]) -> None:
    """Warn when the data holds only some of the model's classes (scored: those it holds)."""
    present = set(mapping[np.unique(labels)].tolist()) if len(labels) else set()
    absent = [c for i, c in enumerate(model_classes) if i not in present]
    if not absent or not present:
        return
    shown_absent = ", ".join(absent[:10]) + (
        f" and {len(absent) - 10} more" if len(absent) > 10 else ""
    )
    # Logged, not warned: scoring runs outside the CLI's load-time warning capture, and a
    # log line reaches stderr whether the caller is the CLI, the API or a notebook.
    log.warning(
        "warning: %s",
        shown(
            f"the data holds {len(present)} of the model's {len(model_classes)} classes; "
            f"scoring those (absent: {shown_absent})"
        ),
    )
