"""A network's INT8 latency on the target: exported and quantized here, then measured with the
engine ``tune`` picks on this machine, on the board itself (``--remote``), or, where nothing can
be measured (a profile of a device that is not here), estimated from the profile's attained peak
and labelled so.

Latency does not depend on the weights, so ``fit`` measures candidates with random weights and
``prune`` measures each width it tries before training anything.
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from edgeres.errors import EdgeresError, UsageError
from edgeres.spec import ModelInfo

MEASURED = "measured"
ESTIMATED = "estimate"


@dataclass(frozen=True)
class Target:
    """Where and how candidates are measured.

    Attributes:
        profile: Device profile name or YAML path (``--profile``); by default this machine's.
            A profile of another device, without ``--remote``, gives estimates only.
        remote: ``RemoteConfig`` of the board to measure on (``--remote``), or ``None``.
        threads: Thread counts tune tries (``--threads``); by default 1 up to the cores.
        formats: INT8 formats to make and let tune choose among; by default the registry's
            first INT8 format made from a checkpoint.
        min_time: Seconds per timing trial.
        trials: Timing trials per engine x threads row.
        calib: Calibration images for the INT8 file (random-weight networks: any will do).
    """

    profile: str | None = None
    remote: Any = None
    threads: tuple[int, ...] = ()
    formats: tuple[str, ...] = ()
    min_time: float = 0.2
    trials: int = 2
    calib: str = "shapes"

    @property
    def where(self) -> str:
        if self.remote is not None:
            return f"remote {self.remote.remote}"
        return f"profile {self.profile}" if self.profile else "this machine"


@dataclass
class Measurement:
    """One network's INT8 latency on the target."""

    p50_ms: float
    engine: str
    threads: int
    kind: str  # MEASURED or ESTIMATED
    where: str
    file_size_bytes: int = 0
    notes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "p50_ms": round(self.p50_ms, 4),
            "engine": self.engine,
            "threads": self.threads,
            "kind": self.kind,
            "where": self.where,
            "file_size_bytes": self.file_size_bytes,
        }


class MeasureError(EdgeresError):
    """The target could not measure a file (device dropped, engine failed)."""

    exit_code = 2


def export_int8(model, info: ModelInfo, model_args: dict, folder: Path, target: Target) -> Path:
    """``model`` saved as a checkpoint in ``folder`` and quantized there; the INT8 file made."""
    from edgeres.formats import format_for_path
    from edgeres.quantize import QuantizeConfig, quantize, targets_from
    from edgeres.train.checkpoint import save_checkpoint

    ckpt = save_checkpoint(folder / "model.pt", model, info, model_args, {})
    to = target.formats or targets_from(format_for_path(ckpt), asked=False)[:1]
    # Random weights: the fewest calibration and check images quantize takes; only the
    # file's layers and sizes matter for its latency.
    cfg = QuantizeConfig(
        calib=target.calib, to=tuple(to), samples=8, eval_limit=8, out_dir=folder,
        quiet=True, no_fallback=True,
    )  # fmt: skip
    result = quantize(ckpt, cfg)
    if not result.outputs:
        raise MeasureError(f"quantizing {info.name} made no INT8 file")
    return next(iter(result.outputs.values()))


def measure_module(model, info: ModelInfo, model_args: dict, target: Target) -> Measurement:
    """Export ``model`` to INT8 in a temporary folder and measure it on ``target``."""
    with tempfile.TemporaryDirectory(prefix="edgeres-measure-") as tmp:
        path = export_int8(model, info, model_args, Path(tmp), target)
        return measure_file(path, target)


def measure_file(path: Path, target: Target) -> Measurement:
    """The p50 latency of one INT8 file on ``target`` (see the module docstring)."""
    from edgeres.profiles import load_profile

    if target.remote is not None:
        return _remote(path, target)
    profile = load_profile(target.profile)
    if not profile.is_host:
        return _estimate(path, target)
    return _tuned(path, target)


def _tuned(path: Path, target: Target) -> Measurement:
    from edgeres.tune.sweep import TuneConfig, tune

    cfg = TuneConfig(
        targets=(path,), threads=target.threads, min_time=target.min_time,
        trials=target.trials, profile=target.profile, quiet=True,
    )  # fmt: skip
    rows = tune(cfg, [path]).measured
    if not rows:
        raise MeasureError(f"no engine could measure {path.name} on {target.where}")
    best = rows[0]  # ranked fastest first
    return Measurement(
        best.p50_ms, best.engine, best.threads, MEASURED, target.where,
        best.result.file_size_bytes,
    )  # fmt: skip


def _estimate(path: Path, target: Target) -> Measurement:
    from edgeres.bench.config import BenchConfig
    from edgeres.bench.runner import run_benchmark

    cfg = BenchConfig(models=(path,), profile=target.profile, quick=True, quiet=True)
    r = run_benchmark(cfg).results[0]
    est = r.estimate or {}
    if est.get("p50_ms") is None:
        raise UsageError(
            f"{target.where} is not this machine and its latency cannot be estimated "
            f"({est.get('method', 'no estimate')}); measure on the board with --remote HOST"
        )
    note = f"estimated from the attained peak: {est.get('method', '')}"
    return Measurement(
        float(est["p50_ms"]), r.engine, r.threads, ESTIMATED, target.where,
        r.file_size_bytes, [note],
    )  # fmt: skip


def _remote(path: Path, target: Target) -> Measurement:
    from edgeres.bench.config import BenchConfig
    from edgeres.remote.commands import remote_benchmark

    cfg = BenchConfig(models=(path,), profile=target.profile, quiet=True)
    flags = ["--min-time", str(target.min_time), "--trials", str(target.trials)]
    results = remote_benchmark(target.remote, cfg, flags)
    host = results[0]
    if not host.ok:
        raise MeasureError(f"{target.where} failed to measure {path.name}: {host.error}")
    r = min(host.result.report.results, key=lambda r: r.latency.p50_ms)
    return Measurement(
        r.latency.p50_ms, r.engine, r.threads, MEASURED, target.where, r.file_size_bytes
    )
