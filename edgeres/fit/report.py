"""The search's table (Markdown and CSV) and its accuracy x latency plot, Pareto front marked."""

from __future__ import annotations

import csv
import io
from pathlib import Path
from typing import Any

from edgeres.fileio import atomic_path, atomic_write_text
from edgeres.text import csv_cell, for_plot, md_cell

COLUMNS = (
    "trial", "candidate", "state", "pareto", "latency_ms", "latency_kind", "engine",
    "threads", "val_accuracy", "test_accuracy", "train_seconds",
)  # fmt: skip


def rows(study) -> list[dict[str, Any]]:
    """One row per trial of the main study, Pareto-front trials flagged."""
    front = {t.number for t in study.best_trials}
    out = []
    for t in study.get_trials(deepcopy=False):
        lat = t.user_attrs.get("latency", {})
        out.append(
            {
                "trial": t.number,
                "candidate": t.params.get("candidate", ""),
                "state": t.state.name.lower(),
                "pareto": t.number in front,
                "latency_ms": lat.get("p50_ms"),
                "latency_kind": lat.get("kind", ""),
                "engine": lat.get("engine", ""),
                "threads": lat.get("threads"),
                "val_accuracy": t.values[0] if t.values else None,
                "test_accuracy": t.user_attrs.get("test_accuracy"),
                "train_seconds": t.user_attrs.get("train_seconds"),
            }
        )
    return out


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    if isinstance(value, bool):
        return "yes" if value else ""
    return "" if value is None else str(value)


def to_markdown(table: list[dict], budget_ms: float, target: str, command: str) -> str:
    lines = [
        f"Accuracy x INT8 latency on {md_cell(target)}, budget {budget_ms:g} ms "
        "(val_accuracy: the proxy run's held-out share)",
        "",
        "| " + " | ".join(COLUMNS) + " |",
        "|" + "---|" * len(COLUMNS),
    ]
    for r in table:
        lines.append("| " + " | ".join(md_cell(_fmt(r[c])) for c in COLUMNS) + " |")
    lines += ["", f"`{command}`", ""]
    return "\n".join(lines)


def to_csv(table: list[dict]) -> str:
    buf = io.StringIO()
    writer = csv.writer(buf)
    writer.writerow(COLUMNS)
    for r in table:
        writer.writerow([csv_cell(r[c]) for c in COLUMNS])
    return buf.getvalue()


def save_plot(table: list[dict], budget_ms: float, target: str, path: Path) -> Path:
    """Validation accuracy against latency: every finished trial, the Pareto front joined."""
    from edgeres.bench.plot import require_pyplot

    plt = require_pyplot()
    done = [r for r in table if r["val_accuracy"] is not None and r["latency_ms"] is not None]
    front = sorted((r for r in done if r["pareto"]), key=lambda r: r["latency_ms"])
    fig, ax = plt.subplots(figsize=(7, 4.5))
    ax.scatter([r["latency_ms"] for r in done], [r["val_accuracy"] for r in done], c="0.6")
    ax.plot([r["latency_ms"] for r in front], [r["val_accuracy"] for r in front], "o-", c="C0")
    for r in front:
        ax.annotate(for_plot(r["candidate"]), (r["latency_ms"], r["val_accuracy"]), fontsize=7)
    ax.axvline(budget_ms, color="C3", linestyle="--", label=f"budget {budget_ms:g} ms")
    ax.set_xlabel(f"INT8 latency on {for_plot(target)} (ms)")
    ax.set_ylabel("validation accuracy (proxy run)")
    ax.legend(loc="lower right")
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=110)
    plt.close(fig)
    return path


def write_all(study, out: Path, budget_ms: float, target: str, command: str) -> list[Path]:
    """pareto.md, pareto.csv and pareto.png in ``out``."""
    table = rows(study)
    atomic_write_text(out / "pareto.md", to_markdown(table, budget_ms, target, command))
    atomic_write_text(out / "pareto.csv", to_csv(table))
    save_plot(table, budget_ms, target, out / "pareto.png")
    return [out / "pareto.md", out / "pareto.csv", out / "pareto.png"]
