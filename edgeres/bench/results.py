"""The data a benchmark returns: one ``ModelResult`` per model and thread count, in a ``BenchmarkReport``.

Both round-trip through JSON (``to_dict``/``from_dict``) so a saved report can be a baseline.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from edgeres.bench.stats import LatencyStats

SCHEMA = "edgeres.benchmark/1"


@dataclass
class ModelResult:
    """Everything measured for one model at one thread count.

    Attributes:
        model: Path as given.
        name: File name (the key used to compare with a baseline, with ``threads``).
        format: ``onnx``, ``tflite`` or ``pytorch``.
        precision: ``fp32``/``int8`` (from the file's metadata).
        threads: Threads the engine was given.
        providers: Providers/delegates the engine actually used.
        file_size_bytes: Size of the model file.
        macs: Multiply-accumulates per image, ``None`` if unknown; ``macs_source`` says how.
        load_ms: Time to load the file into the engine.
        first_ms: Time of the first inference (includes lazy initialisation).
        latency: Statistics of all measured runs (batch 1).
        trial_p50_ms: Median of each trial, to show trial-to-trial drift.
        warmup_runs: Runs made while warming up.
        peak_rss_mb: Peak resident memory while loading and running this model.
        rss_before_mb: Resident memory before loading it.
        memory_method: How ``peak_rss_mb`` was read.
        accuracy: Top-1 accuracy on ``--data`` (``None`` without it); ``accuracy_n`` images.
        env_before: Clock/temperature/throttling snapshot before measuring; ``env_after`` after.
        estimate: Estimate for the profile's device when it is not this machine, else ``None``.
        load_warnings: What the runtime warned about while loading (missing provider, ...).
        engine: The engine that ran it.
        ops: With ``--ops``, each operator's mean ms per run as the engine's profiler saw it
            (``name``, ``op_type``, ``ms``, ``kernel``, ``integer``), slowest first.
        ops_note: Why there is no operator profile (the engine cannot give one).
        pid: The process that measured the row (a fresh worker unless ``--in-process``).
        samples_ms: Every measured latency (kept in memory for plots; not written to JSON).
    """

    model: str
    name: str
    format: str
    precision: str
    threads: int
    providers: list[str]
    file_size_bytes: int
    macs: int | None
    macs_source: str
    load_ms: float
    first_ms: float
    latency: LatencyStats
    trial_p50_ms: list[float]
    warmup_runs: int
    peak_rss_mb: float | None
    rss_before_mb: float | None
    memory_method: str
    accuracy: float | None = None
    accuracy_n: int | None = None
    env_before: dict = field(default_factory=dict)
    env_after: dict = field(default_factory=dict)
    estimate: dict | None = None
    load_warnings: list[str] = field(default_factory=list)
    engine: str = ""
    ops: list[dict] | None = None
    ops_note: str = ""
    pid: int = 0
    samples_ms: list[float] = field(default_factory=list, repr=False)

    @property
    def gmacs(self) -> float | None:
        """Attained GMAC/s at the p50 latency (None when the MACs are unknown)."""
        p50 = self.latency.p50_ms
        return self.macs / p50 / 1e6 if self.macs and p50 > 0 else None

    def share_of_peak(self, peak: dict | None) -> float | None:
        """``gmacs`` as a percentage of the attained peak of its precision, when measured."""
        fig = (peak or {}).get(self.precision)
        gmacs = self.gmacs
        return 100 * gmacs / fig["gmacs"] if fig and gmacs and fig.get("gmacs") else None

    @property
    def key(self) -> tuple[str, int]:
        return (self.name, self.threads)

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d.pop("samples_ms")
        d["latency"] = self.latency.to_dict()
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> ModelResult:
        kw = {k: v for k, v in d.items() if k in cls.__dataclass_fields__}
        kw["latency"] = LatencyStats.from_dict(d["latency"])
        return cls(**kw)


@dataclass
class BenchmarkReport:
    """A whole ``edgeres benchmark`` run.

    Attributes:
        profile: Name of the profile whose settings were used.
        profile_source: Where the profile came from.
        profile_is_host: Whether that profile describes this machine.
        label: How to read the figures ("measured on this machine" or "measured here with
            <profile>'s settings").
        created: UTC time of the run, ISO 8601.
        budget: The benchmark budget used.
        environment: Static facts of the machine that measured.
        timer_overhead_ns: What the timing loop itself costs per run.
        results: One entry per model and thread count, in the order given.
        notes: Warnings about the run (threads beyond the core count, providers missing here).
        peak: This machine's attained peak per precision (``edgeres doctor --peak``), or None.
    """

    profile: str
    profile_source: str
    profile_is_host: bool
    label: str
    created: str
    budget: dict
    environment: dict
    timer_overhead_ns: dict
    results: list[ModelResult]
    notes: list[str] = field(default_factory=list)
    peak: dict | None = None
    schema: str = SCHEMA

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["results"] = [r.to_dict() for r in self.results]
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> BenchmarkReport:
        kw = {k: v for k, v in d.items() if k in cls.__dataclass_fields__}
        kw["results"] = [ModelResult.from_dict(r) for r in d["results"]]
        return cls(**kw)
