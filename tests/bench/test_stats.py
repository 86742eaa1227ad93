"""Latency statistics on known samples, and the timing loop with a fake clock."""

from __future__ import annotations

import numpy as np
import pytest

from edgeres.bench.stats import summarize_ms, summarize_ns, tukey_outliers
from edgeres.bench.timing import measure, run_trial, timer_overhead_ns, warm_up
from edgeres.profiles import Budget


def test_percentiles_of_1_to_100():
    s = summarize_ms(list(range(1, 101)))
    assert s.runs == 100 and s.min_ms == 1 and s.max_ms == 100
    assert s.mean_ms == pytest.approx(50.5)
    assert s.p50_ms == pytest.approx(50.5)
    assert s.p90_ms == pytest.approx(90.1)
    assert s.p99_ms == pytest.approx(99.01)
    assert s.std_ms == pytest.approx(np.std(np.arange(1, 101), ddof=1))
    assert s.throughput == pytest.approx(1000 / 50.5)
    assert s.outliers == 0


def test_outliers_are_counted_not_removed():
    samples = [10.0] * 20 + [11.0] * 20 + [100.0, 0.1]
    s = summarize_ms(samples)
    assert (s.outliers_low, s.outliers_high) == (1, 1)
    assert s.max_ms == 100.0 and s.min_ms == 0.1 and s.runs == 42
    assert tukey_outliers(np.array([1.0, 1.0, 1.0, 1.0, 50.0])) == (0, 1)


def test_nanoseconds_become_milliseconds_and_round_trip():
    s = summarize_ns([1_000_000, 2_000_000, 3_000_000])
    assert s.p50_ms == pytest.approx(2.0) and s.std_ms == pytest.approx(1.0)
    assert type(s).from_dict(s.to_dict()).p50_ms == pytest.approx(2.0)
    one = summarize_ms([5.0])
    assert one.std_ms == 0.0
    with pytest.raises(ValueError):
        summarize_ms([])


class FakeClock:
    """Advances by ``step`` ns on every read; counts calls of the timed function."""

    def __init__(self, step: int) -> None:
        self.t = 0
        self.step = step
        self.calls = 0

    def __call__(self) -> int:
        self.t += self.step
        return self.t

    def fn(self) -> None:
        self.calls += 1


def test_trial_needs_both_count_and_time():
    c = FakeClock(step=1_000_000)  # every clock read: +1 ms, so each run "takes" 1 ms
    assert len(run_trial(c.fn, min_runs=5, min_seconds=0.0, clock=c)) == 5
    c = FakeClock(step=1_000_000)
    samples = run_trial(c.fn, min_runs=5, min_seconds=0.02, clock=c)
    assert len(samples) >= 10 and all(s == 1_000_000 for s in samples)


def test_warm_up_by_count_and_time():
    c = FakeClock(step=1_000_000)
    n, _ = warm_up(c.fn, Budget(warmup_runs=3, warmup_seconds=0.0), clock=c)
    assert n == 3
    c = FakeClock(step=1_000_000)
    n, ns = warm_up(c.fn, Budget(warmup_runs=1, warmup_seconds=0.01), clock=c)
    assert n >= 5 and ns >= 10_000_000


def test_measure_runs_trials_with_pauses():
    c = FakeClock(step=1000)
    pauses = []
    b = Budget(
        warmup_runs=2, warmup_seconds=0, min_runs=4, min_seconds=0, trials=3, pause_seconds=0.5
    )
    t = measure(c.fn, b, clock=c, sleep=pauses.append)
    assert len(t.trials) == 3 and all(len(x) == 4 for x in t.trials)
    assert pauses == [0.5, 0.5] and t.warmup_runs == 2
    assert c.calls == 2 + 12 and len(t.samples_ns) == 12


def test_timer_overhead_is_measured():
    o = timer_overhead_ns(1000)
    assert o["in_sample_ns"] > 0 and o["per_run_ns"] > 0
