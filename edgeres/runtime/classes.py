"""Matching a data set's classes to a model's: by name, as the file's metadata lists them.

Labels of an image folder are positions in its sorted folder names; a model's outputs are
positions in the class list it was trained with. The two agree only by name: a correct model on a
folder whose classes sort in another order would otherwise score 0%.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from edgeres.errors import DataError


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

    Args:
        labels: The data set's labels.
        data_classes: The data set's class names in label order.
        model_classes: The model's class names in output order (from its metadata).
        by_index: Take label *i* as output *i* whatever the names (``--by-index``).

    Raises:
        DataError: The names differ (listing the difference), or, by index, the counts do.
    """
    labels = np.asarray(labels)
    if by_index or _unnamed(model_classes) or _unnamed(data_classes):
        if data_classes and model_classes and len(data_classes) != len(model_classes):
            raise DataError(
                f"the model has {len(model_classes)} classes but the data has "
                f"{len(data_classes)}; evaluate on the data set the model was trained on"
            )
        return labels
    position = {name: i for i, name in enumerate(model_classes)}
    missing = [c for c in data_classes if c not in position]
    if missing:
        extra = [c for c in model_classes if c not in set(data_classes)]
        raise DataError(
            "the data's class names do not match the model's: only in the data: "
            f"{', '.join(missing)}; only in the model: {', '.join(extra) or 'none'}. Rename the "
            "class folders, or pass --by-index to score label i as output i"
        )
    mapping = np.asarray([position[c] for c in data_classes], dtype=np.int64)
    return mapping[labels]
