"""Where a classifier is wrong: per-class precision/recall/F1, the confusion matrix, the most
confused pairs, and where two models of one network disagree. numpy only (runs on a device)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np


@dataclass(frozen=True)
class ClassScore:
    """One class: ``precision = TP / predicted``, ``recall = TP / actual``, F1 their harmonic mean
    (0 where the denominator is 0)."""

    name: str
    precision: float
    recall: float
    f1: float
    support: int

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "precision": self.precision,
            "recall": self.recall,
            "f1": self.f1,
            "support": self.support,
        }


@dataclass
class Disagreement:
    """Images where a model (INT8) and its reference (FP32) give different top-1."""

    reference: str
    count: int
    share: float
    indices: list[int] = field(default_factory=list)
    model_labels: list[int] = field(default_factory=list)
    reference_labels: list[int] = field(default_factory=list)


def confusion_matrix(labels: np.ndarray, predictions: np.ndarray, classes: int) -> np.ndarray:
    """``classes x classes`` counts: row = true class, column = predicted class."""
    matrix = np.zeros((classes, classes), dtype=np.int64)
    np.add.at(matrix, (np.asarray(labels, np.int64), np.asarray(predictions, np.int64)), 1)
    return matrix


def _ratio(num: float, den: float) -> float:
    return float(num / den) if den else 0.0


def class_scores(matrix: np.ndarray, names: tuple[str, ...]) -> list[ClassScore]:
    """Precision, recall, F1 and support of every class from the confusion matrix."""
    scores = []
    for i, name in enumerate(names):
        tp = float(matrix[i, i])
        precision = _ratio(tp, matrix[:, i].sum())
        recall = _ratio(tp, matrix[i, :].sum())
        f1 = _ratio(2 * precision * recall, precision + recall)
        scores.append(ClassScore(name, precision, recall, f1, int(matrix[i, :].sum())))
    return scores


def confused_pairs(matrix: np.ndarray, names: tuple[str, ...], top: int = 5) -> list[dict]:
    """The ``top`` largest off-diagonal cells: true class, predicted class, count, share of the
    true class."""
    off = matrix.copy()
    np.fill_diagonal(off, 0)
    order = np.argsort(off, axis=None, kind="stable")[::-1][:top]
    pairs = []
    for flat in order:
        i, j = divmod(int(flat), matrix.shape[1])
        if off[i, j] == 0:
            break
        share = _ratio(off[i, j], matrix[i, :].sum())
        pairs.append(
            {"true": names[i], "predicted": names[j], "count": int(off[i, j]), "share": share}
        )
    return pairs


def disagreement(
    predictions: np.ndarray, reference: np.ndarray, name: str, keep: int = 64
) -> Disagreement:
    """Where ``predictions`` and ``reference`` differ; the first ``keep`` indices are kept."""
    differ = np.flatnonzero(np.asarray(predictions) != np.asarray(reference))
    shown = differ[:keep]
    return Disagreement(
        reference=name,
        count=int(len(differ)),
        share=_ratio(len(differ), len(predictions)),
        indices=[int(i) for i in shown],
        model_labels=[int(predictions[i]) for i in shown],
        reference_labels=[int(reference[i]) for i in shown],
    )
