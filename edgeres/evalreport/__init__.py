"""``edgeres eval --report DIR``: where a model is wrong, for any model file.

Writes ``report.json`` and ``report.md`` (per-class precision/recall/F1, the most confused pairs,
accuracy) and, with matplotlib (the ``plot`` extra), ``confusion.png``; with ``--compare FILE``
also the images where the two models disagree, as ``disagreements.png``. Without matplotlib the
JSON and Markdown are still written and the report says which PNGs need it. No torch.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from edgeres.errors import UsageError
from edgeres.evalreport.metrics import (
    ClassScore,
    Disagreement,
    class_scores,
    confused_pairs,
    confusion_matrix,
    disagreement,
)
from edgeres.fileio import atomic_write_text
from edgeres.runtime.options import EVAL_BATCH
from edgeres.text import json_text, md_cell, shown

__all__ = ["EvalReport", "build_report", "check_report_dir", "eval_report", "write_report"]

PLOT_HINT = "pip install 'edgeres[plot]'"
# Every name a report writes into its folder.
REPORT_FILES = ("report.json", "report.md", "confusion.png", "disagreements.png")


@dataclass
class EvalReport:
    """What ``write_report`` saves.

    Attributes:
        model: The model file scored.
        data: The data set and split.
        accuracy: Top-1.
        classes: Per-class scores, in label order.
        macro_f1: Mean F1 over the classes.
        matrix: Confusion matrix (row: true class, column: predicted).
        pairs: The most confused (true, predicted) pairs.
        compare: Where the model and the ``--compare`` file disagree (None without one).
        files: Files written, by kind.
        missing: What could not be drawn, and what to install.
    """

    model: str
    data: str
    accuracy: float
    classes: list[ClassScore]
    macro_f1: float
    matrix: np.ndarray
    pairs: list[dict[str, Any]]
    compare: Disagreement | None = None
    files: dict[str, str] = field(default_factory=dict)
    missing: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        compare = None
        if self.compare is not None:
            c = self.compare
            compare = {"reference": c.reference, "count": c.count, "share": c.share}
            compare["shown"] = [
                {"index": i, "model": m, "reference": r}
                for i, m, r in zip(c.indices, c.model_labels, c.reference_labels, strict=True)
            ]
        return {
            "model": self.model,
            "data": self.data,
            "accuracy": self.accuracy,
            "macro_f1": self.macro_f1,
            "classes": [c.to_dict() for c in self.classes],
            "confusion_matrix": self.matrix.tolist(),
            "most_confused": self.pairs,
            "compare": compare,
            "files": self.files,
            "missing": self.missing,
        }


def build_report(
    model: str,
    data: str,
    labels: np.ndarray,
    predictions: np.ndarray,
    names: tuple[str, ...],
    reference: tuple[str, np.ndarray] | None = None,
) -> EvalReport:
    """The report of ``predictions`` against ``labels`` (and against ``reference``'s predictions,
    a ``(name, predictions)`` pair, when given)."""
    labels, predictions = np.asarray(labels), np.asarray(predictions)
    if len(labels) == 0 or len(labels) != len(predictions):
        raise UsageError(f"need one prediction per label, got {len(predictions)} for {len(labels)}")
    count = max(len(names), int(labels.max()) + 1, int(predictions.max()) + 1)
    names = tuple(names) + tuple(str(i) for i in range(len(names), count))
    matrix = confusion_matrix(labels, predictions, count)
    scores = class_scores(matrix, names)
    return EvalReport(
        model=model,
        data=data,
        accuracy=float(np.mean(labels == predictions)),
        classes=scores,
        macro_f1=float(np.mean([s.f1 for s in scores])),
        matrix=matrix,
        pairs=confused_pairs(matrix, names),
        compare=disagreement(predictions, reference[1], reference[0]) if reference else None,
    )


def write_report(report: EvalReport, out_dir: str | Path, images: np.ndarray | None = None) -> None:
    """Write the JSON, Markdown and PNGs into ``out_dir`` (refusing to replace a report there).

    ``images`` (uint8 BGR, as scored) feed the disagreement contact sheet.
    """
    from edgeres.evalreport import plots

    out = check_report_dir(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    names = tuple(c.name for c in report.classes)
    drawn = plots.draw(report, names, images, out)
    report.files.update(drawn.files)
    report.missing.extend(drawn.missing)
    report.files["json"] = str(out / "report.json")
    report.files["markdown"] = str(out / "report.md")
    # Published only if still free: of two reports into one folder at once, the second fails.
    atomic_write_text(out / "report.md", markdown(report), overwrite=False)
    text = json_text(report.to_dict(), indent=2) + "\n"
    atomic_write_text(out / "report.json", text, overwrite=False)


def check_report_dir(out_dir: str | Path) -> Path:
    """``out_dir``, refused when it holds any file a report writes (a report, or a user's own
    ``report.md`` or ``confusion.png``): nothing is ever replaced."""
    out = Path(out_dir)
    taken = [name for name in REPORT_FILES if (out / name).exists()]
    if taken:
        what = "a report" if "report.json" in taken else f"{', '.join(taken)} (not a report's)"
        raise UsageError(
            f"'{shown(out)}' already holds {what}; pick another --report folder, or move "
            "those files away"
        )
    return out


def markdown(report: EvalReport) -> str:
    """The report as a Markdown page."""
    lines = [f"# {md_cell(report.model)} on {md_cell(report.data)}", ""]
    lines.append(f"Top-1 {report.accuracy:.2%}, macro F1 {report.macro_f1:.3f}.")
    lines += [
        "",
        "| class | precision | recall | F1 | support |",
        "| --- | ---: | ---: | ---: | ---: |",
    ]
    for c in report.classes:
        lines.append(
            f"| {md_cell(c.name)} | {c.precision:.3f} | {c.recall:.3f} | {c.f1:.3f} | {c.support} |"
        )
    lines += ["", "## Most confused", ""]
    for p in report.pairs or [{"true": "-", "predicted": "-", "count": 0, "share": 0.0}]:
        true, predicted = md_cell(p["true"]), md_cell(p["predicted"])
        lines.append(f"- {true} taken for {predicted}: {p['count']} ({p['share']:.1%})")
    if report.compare is not None:
        c = report.compare
        lines += ["", f"## Disagreements with {md_cell(c.reference)}", ""]
        lines.append(f"{c.count} images ({c.share:.2%}) get a different top-1.")
    if "confusion" in report.files:
        lines += ["", "![confusion matrix](confusion.png)"]
    if "disagreements" in report.files:
        lines += ["", "![disagreements](disagreements.png)"]
    for note in report.missing:
        lines += ["", f"_{note}_"]  # edgeres' own text
    return "\n".join(lines) + "\n"


def eval_report(
    model: str,
    data: str,
    imageset: Any,
    predictions: np.ndarray,
    names: tuple[str, ...],
    out_dir: str | Path,
    compare: Any = None,
    batch_size: int = EVAL_BATCH,
    quiet: bool = False,
    by_index: bool = False,
) -> EvalReport:
    """Build and write the report of ``predictions`` on ``imageset``.

    Args:
        names: The model's class names in output order (what ``predictions`` index).
        compare: An open backend (the FP32 file) to score the same images with; the report then
            lists and shows where the two disagree.
        by_index: Take label i as output i (``--by-index``), for the ``compare`` file too.

    The labels are matched to the model's outputs by name as ``runtime.evaluate`` does, so the
    report counts what the accuracy counts (a folder's classes sort alphabetically; a model's
    come in its training order).
    """
    from edgeres import runtime
    from edgeres.runtime.classes import model_labels, scored

    reference = None
    if compare is not None:
        ref = runtime.evaluate(
            compare, imageset, batch_size=batch_size, quiet=quiet, by_index=by_index
        )
        reference = (str(compare.path), ref.predictions)
    # Images found unreadable while streaming were scored as black frames: they are left out
    # of every count, as they are of the accuracy. Indices shown stay those of the image set.
    kept = np.flatnonzero(scored(imageset, len(predictions)))
    if reference is not None:
        reference = (reference[0], np.asarray(reference[1])[kept])
    data_classes = tuple(getattr(imageset, "classes", ()))
    labels = model_labels(imageset.labels, data_classes, names, by_index)[kept]
    by_number = bool(data_classes) and all(c.isdigit() for c in data_classes)
    if (by_index or not names or all(n.isdigit() for n in names)) and not by_number:
        names = data_classes or names  # matched by position: the data's names
    report = build_report(model, data, labels, np.asarray(predictions)[kept], names, reference)
    if report.compare is not None:
        report.compare.indices = [int(kept[i]) for i in report.compare.indices]
    write_report(report, out_dir, imageset.images)
    return report
