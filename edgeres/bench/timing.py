"""The timing loop: warm-up by count and time, then trials of runs until count and time are met.

``perf_counter_ns`` is monotonic and integer, so no float rounding creeps into sub-millisecond
runs. Only the call itself sits between the two clock reads; the list append is outside.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

from edgeres.profiles import Budget

Clock = Callable[[], int]


@dataclass(frozen=True)
class Timing:
    """Raw result of the timing loop.

    Attributes:
        trials: Per trial, the latency of each measured run in nanoseconds.
        warmup_runs: Runs made during warm-up.
        warmup_ns: Wall time of the warm-up.
    """

    trials: tuple[tuple[int, ...], ...]
    warmup_runs: int
    warmup_ns: int

    @property
    def samples_ns(self) -> list[int]:
        return [s for t in self.trials for s in t]


def warm_up(
    fn: Callable[[], object], budget: Budget, clock: Clock = time.perf_counter_ns
) -> tuple[int, int]:
    """Call ``fn`` until both ``warmup_runs`` calls and ``warmup_seconds`` have passed."""
    start = clock()
    limit = int(budget.warmup_seconds * 1e9)
    n = 0
    while n < budget.warmup_runs or clock() - start < limit:
        fn()
        n += 1
    return n, clock() - start


def run_trial(
    fn: Callable[[], object], min_runs: int, min_seconds: float, clock: Clock = time.perf_counter_ns
) -> tuple[int, ...]:
    """Time ``fn`` until both ``min_runs`` runs and ``min_seconds`` have passed."""
    samples: list[int] = []
    append = samples.append
    limit = int(min_seconds * 1e9)
    start = t1 = clock()
    # The end stamp of one run doubles as the time check, so each run costs two clock reads.
    while len(samples) < min_runs or t1 - start < limit:
        t0 = clock()
        fn()
        t1 = clock()
        append(t1 - t0)
    return tuple(samples)


def measure(
    fn: Callable[[], object],
    budget: Budget,
    clock: Clock = time.perf_counter_ns,
    sleep: Callable[[float], None] = time.sleep,
) -> Timing:
    """Warm up, then run ``budget.trials`` trials with ``budget.pause_seconds`` between them.

    The pause lets a passively cooled board shed heat and the OS settle, so trials are closer to
    independent; the spread of the per-trial medians shows whether they were.
    """
    n_warm, warm_ns = warm_up(fn, budget, clock)
    trials = []
    for i in range(budget.trials):
        if i and budget.pause_seconds > 0:
            sleep(budget.pause_seconds)
        trials.append(run_trial(fn, budget.min_runs, budget.min_seconds, clock))
    return Timing(tuple(trials), n_warm, warm_ns)


def timer_overhead_ns(
    samples: int = 100_000, clock: Clock = time.perf_counter_ns
) -> dict[str, float]:
    """What the loop itself costs, timed around a function that does nothing.

    Returns:
        ``in_sample_ns``: median no-op sample, the bias each measured run carries (a clock read
        and a call); ``per_run_ns``: loop wall time per run (two clock reads, call, append,
        loop test), the time the benchmark spends outside the model per run.
    """

    def nothing() -> None:
        return None

    start = clock()
    trial = run_trial(nothing, samples, 0.0, clock)
    total = clock() - start
    return {"in_sample_ns": float(sorted(trial)[len(trial) // 2]), "per_run_ns": total / len(trial)}
