"""Plain-text tables for the terminal and Markdown, shared by ``devices``, ``benchmark`` and ``doctor``."""

from __future__ import annotations

from collections.abc import Sequence

from edgeres.text import shown


def text_table(headers: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    """Left-aligned columns separated by two spaces, with a dashed rule under the header."""
    cells = [[str(h) for h in headers]] + [[_cell(c) for c in row] for row in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(headers))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() for r in cells]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def md_table(headers: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    """A GitHub-flavoured Markdown table."""
    out = ["| " + " | ".join(map(str, headers)) + " |", "|" + "---|" * len(headers)]
    out += ["| " + " | ".join(_cell(c).replace("|", "\\|") for c in row) + " |" for row in rows]
    return "\n".join(out)


def _cell(value: object) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.3g}" if abs(value) < 100 else f"{value:.0f}"
    # File names, class names and device replies: no escape codes or line breaks in a table.
    return shown(value)


def profile_rows(profiles: Sequence) -> tuple[list[str], list[list[object]]]:
    """Headers and rows for ``edgeres devices``: the profile matching this machine is marked ``*``."""
    # ``host`` always describes this machine; mark it only when no shipped profile matches.
    device = any(p.is_host for p in profiles if p.name != "host")
    headers = ["", "NAME", "THREADS", "PREFERRED", "INT8 ACT", "ONNX PROVIDERS", "DESCRIPTION"]
    rows = [
        [
            "*" if p.is_host and not (device and p.name == "host") else "",
            p.name,
            p.threads,
            f"{p.preferred_format} {p.precision}",
            p.int8_activations,
            ",".join(x.replace("ExecutionProvider", "") for x in p.providers_for("onnx")),
            p.description if len(p.description) <= 60 else p.description[:57] + "...",
        ]
        for p in profiles
    ]
    return headers, rows
