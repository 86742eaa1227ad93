"""The attained peak of this machine: GMAC/s on a large convolution stack, FP32 and INT8.

A theoretical peak (cores x clock x vector width) says what the silicon could do; this says what
the best engine installed here actually reaches on the work a ResNet is made of (3x3 convolutions
of 128 channels at 56x56), so a model's MAC/s can be read as a share of what is attainable. The
probe model is built with the ``onnx`` package (FP32, and a QDQ INT8 copy with per-channel int8
weights) and run on every installed ONNX engine with all cores; the best of each precision is
kept, with the engine that reached it, and cached per machine and engine versions.
"""

from __future__ import annotations

import json
import os
import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from edgeres.bench.environment import library_versions
from edgeres.formats import FORMATS
from edgeres.profiles.facts import this_machine

CHANNELS, SIZE, LAYERS = 128, 56, 4
# The probe models are ONNX files: every engine of that format's row is measured.
PROBE_FORMAT = "onnx"


def cache_path() -> Path:
    """Where measured peaks are kept: ``$XDG_CACHE_HOME/edgeres/peak.json``."""
    return (
        Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "edgeres" / "peak.json"
    )


@dataclass(frozen=True)
class PeakFigure:
    """The best attained throughput of one precision, and how it was reached."""

    precision: str
    gmacs: float
    engine: str
    threads: int
    p50_ms: float
    macs: int

    def line(self) -> str:
        return (
            f"{self.precision.upper()} attained peak: {self.gmacs:.1f} GMAC/s on {self.engine} "
            f"with {self.threads} threads (a stack of 3x3 convs, {self.macs / 1e6:.0f} MMACs, "
            f"p50 {self.p50_ms:.2f} ms)"
        )


def probe_macs(channels: int = CHANNELS, size: int = SIZE, layers: int = LAYERS) -> int:
    stem = size * size * channels * 3 * 9
    return stem + layers * size * size * channels * channels * 9 + channels * 10


def measure_peak(
    min_seconds: float = 1.0, channels: int = CHANNELS, size: int = SIZE, layers: int = LAYERS
) -> dict[str, PeakFigure]:
    """Run both probes on every installed ONNX engine at all cores; the best per precision."""
    from edgeres import runtime
    from edgeres.bench.timing import measure
    from edgeres.profiles import Budget

    cores = this_machine().cores
    budget = Budget(5, min(0.3, min_seconds), 10, min_seconds, 3, min(0.2, min_seconds))
    best: dict[str, PeakFigure] = {}
    from edgeres.bench.peak_model import probe_models

    macs = probe_macs(channels, size, layers)
    with tempfile.TemporaryDirectory(prefix="edgeres-peak-") as tmp:
        for precision, path in probe_models(Path(tmp), channels, size, layers).items():
            for engine in (e for e in FORMATS[PROBE_FORMAT].engines if e.available):
                with runtime.load(path, engine=engine.name, threads=cores) as backend:
                    x = np.random.default_rng(0).standard_normal(backend.spec.shape(1))
                    x = x.astype(np.float32)
                    timing = measure(lambda b=backend, x=x: b.infer(x), budget)
                p50 = float(np.median(timing.samples_ns)) / 1e6
                fig = PeakFigure(precision, macs / p50 / 1e6, engine.name, cores, p50, macs)
                if precision not in best or fig.gmacs > best[precision].gmacs:
                    best[precision] = fig
    return best


def _key() -> str:
    facts = this_machine()
    libs = library_versions()
    dists = (e.distribution for e in FORMATS[PROBE_FORMAT].engines)
    engines = ",".join(f"{d}={libs.get(d)}" for d in dists)
    return f"{facts.cpu_model}|{facts.cores}|{engines}"


def save_peak(figures: dict[str, PeakFigure], path: Path | None = None) -> Path:
    from edgeres.fileio import atomic_write_text

    path = path or cache_path()
    doc = _read(path)
    doc[_key()] = {k: asdict(v) for k, v in figures.items()}
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(path, json.dumps(doc, indent=2, sort_keys=True) + "\n")
    return path


def cached_peak(path: Path | None = None) -> dict[str, PeakFigure] | None:
    """The figures measured earlier on this machine with these engine versions, if any."""
    entry = _read(path or cache_path()).get(_key())
    if not isinstance(entry, dict):
        return None
    try:
        return {k: PeakFigure(**v) for k, v in entry.items()}
    except TypeError:  # an older cache layout: measure again
        return None


def _read(path: Path) -> dict:
    try:
        doc = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
    return doc if isinstance(doc, dict) else {}
