"""What a run leaves beside its checkpoint: history.csv, metrics.json and curves.png."""

from __future__ import annotations

import csv
import io
from pathlib import Path
from typing import Any

from edgeres.fileio import atomic_path, atomic_write_text
from edgeres.text import json_text

HISTORY_FIELDS = (
    "epoch",
    "lr",
    "train_loss",
    "train_accuracy",
    "val_loss",
    "val_accuracy",
    "test_accuracy",
    "images_per_second",
    "seconds",
)


def write_history(path: Path, history: list[dict[str, Any]]) -> None:
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=HISTORY_FIELDS, extrasaction="ignore")
    writer.writeheader()
    for row in history:
        writer.writerow({k: (f"{v:.6g}" if isinstance(v, float) else v) for k, v in row.items()})
    atomic_write_text(path, buf.getvalue())


def write_metrics(path: Path, metrics: dict[str, Any]) -> None:
    atomic_write_text(path, json_text(metrics, indent=2, sort_keys=True) + "\n")


def plot_curves(path: Path, history: list[dict[str, Any]], title: str) -> None:
    """Loss and accuracy per epoch, train against held-out, in one PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    epochs = [r["epoch"] for r in history]
    fig, (ax_loss, ax_acc) = plt.subplots(1, 2, figsize=(10, 4), constrained_layout=True)
    ax_loss.plot(epochs, [r["train_loss"] for r in history], "o-", label="train")
    ax_loss.plot(epochs, [r["val_loss"] for r in history], "s-", label="validation")
    ax_loss.set(xlabel="epoch", ylabel="cross-entropy loss", title="loss")
    ax_loss.legend()
    for key, label, marker in (
        ("train_accuracy", "train", "o-"),
        ("val_accuracy", "validation", "s-"),
        ("test_accuracy", "test", "^-"),
    ):
        ax_acc.plot(epochs, [100 * r[key] for r in history], marker, label=label)
    ax_acc.set(xlabel="epoch", ylabel="top-1 accuracy (%)", title="accuracy")
    ax_acc.set_ylim(0, 100)
    ax_acc.grid(alpha=0.3)
    ax_acc.legend(loc="lower right")
    fig.suptitle(title)
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=100, format="png")
    plt.close(fig)
