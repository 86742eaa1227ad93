"""The ``host`` profile, computed from the machine running now.

Everything a YAML profile states is derived here from ``/proc/cpuinfo`` and the architecture:
threads = usable cores, INT8 activations by architecture, peaks from cores x clock x the vector
width the CPU flags reveal (a theoretical upper bound, labelled so).
"""

from __future__ import annotations

from edgeres.profiles.facts import HostFacts, fp32_flop_per_cycle, int8_op_per_cycle
from edgeres.profiles.model import Budget, Camera, Figure, Match, Peak, Profile, Sensors


def host_peak(facts: HostFacts) -> Peak:
    """Theoretical CPU peaks of a machine from its facts (``None`` values when the clock is unknown)."""
    fp32, fp32_why = fp32_flop_per_cycle(facts)
    int8, int8_why = int8_op_per_cycle(facts)
    base = f"theoretical peak computed from /proc/cpuinfo: {facts.cores} cores x "
    if facts.max_mhz is None:
        unknown = "unknown: no CPU clock found in cpufreq or /proc/cpuinfo"
        return Peak(Figure(None, unknown), Figure(None, unknown), Figure(None, _MEM_UNKNOWN))
    ghz = facts.max_mhz / 1000.0
    return Peak(
        fp32_gflops=Figure(
            round(facts.cores * ghz * fp32, 1),
            f"{base}{ghz:.2f} GHz x {fp32} FLOP/cycle ({fp32_why})",
        ),
        int8_gops=Figure(
            round(facts.cores * ghz * int8, 1),
            f"{base}{ghz:.2f} GHz x {int8} OP/cycle ({int8_why})",
        ),
        memory_gbs=Figure(None, _MEM_UNKNOWN),
    )


_MEM_UNKNOWN = "unknown: memory bandwidth of an arbitrary host is not known without measuring it"


def host_profile(facts: HostFacts) -> Profile:
    """Build the ``host`` profile for a machine."""
    int8_act = "uint8" if facts.is_x86 else "int8"
    why = (
        "uint8 activations: ONNX Runtime's u8s8 kernels (VNNI) were 3x faster than int8 here"
        if facts.is_x86
        else "int8 activations: the ARM/XNNPACK convention"
    )
    return Profile(
        name="host",
        description=f"this machine: {facts.cpu_model}, {facts.cores} cores, {facts.arch}",
        match=Match(architectures=(facts.arch,)),
        threads=facts.cores,
        providers={"onnx": ("CPUExecutionProvider",), "tflite": ("xnnpack",)},
        preferred_format="tflite",
        precision="int8",
        int8_activations=int8_act,
        camera=Camera(source="0", width=640, height=480, fps=30.0),
        sensors=Sensors(),
        budget=Budget(),
        peaks={"cpu": host_peak(facts)},
        notes=f"Computed at run time from this machine; {why}.",
        # An engine measured faster on this architecture (its row's ``preferred_on``) is tried
        # first when installed (edgeres tune measures what is best here).
        engines=default_engine_order(facts.arch),
        source="computed from this machine",
    )


def default_engine_order(arch: str) -> dict[str, tuple[str, ...]]:
    """Per format whose rows prefer an engine on ``arch``: those engines first, then the rest."""
    from edgeres.formats import FORMATS

    order = {}
    for name, fmt in FORMATS.items():
        first = [e.name for e in fmt.engines if arch.lower() in e.preferred_on]
        if first:
            order[name] = (*first, *(e.name for e in fmt.engines if e.name not in first))
    return order
