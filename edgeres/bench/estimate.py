"""A rough latency estimate for a device that is not the one measuring.

Roofline-style: the model needs ``2 x MACs`` operations and reads its weights once. This machine's
measured p50 against its own theoretical peak gives an *efficiency* (the fraction of peak the
engine reaches on this model: small models reach little, overhead dominates them). The estimate
assumes the device's engine reaches the same fraction of its own peak:

    compute_ms = 2 x MACs / (device peak x efficiency)
    memory_ms  = file bytes / device memory bandwidth
    estimate   = max(compute_ms, memory_ms)

It ignores cache sizes, per-operator overhead and kernel quality, which differ between CPUs (and
far more between a CPU and a GPU), so it is labelled an estimate and never replaces a measurement
on the device.
"""

from __future__ import annotations

from edgeres.bench.results import ModelResult
from edgeres.profiles import Figure, Profile


def _peak(figures: object, precision: str) -> Figure:
    return figures.int8_gops if precision == "int8" else figures.fp32_gflops  # type: ignore[attr-defined]


def efficiency(result: ModelResult, host: Profile) -> tuple[float | None, str]:
    """Fraction of this machine's CPU peak the measured p50 reached (scaled to the threads used)."""
    if not result.macs:
        return None, f"MACs unknown ({result.macs_source})"
    fig = _peak(host.peaks["cpu"], result.precision)
    if not fig.value:
        return None, f"this machine's peak is unknown ({fig.source})"
    share = fig.value * min(result.threads, host.threads) / host.threads
    achieved = 2 * result.macs / (result.latency.p50_ms / 1000.0) / 1e9
    return achieved / share, f"{achieved:.2f} G(FL)OP/s of {share:.0f} peak here ({fig.source})"


def estimate(result: ModelResult, target: Profile, host: Profile) -> dict:
    """Estimate ``result``'s p50 on ``target`` from its MACs and the profiles' figures.

    Returns:
        A dict with ``p50_ms`` (``None`` when no estimate can be made), ``compute_ms``,
        ``memory_ms``, ``efficiency``, ``unit`` and ``method`` (the formula and its sources).
    """
    out: dict = {"device": target.name, "p50_ms": None, "kind": "estimate, not a measurement"}
    eff, eff_why = efficiency(result, host)
    unit, figures = target.peak_for(result.format)
    peak = _peak(figures, result.precision)
    out["unit"] = unit
    if eff is None or not peak.value:
        out["method"] = f"no estimate: {eff_why if eff is None else 'device peak unknown'}"
        return out
    ops = 2 * result.macs
    compute_ms = ops / (peak.value * 1e9 * eff) * 1000.0
    bw = figures.memory_gbs.value
    memory_ms = result.file_size_bytes / (bw * 1e9) * 1000.0 if bw else None
    caveat = " A CPU's efficiency applied to a GPU: rougher still." if unit == "gpu" else ""
    out.update(
        p50_ms=max(compute_ms, memory_ms or 0.0),
        compute_ms=compute_ms,
        memory_ms=memory_ms,
        efficiency=eff,
        device_peak=peak.value,
        method=(
            f"estimate = max(2 x MACs / ({target.name} {unit} peak {peak.value:g} x efficiency "
            f"{eff:.3f}), file bytes / {bw or '?'} GB/s); efficiency = {eff_why}; device peak: "
            f"{peak.source}. Ignores caches, per-op overhead and kernel quality: expect +/-2x "
            f"or worse.{caveat}"
        ),
    )
    return out
