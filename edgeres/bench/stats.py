"""Latency statistics: percentiles, spread and outliers of a set of timed runs.

Outliers are counted with Tukey's fences (below Q1 - 1.5 IQR or above Q3 + 1.5 IQR) and reported,
never dropped: every figure is computed over all samples, and p50 is robust to them anyway.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass

import numpy as np

NS_PER_MS = 1e6


@dataclass(frozen=True)
class LatencyStats:
    """Summary of latencies in milliseconds.

    Attributes:
        runs: Number of measured runs.
        mean_ms: Arithmetic mean.
        std_ms: Sample standard deviation (ddof=1; 0 for one run).
        min_ms: Fastest run.
        p50_ms: Median (linear interpolation, as numpy's default).
        p90_ms: 90th percentile.
        p99_ms: 99th percentile.
        max_ms: Slowest run.
        throughput: Inferences per second at batch 1, ``1000 / mean_ms``.
        outliers_low: Runs below Q1 - 1.5 IQR.
        outliers_high: Runs above Q3 + 1.5 IQR.
    """

    runs: int
    mean_ms: float
    std_ms: float
    min_ms: float
    p50_ms: float
    p90_ms: float
    p99_ms: float
    max_ms: float
    throughput: float
    outliers_low: int
    outliers_high: int

    @property
    def outliers(self) -> int:
        return self.outliers_low + self.outliers_high

    def to_dict(self) -> dict:
        return {k: (round(v, 6) if isinstance(v, float) else v) for k, v in asdict(self).items()}

    @classmethod
    def from_dict(cls, data: dict) -> LatencyStats:
        return cls(**{k: data[k] for k in cls.__dataclass_fields__})


def tukey_outliers(values: np.ndarray, k: float = 1.5) -> tuple[int, int]:
    """Count values below ``Q1 - k*IQR`` and above ``Q3 + k*IQR``."""
    q1, q3 = np.percentile(values, [25, 75])
    iqr = q3 - q1
    return int(np.sum(values < q1 - k * iqr)), int(np.sum(values > q3 + k * iqr))


def summarize_ms(samples_ms: Sequence[float] | np.ndarray) -> LatencyStats:
    """Summarise latencies given in milliseconds.

    Raises:
        ValueError: No samples (a bug of the caller: the timer always measures at least one run).
    """
    x = np.asarray(samples_ms, dtype=np.float64)
    if x.size == 0:
        raise ValueError("no latency samples to summarise")
    p50, p90, p99 = np.percentile(x, [50, 90, 99])
    low, high = tukey_outliers(x)
    mean = float(x.mean())
    return LatencyStats(
        runs=int(x.size),
        mean_ms=mean,
        std_ms=float(x.std(ddof=1)) if x.size > 1 else 0.0,
        min_ms=float(x.min()),
        p50_ms=float(p50),
        p90_ms=float(p90),
        p99_ms=float(p99),
        max_ms=float(x.max()),
        throughput=1000.0 / mean if mean > 0 else float("inf"),
        outliers_low=low,
        outliers_high=high,
    )


def summarize_ns(samples_ns: Sequence[int] | np.ndarray) -> LatencyStats:
    """Summarise latencies given in integer nanoseconds (what ``perf_counter_ns`` returns)."""
    return summarize_ms(np.asarray(samples_ns, dtype=np.float64) / NS_PER_MS)
