"""The eval report's PNGs: the confusion matrix and the disagreement contact sheet.

matplotlib is optional (the ``plot`` extra): without it ``draw`` writes nothing and says what to
install, so a device without it still gets the JSON and Markdown.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from edgeres.fileio import atomic_path
from edgeres.text import for_plot

SHEET_COLUMNS = 8
SHEET_MAX = 32


@dataclass
class Drawn:
    files: dict[str, str] = field(default_factory=dict)
    missing: list[str] = field(default_factory=list)


def _pyplot():
    try:
        import matplotlib
    except ImportError:
        return None
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def draw(report, names: tuple[str, ...], images: np.ndarray | None, out: Path) -> Drawn:
    """Draw what applies into ``out``; return the files and the notes on what was not drawn."""
    drawn = Drawn()
    wanted = ["confusion.png"]
    if report.compare is not None and report.compare.count and images is not None:
        wanted.append("disagreements.png")
    plt = _pyplot()
    if plt is None:
        from edgeres.evalreport import PLOT_HINT

        drawn.missing.append(f"{', '.join(wanted)} need matplotlib: {PLOT_HINT}")
        return drawn
    names = tuple(for_plot(n) for n in names)  # "$\\x$" in a folder name is not mathtext
    drawn.files["confusion"] = str(
        _save(plt, confusion_figure(plt, report.matrix, names), out / wanted[0])
    )
    if len(wanted) == 2:
        fig = contact_sheet(plt, report.compare, images, names)
        drawn.files["disagreements"] = str(_save(plt, fig, out / wanted[1]))
    return drawn


def _save(plt, fig, path: Path) -> Path:
    with atomic_path(path, overwrite=False) as tmp:
        fig.savefig(tmp, dpi=100, format="png")
    plt.close(fig)
    return path


def confusion_figure(plt, matrix: np.ndarray, names: tuple[str, ...]):
    """Counts, coloured by share of the true class (rows), numbers in the cells."""
    n = len(names)
    rows = matrix.sum(axis=1, keepdims=True)
    share = np.divide(matrix, rows, out=np.zeros(matrix.shape, float), where=rows > 0)
    size = max(4.0, 0.45 * n + 2)
    fig, ax = plt.subplots(figsize=(size, size))
    ax.imshow(share, cmap="Blues", vmin=0, vmax=1)
    ax.set_xticks(range(n), names, rotation=90, fontsize=7)
    ax.set_yticks(range(n), names, fontsize=7)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    if n <= 20:  # beyond that the numbers would not fit their cells
        for i in range(n):
            for j in range(n):
                if matrix[i, j]:
                    color = "white" if share[i, j] > 0.5 else "black"
                    ax.text(
                        j, i, str(matrix[i, j]), ha="center", va="center", fontsize=7, color=color
                    )
    ax.set_title("confusion matrix (colour: share of the true class)", fontsize=9)
    fig.tight_layout()
    return fig


def contact_sheet(plt, compare, images: np.ndarray, names: tuple[str, ...]):
    """The first disagreeing images, each titled with both models' top-1."""
    shown = list(zip(compare.indices, compare.model_labels, compare.reference_labels, strict=True))
    shown = shown[:SHEET_MAX]
    cols = min(SHEET_COLUMNS, len(shown))
    rows = -(-len(shown) // cols)
    fig, axes = plt.subplots(
        rows, cols, figsize=(max(4.0, 1.6 * cols), 1.9 * rows + 0.4), squeeze=False
    )
    for ax in axes.flat:
        ax.axis("off")
    for ax, (index, mine, ref) in zip(axes.flat, shown, strict=False):
        ax.imshow(images[index][..., ::-1])  # BGR -> RGB
        ax.set_title(f"#{index}\nthis: {names[mine]}\nref: {names[ref]}", fontsize=6)
    fig.suptitle(
        f"top-1 differs from {for_plot(Path(compare.reference).name)}: {compare.count} images",
        fontsize=8,
    )
    fig.tight_layout()
    return fig
