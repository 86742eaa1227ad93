"""``benchmark``: load each model through the runtime, time it, and collect one report.

Models are measured one after another in this process; each gets its own load time, first
inference, timing loop, peak memory (see ``memory``), environment snapshots and, with data, its
accuracy. With a profile for another device the figures are labelled as measured here with that
profile's settings and an estimate for the device is attached (see ``estimate``).
"""

from __future__ import annotations

import datetime as _dt
import os
import time
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from edgeres.bench import environment as env
from edgeres.bench import memory
from edgeres.bench.config import BenchConfig
from edgeres.bench.estimate import estimate
from edgeres.bench.macs import count_macs
from edgeres.bench.results import BenchmarkReport, ModelResult
from edgeres.bench.stats import summarize_ns
from edgeres.bench.timing import Timing, measure, timer_overhead_ns
from edgeres.errors import EdgeresError, ModelFileError
from edgeres.formats import format_for_path, resolve
from edgeres.profiles import Budget, Profile, load_profile
from edgeres.profiles.facts import this_machine
from edgeres.progress import progress

Loader = Callable[..., Any]
# Above this 1-minute load average per core, other processes are taking CPU time from ours.
BUSY_LOAD = 0.5
# Trial medians further apart than this (10%) mean the machine's speed changed during the run.
TRIAL_SPREAD = 0.10


def default_loader() -> Loader:
    return resolve("edgeres.runtime:load")


def run_benchmark(config: BenchConfig, loader: Loader | None = None) -> BenchmarkReport:
    """Benchmark every model at every thread count and return the report (nothing printed).

    ``config.profile`` gives the threads, providers and budget (the budget flags override it);
    ``config.data``, when set, adds each model's accuracy. Writing files and comparing with a
    baseline is ``edgeres.bench.session.benchmark``'s part.
    """
    loader = loader or default_loader()
    profile = load_profile(config.profile)
    budget = config.budget_for(profile.budget)
    threads, notes = thread_counts(config.threads, profile)
    notes += _busy_note()
    for path in config.models:
        format_for_path(path)  # fail before spending minutes on the first models
    host = load_profile("host")
    is_host = profile.is_host
    results = []
    datasets: dict[tuple[int, int], Any] = {}
    names = display_names(config.models)
    jobs = [(t, path) for t in threads for path in config.models]
    for t, path in progress(jobs, quiet=config.quiet, desc="benchmark", unit="model"):
        r = benchmark_one(path, t, budget, profile, loader, config, datasets)
        r.name = names[path]
        if not is_host:
            r.estimate = estimate(r, profile, host)
        results.append(r)
        notes += [f"{r.name}: {w}" for w in r.load_warnings if f"{r.name}: {w}" not in notes]
        notes += drift_note(r)
    label = (
        "measured on this machine"
        if is_host
        else f"measured here ({this_machine().cpu_model}) with {profile.name}'s settings"
    )
    return BenchmarkReport(
        profile=profile.name,
        profile_source=profile.source,
        profile_is_host=is_host,
        label=label,
        created=_dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        budget=_budget_dict(budget),
        environment=env.environment(profile),
        timer_overhead_ns=timer_overhead_ns(20_000),
        results=results,
        notes=notes,
    )


def thread_counts(asked: tuple[int, ...], profile: Profile) -> tuple[tuple[int, ...], list[str]]:
    """Thread counts to run and notes about them.

    Explicit ``--threads`` are honoured (with a warning past the core count). A profile's own
    count is capped at the cores here: 6 threads of a Jetson profile on 2 cores would measure
    oversubscription, not the profile's settings.
    """
    cores = this_machine().cores
    if not asked:
        if profile.threads <= cores:
            return (profile.threads,), []
        return (cores,), [
            f"{profile.name} runs {profile.threads} threads; capped at the {cores} cores usable "
            "here (pass --threads to force)"
        ]
    over = sorted({t for t in asked if t > cores})
    if not over:
        return asked, []
    return asked, [
        f"--threads {','.join(map(str, over))} exceeds the {cores} cores usable here: threads "
        "will share cores and latency will suffer; it does not show the target device's speed"
    ]


def display_names(paths: tuple[Path, ...]) -> dict[Path, str]:
    """Each path's file name, with as many parent folders as it takes to tell them apart
    (``r8/model.onnx`` and ``r18/model.onnx``); also the key a baseline pairs results by."""
    depth = 1
    while True:
        names = {p: "/".join(Path(p).absolute().parts[-depth:]) for p in paths}
        if len(set(names.values())) == len(set(names)) or depth > 32:
            return names
        depth += 1


def _busy_note() -> list[str]:
    """A warning when other processes were using the CPU in the last minute."""
    if not hasattr(os, "getloadavg"):
        return []
    load, cores = os.getloadavg()[0], this_machine().cores
    if load <= BUSY_LOAD * cores:
        return []
    return [
        f"the machine is busy (1-minute load average {load:.1f} on {cores} cores): other "
        "processes compete for the CPU, so figures will vary between runs; benchmark on a quiet machine"
    ]


def drift_note(r: ModelResult) -> list[str]:
    """A warning when the trials' medians disagree: the machine changed speed while measuring."""
    trials = r.trial_p50_ms
    if len(trials) < 2 or min(trials) <= 0:
        return []
    spread = max(trials) / min(trials) - 1
    if spread <= TRIAL_SPREAD:
        return []
    return [
        f"{r.name} ({r.threads} thr): trial medians differ by {100 * spread:.0f}% "
        f"({', '.join(f'{t:.4g}' for t in trials)} ms): unstable machine (load, throttling)"
    ]


def _budget_dict(b: Budget) -> dict:
    return {k: getattr(b, k) for k in Budget.__dataclass_fields__}


def benchmark_one(
    path: Path,
    threads: int,
    budget: Budget,
    profile: Profile,
    loader: Loader,
    config: BenchConfig,
    datasets: dict,
) -> ModelResult:
    """Load, time and (with data) evaluate one model at one thread count."""
    fmt = format_for_path(path).name
    was_reset = memory.reset_peak()
    rss_before = memory.current_rss_mb()
    t0 = time.perf_counter_ns()
    backend, load_warnings = _load(loader, path, profile, threads, config.extra_load_options)
    load_ms = (time.perf_counter_ns() - t0) / 1e6
    with backend:
        figures = _measure_loaded(backend, budget, profile, config, datasets)
        peak, mem_method = memory.peak_rss_mb(was_reset)
        info = backend.info
    macs, macs_source = count_macs(path, fmt, dict(info.extra))
    return ModelResult(
        model=str(path),
        name=Path(path).name,
        format=fmt,
        precision=info.precision,
        threads=threads,
        file_size_bytes=Path(path).stat().st_size,
        macs=macs,
        macs_source=macs_source,
        load_ms=load_ms,
        peak_rss_mb=peak,
        rss_before_mb=rss_before,
        memory_method=mem_method,
        load_warnings=load_warnings,
        **figures,
    )


def _measure_loaded(
    backend: Any, budget: Budget, profile: Profile, config: BenchConfig, datasets: dict
) -> dict[str, Any]:
    """First inference, then the timing loop between two environment snapshots, then accuracy:
    the ``ModelResult`` fields a loaded backend gives."""
    batch = _input_batch(backend, config)
    t0 = time.perf_counter_ns()
    backend.infer(batch)
    first_ms = (time.perf_counter_ns() - t0) / 1e6
    before = env.snapshot(profile)
    timing = measure(lambda: backend.infer(batch), budget)
    after = env.snapshot(profile)
    accuracy, n = _accuracy(backend, config, datasets)
    return {
        "providers": list(backend.providers),
        "first_ms": first_ms,
        "env_before": before,
        "env_after": after,
        "accuracy": accuracy,
        "accuracy_n": n,
        **_timing_fields(timing),
    }


def _timing_fields(timing: Timing) -> dict[str, Any]:
    """The ``ModelResult`` fields of one timing loop: statistics, trial medians, raw samples."""
    samples = np.asarray(timing.samples_ns, dtype=np.float64) / 1e6
    return {
        "latency": summarize_ns(timing.samples_ns),
        "trial_p50_ms": [float(np.median(t)) / 1e6 for t in timing.trials],
        "warmup_runs": timing.warmup_runs,
        "samples_ms": samples.tolist(),
    }


def _load(
    loader: Loader, path: Path, profile: Profile, threads: int, options: dict
) -> tuple[Any, list[str]]:
    """Load through the runtime; its warnings (a provider missing here, no metadata) are returned
    so the report carries them instead of Python's warning lines on stderr."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            backend = loader(path, profile=profile, threads=threads, **options)
        except EdgeresError:
            raise
        except Exception as e:  # an engine's own exception type: say which file, no traceback
            raise ModelFileError(f"cannot load '{path}': {type(e).__name__}: {e}") from None
    return backend, list(dict.fromkeys(str(w.message) for w in caught))


def _input_batch(backend: Any, config: BenchConfig) -> np.ndarray:
    """One preprocessed image of seeded noise pixels, the same for every model.

    It goes through ``InputSpec.preprocess`` like a camera frame, so values have the range and
    layout real frames have (an all-zero tensor can hit faster paths in some kernels). The dense
    models edgeres makes take the same time whatever the pixel values.
    """
    spec = backend.spec
    rng = np.random.default_rng(config.seed)
    image = rng.integers(0, 256, size=(spec.height, spec.width, 3), dtype=np.uint8)
    return spec.preprocess([image]).astype(np.float32, copy=False)


def _accuracy(backend: Any, config: BenchConfig, datasets: dict) -> tuple[float | None, int | None]:
    if not config.data:
        return None, None
    from edgeres.data import load_split
    from edgeres.runtime import evaluate

    size = (backend.spec.height, backend.spec.width)
    if size not in datasets:
        datasets[size] = load_split(
            config.data, "test", size, seed=config.seed, limit=config.limit, quiet=config.quiet
        )
    result = evaluate(backend, datasets[size], quiet=config.quiet, by_index=config.by_index)
    return float(result.accuracy), int(result.total)
