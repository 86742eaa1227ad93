"""``--baseline OLD.json --tolerance PCT``: fail when p50 or accuracy got worse than the tolerance.

Results are paired by model file name and thread count. p50 fails when it grew by more than
``tolerance`` percent; accuracy fails when it fell by more than ``tolerance`` percent of its old
value (relative, like p50). Models only in one of the two runs are listed, not failed.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path

from edgeres.bench.results import SCHEMA, BenchmarkReport
from edgeres.errors import UsageError
from edgeres.text import shown

# A benchmark result is a few kB per row; a baseline past this is not one.
MAX_BASELINE_BYTES = 64 << 20


@dataclass(frozen=True)
class Comparison:
    """One model compared with its baseline.

    Attributes:
        name: Model file name; ``threads`` the thread count.
        metric: ``p50_ms`` or ``accuracy``.
        old: Baseline value; ``new`` this run's.
        change_pct: Relative change in percent (positive = larger).
        worse: Whether it got worse by more than the tolerance.
    """

    name: str
    threads: int
    metric: str
    old: float
    new: float
    change_pct: float
    worse: bool

    def describe(self) -> str:
        verdict = "WORSE" if self.worse else "ok"
        return (
            f"{self.name} ({self.threads} thr) {self.metric}: {self.old:.4g} -> {self.new:.4g} "
            f"({self.change_pct:+.1f}%) {verdict}"
        )


def load_baseline(path: str | Path) -> BenchmarkReport:
    """Read an earlier ``--json`` result.

    Raises:
        UsageError: Missing file, not JSON, or not an edgeres benchmark result.
    """
    path = Path(path)
    try:
        if path.stat().st_size > MAX_BASELINE_BYTES:
            raise UsageError(
                f"--baseline file '{shown(path)}' is over {MAX_BASELINE_BYTES >> 20} MB; "
                "it is not a benchmark result"
            )
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise UsageError(f"--baseline file '{shown(path)}' does not exist") from None
    except RecursionError:
        raise UsageError(f"--baseline file '{shown(path)}' is nested too deeply") from None
    except (OSError, ValueError) as e:
        raise UsageError(
            f"--baseline file '{shown(path)}' is not readable JSON: {shown(e)}"
        ) from None
    if not isinstance(data, dict) or data.get("schema") != SCHEMA:
        raise UsageError(
            f"--baseline file '{shown(path)}' is not an edgeres benchmark result (expected schema "
            f"'{SCHEMA}'); save one with 'edgeres benchmark MODEL --json > base.json'"
        )
    _check_results(path, data.get("results"))
    try:
        return BenchmarkReport.from_dict(data)
    except KeyError as e:
        raise UsageError(f"--baseline file '{shown(path)}' is incomplete: missing {e}") from None
    except (TypeError, AttributeError, ValueError) as e:
        raise UsageError(f"--baseline file '{shown(path)}' is malformed: {shown(e)}") from None


def _number(value: object) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _check_results(path: Path, results: object) -> None:
    """The fields the gate reads, checked before use: a row is refused when its name or threads
    are of the wrong type, its p50 is not a positive finite number (0, -1 and NaN would pass
    every comparison) or its accuracy is not a finite number in [0, 1]."""
    where = f"--baseline file '{shown(path)}'"
    if not isinstance(results, list):
        raise UsageError(f"{where} has no list of results")
    for i, r in enumerate(results):
        latency = r.get("latency") if isinstance(r, dict) else None
        if not isinstance(latency, dict):
            raise UsageError(f"{where}: result {i} is not a benchmark row (no latency)")
        if not isinstance(r.get("name"), str) or not _number(r.get("threads")):
            raise UsageError(f"{where}: result {i} has no file name or thread count")
        p50, acc = latency.get("p50_ms"), r.get("accuracy")
        if not _number(p50) or not math.isfinite(p50) or p50 <= 0:
            raise UsageError(
                f"{where}: result {i} has p50_ms {shown(repr(p50))[:40]}, not a positive "
                "number of milliseconds; it cannot be a baseline"
            )
        if acc is not None and (not _number(acc) or not 0 <= acc <= 1):
            raise UsageError(
                f"{where}: result {i} has accuracy {shown(repr(acc))[:40]}, not a number in [0, 1]"
            )


def compare(
    old: BenchmarkReport, new: BenchmarkReport, tolerance_pct: float
) -> tuple[list[Comparison], list[str]]:
    """Compare paired results; return the comparisons and the names found in only one run."""
    if tolerance_pct < 0:
        raise UsageError(f"--tolerance must be >= 0 percent, got {tolerance_pct}")
    before = {r.key: r for r in old.results}
    out, unmatched = [], []
    for r in new.results:
        base = before.pop(r.key, None)
        if base is None:
            unmatched.append(f"{r.name} ({r.threads} thr) not in the baseline")
            continue
        out.append(
            _cmp(r.key, "p50_ms", base.latency.p50_ms, r.latency.p50_ms, tolerance_pct, True)
        )
        if base.accuracy is not None and r.accuracy is not None:
            out.append(_cmp(r.key, "accuracy", base.accuracy, r.accuracy, tolerance_pct, False))
    unmatched += [f"{n} ({t} thr) only in the baseline" for n, t in before]
    return out, unmatched


def _cmp(
    key: tuple[str, int], metric: str, old: float, new: float, tol: float, lower_better: bool
) -> Comparison:
    change = (new - old) / old * 100.0 if old else 0.0
    worse = change > tol if lower_better else -change > tol
    return Comparison(key[0], key[1], metric, old, new, change, worse)
