"""What the CLI shows for ``--remote``: one table, one row per file x device; a failed device's
row says why. Also the ``--json`` document: ``{"remote": [one entry per device]}``."""

from __future__ import annotations

from typing import Any

from edgeres.bench.report import COLUMNS, comparison_rows, header_lines
from edgeres.bench.tables import text_table
from edgeres.remote.fleet import HostResult
from edgeres.text import shown, shown_lines


def to_json(results: list[HostResult], result_dict=lambda r: r) -> dict:
    """``{"remote": [{host, error, edgeres, versions, result}, ...]}`` in host order."""
    return {
        "remote": [
            {
                "host": r.host,
                "error": r.error,
                "edgeres": r.device.get("version"),
                "versions": r.device.get("versions"),
                "result": result_dict(r.result) if r.ok else None,
            }
            for r in results
        ]
    }


def _failed(r: HostResult, width: int) -> list[Any]:
    """A failed device's row: why, in short (the whole line follows the table as the error)."""
    return [r.name, f"FAILED: {short_reason(r.error or '')}"] + [None] * (width - 1)


def short_reason(error: str) -> str:
    """The first clause of an error line, for a table cell."""
    return error.split(" (", 1)[0].split(";", 1)[0][:70]


def benchmark_text(results: list[HostResult]) -> str:
    """Each device's header lines (what, where, how), then one table of every row."""
    lines: list[str] = []
    rows: list[list[Any]] = []
    for r in results:
        if not r.ok:
            rows.append(_failed(r, len(COLUMNS)))
            continue
        report = r.result.report
        head = header_lines(report)
        temps = [x.env_before.get("max_temperature_c") for x in report.results]
        temps = [t for t in temps if t is not None]
        throttled = {
            f"{k} = {v}"
            for x in report.results
            for k, v in x.env_after.get("throttling", {}).items()
        }
        state = f"max temperature {max(temps):.1f} C" if temps else "temperature n/a"
        state += f"; throttling: {', '.join(sorted(throttled)) or 'none'}"
        # Rows from a device are measured there: the estimate column is left out, and its note.
        head = [h for h in head[1:] if not h.startswith("est. column")]
        lines += [shown(f"{r.name}: {report.label}; {state}"), *(f"  {shown(h)}" for h in head)]
        rows += [[r.name, *row[: len(COLUMNS)]] for row in comparison_rows(report)[1]]
    return "\n".join([*lines, "", text_table(["device", *COLUMNS], rows)])


_EVAL_HEADERS = ["device", "model", "top-1 %", "correct", "total", "engine", "images/s"]


def eval_text(results: list[HostResult]) -> str:
    rows: list[list[Any]] = []
    for r in results:
        if not r.ok:
            rows.append(_failed(r, len(_EVAL_HEADERS) - 1))
            continue
        d = r.result
        rows.append(
            [
                r.name,
                d["model"],
                round(100 * d["accuracy"], 2),
                d["correct"],
                d["total"],
                f"{d['engine']} ({', '.join(d['providers'])})",
                round(d.get("images_per_second") or 0, 1),
            ]
        )
    return "measured on each device\n" + text_table(_EVAL_HEADERS, rows)


def predict_text(results: list[HostResult]) -> str:
    lines = []
    for r in results:
        if not r.ok:
            lines.append(f"{r.name}: FAILED: {r.error}")
            continue
        for entry in r.result["results"]:
            ranked = ", ".join(f"{t['label']} {t['score']:.1%}" for t in entry["topk"])
            lines.append(f"{r.name}: {entry['image']}: {ranked}")
    # Class names come from the model file and the device: shown, one line each.
    return "\n".join(shown(line) for line in lines)


def devices_text(results: list[HostResult]) -> str:
    """Each device's profiles; '*' marks the one matching that device."""
    rows: list[list[Any]] = []
    for r in results:
        if not r.ok:
            rows.append(_failed(r, 3))
            continue
        profiles = r.result if isinstance(r.result, list) else [r.result]
        matched = any(p.get("is_host") for p in profiles if p.get("name") != "host")
        for p in profiles:
            mark = p.get("is_host") and not (matched and p.get("name") == "host")
            rows.append([r.name, "*" if mark else "", p.get("name"), p.get("description", "")])
    return text_table(["device", "", "name", "description"], rows)


def doctor_text(results: list[HostResult]) -> str:
    """Each device's ``doctor`` as the terminal shows it, under a ``== host ==`` line."""
    from edgeres.doctor.checks import doctor_text as one

    parts = []
    for r in results:
        body = one(r.result) if r.ok else f"FAILED: {r.error}"
        head = shown(f"== {r.name} (edgeres {r.device.get('version') or '-'}) ==")
        parts.append(f"{head}\n{shown_lines(body)}")  # the device's strings, escaped
    return "\n\n".join(parts)
