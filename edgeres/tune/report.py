"""What ``edgeres tune`` says: the ranked table, one plain recommendation, a plot and a profile."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from edgeres.bench.tables import md_table, text_table
from edgeres.profiles import Profile
from edgeres.text import for_plot, shown
from edgeres.tune.sweep import Row, TuneConfig, TuneResult, rank

HEADERS = ["#", "file", "engine", "precision", "threads", "p50 ms", "p90 ms", "GMAC/s",
           "top-1 %", "vs best", "note"]  # fmt: skip


@dataclass(frozen=True)
class Recommendation:
    """The fastest eligible row, what it beats, and whether INT8 pays here."""

    best: Row
    next_best: Row | None
    best_int8: Row | None
    best_fp32: Row | None
    excluded: list[Row]

    def sentence(self) -> str:
        b = self.best
        text = f"use {b.file.name} on {b.engine} with {_threads(b.threads)}: {b.p50_ms:.4g} ms"
        if self.next_best is not None:
            ratio = self.next_best.p50_ms / b.p50_ms
            text += f", {ratio:.2f}x faster than the next best ({self.next_best.label()})"
        return text + self._int8_clause()

    def _int8_clause(self) -> str:
        i8, f32 = self.best_int8, self.best_fp32
        if i8 is None or f32 is None:
            return ""
        ratio = f32.p50_ms / i8.p50_ms
        if ratio >= 1:
            return f"; INT8 is {ratio:.2f}x faster than FP32 here"
        return (
            f"; INT8 is slower than FP32 on this CPU ({i8.p50_ms:.4g} vs {f32.p50_ms:.4g} ms); "
            f"use {f32.file.name}"
        )


def _threads(n: int) -> str:
    return f"{n} thread" + ("s" if n != 1 else "")


def recommend(result: TuneResult) -> Recommendation | None:
    """The fastest row within ``max_drop``, or None when nothing was measured or eligible."""
    eligible = rank(result.eligible())
    if not eligible:
        return None
    best = eligible[0]
    others = [r for r in eligible if (r.file, r.engine) != (best.file, best.engine)]
    measured = rank(result.measured)
    excluded = [r for r in measured if r not in eligible]
    # Whether INT8 pays is a fact of this CPU: compare the fastest of each, eligible or not.
    int8 = next((r for r in measured if r.precision == "int8"), None)
    fp32 = next((r for r in measured if r.precision == "fp32"), None)
    return Recommendation(best, others[0] if others else None, int8, fp32, excluded)


def rows_table(result: TuneResult) -> tuple[list[str], list[list[object]]]:
    eligible = result.eligible()
    best = min((r.p50_ms for r in eligible), default=None)
    table = []
    for i, r in enumerate(result.rows, 1):
        res = r.result
        if res is None:
            table.append([i, r.file.name, r.engine, "", r.threads, *[None] * 5, r.error])
            continue
        gmacs = res.macs / res.latency.p50_ms / 1e6 if res.macs and res.latency.p50_ms else None
        acc = round(100 * res.accuracy, 2) if res.accuracy is not None else None
        note = "" if r in eligible else f"over --max-drop {result.max_drop:g} pts"
        vs = f"{res.latency.p50_ms / best:.2f}x" if best else None
        table.append([i, r.file.name, r.engine, res.precision, r.threads,
                      round(res.latency.p50_ms, 4), round(res.latency.p90_ms, 4),
                      round(gmacs, 1) if gmacs else None, acc, vs, note])  # fmt: skip
    return HEADERS, table


def to_text(result: TuneResult) -> str:
    lines = [text_table(*rows_table(result)), ""]
    rec = recommend(result)
    lines.append(
        f"recommendation: {rec.sentence()}" if rec else "recommendation: none (no row measured)"
    )
    for r in rec.excluded if rec else []:
        lines.append(
            f"  left out: {r.label()}: top-1 {100 * r.accuracy:.2f}% is more than "
            f"{result.max_drop:g} pts below the best FP32"
            if r.accuracy is not None
            else f"  left out: {r.label()}: not scored"
        )
    # File names reach the terminal: the table escapes its cells, the lines under it here.
    return "\n".join([lines[0], *(shown(line) for line in lines[1:])])


def to_markdown(result: TuneResult, command: str = "") -> str:
    rec = recommend(result)
    out = [md_table(*rows_table(result)), ""]
    out.append(f"**Recommendation:** {rec.sentence()}." if rec else "No row was measured.")
    if command:
        out += ["", f"Measured with `{command}` on {result.profile.description}."]
    return "\n".join(out) + "\n"


def to_dict(result: TuneResult) -> dict[str, Any]:
    rec = recommend(result)
    return {
        "profile": result.profile.name,
        "max_drop": result.max_drop,
        "data": result.data,
        "notes": result.notes,
        "recommendation": rec.sentence() if rec else None,
        "best": _row_dict(rec.best) if rec else None,
        "rows": [_row_dict(r) for r in result.rows],
    }


def _row_dict(r: Row) -> dict[str, Any]:
    return {
        "file": str(r.file),
        "format": r.format,
        "engine": r.engine,
        "threads": r.threads,
        "error": r.error,
        "result": r.result.to_dict() if r.result else None,
    }


def tuned_profile(result: TuneResult) -> Profile:
    """The starting profile with the winner's threads, format and precision, and for each format
    its engines in the order they ranked here; the recommendation goes into its notes."""
    rec = recommend(result)
    if rec is None:
        from edgeres.errors import UsageError

        raise UsageError("no row was measured, so there is no profile to save")
    order: dict[str, list[str]] = {}
    for r in rank(result.eligible()):
        if r.engine not in order.setdefault(r.format, []):
            order[r.format].append(r.engine)
    base = result.profile
    return dataclasses.replace(
        base,
        name=f"{base.name}-tuned",
        description=f"{base.description}; tuned by edgeres tune",
        threads=rec.best.threads,
        engines={fmt: tuple(names) for fmt, names in order.items()},
        preferred_format=rec.best.format,
        precision=rec.best.precision or base.precision,
        notes=f"edgeres tune: {rec.sentence()}. Preferred file: {rec.best.file.name}.",
        source="",
    )


def write_outputs(result: TuneResult, config: TuneConfig, command: str = "") -> list[Path]:
    """Write the profile, Markdown and plot ``config`` asks for, each atomically."""
    from edgeres.fileio import atomic_write_text

    written = []
    if config.save:
        atomic_write_text(config.save, tuned_profile(result).to_yaml())
        written.append(config.save)
    if config.md:
        atomic_write_text(config.md, to_markdown(result, command))
        written.append(config.md)
    if config.plot:
        save_plot(result, config.plot)
        written.append(config.plot)
    return written


def save_plot(result: TuneResult, path: Path) -> Path:
    """Horizontal bars of every measured row's p50 (fastest on top), coloured by engine."""
    from edgeres.bench.plot import require_pyplot
    from edgeres.fileio import atomic_path

    plt = require_pyplot()
    rows = [r for r in result.rows if r.result is not None][::-1]
    engines = sorted({r.engine for r in rows})
    colours = {e: plt.get_cmap("tab10")(i) for i, e in enumerate(engines)}
    fig, ax = plt.subplots(figsize=(9, 0.35 * len(rows) + 1.6))
    ax.barh(range(len(rows)), [r.p50_ms for r in rows], color=[colours[r.engine] for r in rows])
    ax.set_yticks(range(len(rows)), [_plot_label(r) for r in rows], fontsize=8)
    ax.set_xlabel("p50 latency (ms, batch 1) - shorter is better")
    ax.set_title(for_plot(f"edgeres tune on {result.profile.description[:70]}"), fontsize=9)
    handles = [plt.Rectangle((0, 0), 1, 1, color=colours[e]) for e in engines]
    ax.legend(handles, engines, fontsize=8, loc="upper right", framealpha=0.9)
    fig.tight_layout()
    with atomic_path(Path(path)) as tmp:
        fig.savefig(tmp, format="png", dpi=110)
    plt.close(fig)
    return Path(path)


def _plot_label(r: Row) -> str:
    acc = f", {100 * r.accuracy:.1f}%" if r.accuracy is not None else ""
    return for_plot(f"{r.file.name} {r.engine} {r.threads}t{acc}")
