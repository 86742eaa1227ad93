"""``--baseline OLD.json --tolerance PCT``: fail when p50 or accuracy got worse than the tolerance.

Results are paired by model file name and thread count. p50 fails when it grew by more than
``tolerance`` percent; accuracy fails when it fell by more than ``tolerance`` percent of its old
value (relative, like p50). Models only in one of the two runs are listed, not failed.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from edgeres.bench.results import SCHEMA, BenchmarkReport
from edgeres.errors import UsageError
from edgeres.text import shown


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
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise UsageError(f"--baseline file '{shown(path)}' does not exist") from None
    except (OSError, ValueError) as e:
        raise UsageError(f"--baseline file '{shown(path)}' is not readable JSON: {e}") from None
    if not isinstance(data, dict) or data.get("schema") != SCHEMA:
        raise UsageError(
            f"--baseline file '{shown(path)}' is not an edgeres benchmark result (expected schema "
            f"'{SCHEMA}'); save one with 'edgeres benchmark MODEL --json > base.json'"
        )
    try:
        return BenchmarkReport.from_dict(data)
    except (KeyError, TypeError) as e:
        raise UsageError(f"--baseline file '{shown(path)}' is incomplete: missing {e}") from None


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
