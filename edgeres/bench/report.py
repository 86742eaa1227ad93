"""Render a ``BenchmarkReport``: terminal table, Markdown, CSV and JSON (returned as text)."""

from __future__ import annotations

import csv
import io

from edgeres.bench.results import BenchmarkReport, ModelResult
from edgeres.bench.tables import md_table, text_table
from edgeres.text import csv_cell, json_text, shown

COLUMNS = (
    "model",
    "format",
    "engine",
    "precision",
    "threads",
    "size MB",
    "MMACs",
    "GMAC/s",
    "% peak",
    "accuracy %",
    "p50 ms",
    "p90 ms",
    "p99 ms",
    "mean ms",
    "std ms",
    "inf/s",
    "load ms",
    "first ms",
    "peak MB",
    "+MB",
    "outliers",
    "speed-up",
)


def comparison_rows(report: BenchmarkReport) -> tuple[list[str], list[list[object]]]:
    """Headers and one row per result; speed-up is the first result's p50 over each p50."""
    headers = list(COLUMNS)
    estimated = any(r.estimate for r in report.results)
    if estimated:
        headers.append(f"est. {report.profile} p50 ms")
    ref = report.results[0].latency.p50_ms if report.results else None
    rows = [_row(r, ref, estimated, report.peak) for r in report.results]
    return headers, rows


def _row(r: ModelResult, ref: float | None, estimated: bool, peak: dict | None) -> list[object]:
    lat = r.latency
    row: list[object] = [
        r.name,
        r.format,
        r.engine,
        r.precision,
        r.threads,
        round(r.file_size_bytes / 1e6, 3),
        round(r.macs / 1e6, 2) if r.macs else None,
        _round(r.gmacs, 2),
        _round(r.share_of_peak(peak), 1),
        round(100 * r.accuracy, 2) if r.accuracy is not None else None,
        round(lat.p50_ms, 4),
        round(lat.p90_ms, 4),
        round(lat.p99_ms, 4),
        round(lat.mean_ms, 4),
        round(lat.std_ms, 4),
        round(lat.throughput, 1),
        round(r.load_ms, 1),
        round(r.first_ms, 3),
        round(r.peak_rss_mb, 1) if r.peak_rss_mb is not None else None,
        _added_mb(r),
        f"{lat.outliers}/{lat.runs}",
        f"{ref / lat.p50_ms:.2f}x" if ref and lat.p50_ms > 0 else None,
    ]
    if estimated:
        est = (r.estimate or {}).get("p50_ms")
        row.append(round(est, 4) if est is not None else None)
    return row


def _round(value: float | None, digits: int) -> float | None:
    return round(value, digits) if value is not None else None


def _added_mb(r: ModelResult) -> float | None:
    """Memory this model added: its peak over what the process held before loading it."""
    if r.peak_rss_mb is None or r.rss_before_mb is None:
        return None
    return round(r.peak_rss_mb - r.rss_before_mb, 1)


def header_lines(report: BenchmarkReport) -> list[str]:
    """What the figures are and where they come from, printed above every table."""
    e = report.environment
    b = report.budget
    lines = [
        f"profile {report.profile}: {report.label}",
        f"machine: {e.get('cpu_model')}, {e.get('cores_usable')} cores usable, {e.get('arch')}; "
        f"governor {','.join(e.get('governor') or ['n/a'])}; "
        + ", ".join(
            f"{k} {v}" for k, v in e.get("libraries", {}).items() if k in report_libraries()
        ),
        f"method: batch 1, warm-up >= {b['warmup_runs']} runs and {b['warmup_seconds']} s, then "
        f"{b['trials']} trials of >= {b['min_runs']} runs and {b['min_seconds']} s "
        f"({b['pause_seconds']} s pause); outliers = Tukey fences, counted, not removed; "
        "peak MB = process RSS high-water while loading + running the model, +MB = over the RSS "
        "before loading it",
    ]
    if report.peak:
        peaks = ", ".join(
            f"{k.upper()} {v['gmacs']:.0f} GMAC/s on {v['engine']}"
            for k, v in sorted(report.peak.items())
        )
        lines.append(
            f"% peak: share of this machine's attained peak ({peaks}; edgeres doctor --peak)"
        )
    else:
        lines.append(
            "% peak: this machine's attained peak is not measured yet (edgeres doctor --peak)"
        )
    if any(r.estimate for r in report.results):
        lines.append(
            f"est. column: an ESTIMATE for {report.profile}, not a measurement: "
            "2 x MACs / (device peak x efficiency measured here), floored by weights / bandwidth"
        )
    return lines + [f"note: {n}" for n in report.notes]


def report_libraries() -> tuple[str, ...]:
    """The versions a report's header names: each engine's usual distribution, then numpy."""
    from edgeres.formats import all_engines

    return (*(e.distribution for e in all_engines() if not e.needs_torch), "numpy")


def to_text(report: BenchmarkReport) -> str:
    headers, rows = comparison_rows(report)
    head = [shown(line) for line in header_lines(report)]  # names from files and devices
    return "\n".join([*head, "", text_table(headers, rows), *ops_lines(report)])


OPS_SHOWN = 12


def ops_lines(report: BenchmarkReport) -> list[str]:
    """Per result with an operator profile: the slowest operators and the float ones in INT8."""
    out = []
    for r in report.results:
        if r.ops is None:
            if r.ops_note:
                out += ["", shown(f"operators of {r.name} ({r.engine}): {r.ops_note}")]
            continue
        total = sum(o["ms"] for o in r.ops) or 1.0
        rows = [[o["name"][:48], o["op_type"], o["kernel"], round(o["ms"], 4),
                 f"{100 * o['ms'] / total:.1f}%", _precision_flag(r, o)]
                for o in r.ops[:OPS_SHOWN]]  # fmt: skip
        out += ["", shown(f"operators of {r.name} on {r.engine}, {r.threads} thr "
                f"({len(r.ops)} ops, {total:.3f} ms per run by the engine's profiler):")]  # fmt: skip
        out.append(text_table(["op", "type", "kernel", "ms", "share", "note"], rows))
        floats = [o for o in r.ops if o["integer"] is False]
        if r.precision == "int8" and floats:
            share = 100 * sum(o["ms"] for o in floats) / total
            out.append(f"{len(floats)} compute op(s) still run in float: {share:.1f}% of the time")
    return out


def _precision_flag(r: ModelResult, op: dict) -> str:
    if op["integer"] is False and r.precision == "int8":
        return "FLOAT in an INT8 file"
    return {True: "int8", False: "float", None: ""}[op["integer"]]


def to_markdown(report: BenchmarkReport, command: str | None = None) -> str:
    headers, rows = comparison_rows(report)
    parts = [f"- {shown(line)}" for line in header_lines(report)]
    if command:
        parts.append(f"- command: `{command}`")
    return "\n".join([*parts, "", md_table(headers, rows), ""])


def to_json(report: BenchmarkReport) -> str:
    return json_text(report.to_dict(), indent=2, sort_keys=True, default=str) + "\n"


def to_csv(report: BenchmarkReport) -> str:
    """One row per result with every scalar field flattened (``latency.p50_ms`` ...)."""
    rows = [_flat(r) for r in report.results]
    keys = list(dict.fromkeys(k for row in rows for k in row))
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=keys, lineterminator="\n")
    writer.writeheader()
    # Model names, engines and notes come from files and devices: never a formula in a sheet.
    writer.writerows({k: csv_cell(v) for k, v in row.items()} for row in rows)
    return buf.getvalue()


def _flat(r: ModelResult) -> dict[str, object]:
    d = r.to_dict()
    out: dict[str, object] = {}
    for k, v in d.items():
        if k in ("env_before", "env_after"):
            out[f"{k}.max_temperature_c"] = v.get("max_temperature_c")
            mhz = v.get("cpu_mhz") or []
            out[f"{k}.cpu_mhz_mean"] = round(sum(mhz) / len(mhz), 1) if mhz else None
        elif k in ("latency", "estimate"):
            for kk, vv in (v or {}).items():
                if not isinstance(vv, dict | list):
                    out[f"{k}.{kk}"] = vv
        elif isinstance(v, list):
            out[k] = ";".join(map(str, v))
        else:
            out[k] = v
    return out
