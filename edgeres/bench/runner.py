"""``benchmark``: load each model through the runtime, time it, and collect one report.

Each model x thread count is measured in a fresh process (``worker``), one after another, so one
engine's thread pool and memory do not bleed into the next (``in_process`` measures here instead);
each row gets its own load time, first inference, timing loop, peak memory (see ``memory``),
environment snapshots and, with data, its accuracy. With a profile for another device the figures are labelled as measured here with that
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
from edgeres.bench.jobs import Job, run_isolated
from edgeres.bench.macs import count_macs
from edgeres.bench.results import BenchmarkReport, ModelResult
from edgeres.bench.stats import summarize_ns
from edgeres.bench.timing import Timing, measure, timer_overhead_ns
from edgeres.errors import EdgeresError, ModelFileError
from edgeres.formats import format_for_path, resolve
from edgeres.profiles import Budget, Profile, builtin_names, load_profile
from edgeres.profiles.facts import this_machine
from edgeres.progress import progress
from edgeres.text import shown

Loader = Callable[..., Any]
# Above this 1-minute load average per core, other processes are taking CPU time from ours.
BUSY_LOAD = 0.5
# Trial medians further apart than this (10%) mean the machine's speed changed during the run.
TRIAL_SPREAD = 0.10


def default_loader() -> Loader:
    return resolve("edgeres.runtime:load")


def profile_ref(profile: Profile) -> str | None:
    """How a worker process finds ``profile``: its YAML file or built-in name (None: neither)."""
    if profile.source and Path(profile.source).is_file():
        return profile.source
    return profile.name if profile.name in builtin_names() else None


def job_for(path: Path, threads: int, budget: Budget, profile: Profile, config: BenchConfig) -> Job:
    """The row ``config`` asks for, as a worker job."""
    return Job(
        model=str(path),
        threads=threads,
        profile=profile_ref(profile) or profile.name,
        budget=_budget_dict(budget),
        engine=config.engine,
        data=config.data,
        limit=config.limit,
        seed=config.seed,
        ops=config.ops,
        by_index=config.by_index,
        load_options=dict(config.extra_load_options),
    )


def run_benchmark(config: BenchConfig, loader: Loader | None = None) -> BenchmarkReport:
    """Benchmark every model at every thread count and return the report (nothing printed).

    ``config.profile`` gives the threads, providers and budget (the budget flags override it);
    ``config.data``, when set, adds each model's accuracy. Writing files and comparing with a
    baseline is ``edgeres.bench.session.benchmark``'s part.
    """
    # Rows run in a fresh process unless the caller brings its own loader or --in-process;
    # decided before the default loader fills ``loader`` (after, it was never None).
    isolate = loader is None and not config.in_process
    loader = loader or default_loader()
    profile = load_profile(config.profile)
    budget = config.budget_for(profile.budget)
    threads, notes = thread_counts(config.threads, profile)
    notes += _busy_note()
    from edgeres.runtime import engines_for

    for path in config.models:  # fail before spending minutes on the first models
        engines_for(format_for_path(path), config.engine, profile)
    host = load_profile("host")
    is_host = profile.is_host
    results = []
    datasets: dict[tuple[int, int], Any] = {}
    names = display_names(config.models)
    isolate = isolate and profile_ref(profile) is not None
    jobs = [(t, path) for t in threads for path in config.models]
    for t, path in progress(jobs, quiet=config.quiet, desc="benchmark", unit="model"):
        job = job_for(path, t, budget, profile, config)
        if isolate:
            r = ModelResult.from_dict(run_isolated(job))
        else:
            r = measure_row(job, profile, budget, loader, datasets)
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
        peak=_peak_dict(),
    )


def _peak_dict() -> dict | None:
    """The attained peak measured earlier here (``edgeres doctor --peak``), if any."""
    from dataclasses import asdict

    from edgeres.bench.peak import cached_peak

    figures = cached_peak()
    return {k: asdict(v) for k, v in figures.items()} if figures else None


def thread_counts(asked: tuple[int, ...], profile: Profile) -> tuple[tuple[int, ...], list[str]]:
    """Thread counts to run and notes about them.

    Both ``--threads`` and a profile's count are capped at the cores here (as every load is,
    ``runtime.cap_threads``): 6 threads of a Jetson profile on 2 cores would measure
    oversubscription, not the profile's settings, and ONNX Runtime makes every thread asked for.
    """
    cores = this_machine().cores
    if not asked:
        if profile.threads <= cores:
            return (profile.threads,), []
        return (cores,), [
            f"{profile.name} runs {profile.threads} threads; capped at the {cores} cores usable here"
        ]
    over = sorted({t for t in asked if t > cores})
    if not over:
        return asked, []
    capped = tuple(dict.fromkeys(min(t, cores) for t in asked))
    return capped, [
        f"--threads {','.join(map(str, over))} exceeds the {cores} cores usable here: "
        f"capped at {cores} (threads beyond the cores only share them)"
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


def measure_row(
    job: Job,
    profile: Profile,
    budget: Budget,
    loader: Loader | None = None,
    datasets: dict | None = None,
) -> ModelResult:
    """Load, time and (with data) evaluate one model at one thread count, in this process."""
    path = Path(job.model)
    fmt = format_for_path(path).name
    was_reset = memory.reset_peak()
    rss_before = memory.current_rss_mb()
    options = {**job.load_options, **({"engine": job.engine} if job.engine else {})}
    t0 = time.perf_counter_ns()
    backend, load_warnings = _load(loader or default_loader(), path, profile, job.threads, options)
    load_ms = (time.perf_counter_ns() - t0) / 1e6
    with backend:
        figures = _measure_loaded(
            backend, budget, profile, job, {} if datasets is None else datasets
        )
        peak, mem_method = memory.peak_rss_mb(was_reset)
        info = backend.info
    macs, macs_source = count_macs(path, fmt, dict(info.extra))
    return ModelResult(
        model=str(path),
        name=path.name,
        format=fmt,
        engine=figures.pop("engine"),
        precision=info.precision,
        threads=job.threads,
        file_size_bytes=path.stat().st_size,
        macs=macs,
        macs_source=macs_source,
        load_ms=load_ms,
        peak_rss_mb=peak,
        rss_before_mb=rss_before,
        memory_method=mem_method,
        load_warnings=load_warnings,
        pid=os.getpid(),
        **figures,
    )


def _measure_loaded(
    backend: Any, budget: Budget, profile: Profile, job: Job, datasets: dict
) -> dict[str, Any]:
    """First inference, then the timing loop between two environment snapshots, then accuracy:
    the ``ModelResult`` fields a loaded backend gives."""
    batch = _input_batch(backend, job.seed)
    t0 = time.perf_counter_ns()
    backend.infer(batch)
    first_ms = (time.perf_counter_ns() - t0) / 1e6
    before = env.snapshot(profile)
    timing = measure(lambda: backend.infer(batch), budget)
    after = env.snapshot(profile)
    ops, ops_note = _ops(backend, batch, budget) if job.ops else (None, "")
    accuracy, n = _accuracy(backend, job, datasets)
    return {
        "engine": backend.engine,
        "providers": list(backend.providers),
        "first_ms": first_ms,
        "env_before": before,
        "env_after": after,
        "accuracy": accuracy,
        "accuracy_n": n,
        "ops": ops,
        "ops_note": ops_note,
        **_timing_fields(timing),
    }


def _ops(backend: Any, batch: np.ndarray, budget: Budget) -> tuple[list[dict] | None, str]:
    """The engine's per-operator profile, slowest first, or why it cannot give one."""
    from dataclasses import asdict

    from edgeres.errors import UsageError

    try:
        ops = backend.op_profile(batch, runs=max(10, budget.min_runs))
    except UsageError as e:
        return None, str(e)
    return [asdict(o) for o in sorted(ops, key=lambda o: -o.ms)], ""


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
            raise ModelFileError(f"cannot load '{shown(path)}': {type(e).__name__}: {e}") from None
    return backend, list(dict.fromkeys(str(w.message) for w in caught))


def _input_batch(backend: Any, seed: int) -> np.ndarray:
    """One preprocessed image of seeded noise pixels, the same for every model.

    It goes through ``InputSpec.preprocess`` like a camera frame, so values have the range and
    layout real frames have (an all-zero tensor can hit faster paths in some kernels). The dense
    models edgeres makes take the same time whatever the pixel values.
    """
    spec = backend.spec
    rng = np.random.default_rng(seed)
    image = rng.integers(0, 256, size=(spec.height, spec.width, 3), dtype=np.uint8)
    return spec.preprocess([image]).astype(np.float32, copy=False)


def _accuracy(backend: Any, job: Job, datasets: dict) -> tuple[float | None, int | None]:
    if not job.data:
        return None, None
    from edgeres.data import open_eval_set
    from edgeres.runtime import evaluate

    size = (backend.spec.height, backend.spec.width)
    if size not in datasets:  # one set per size, scored by every model of that size
        datasets[size] = open_eval_set(
            job.data, "test", size, seed=job.seed, limit=job.limit, quiet=True
        )
    result = evaluate(backend, datasets[size], quiet=True, by_index=job.by_index)
    return float(result.accuracy), int(result.total)
