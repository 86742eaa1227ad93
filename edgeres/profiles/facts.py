"""Facts about the machine edgeres runs on, read from ``/proc`` and ``/sys`` under a root folder.

Every reader takes ``root`` so tests can build a fake ``/proc`` and ``/sys`` in a temp folder; the
architecture comes from ``platform.machine()`` unless given, since no file states it portably.
Nothing here raises for a missing file: a fact that cannot be read is ``None`` or empty.
"""

from __future__ import annotations

import os
import platform
import re
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

X86_ARCHS = ("x86_64", "amd64", "i686", "i386")
ARM_ARCHS = ("aarch64", "arm64", "armv7l", "armv8l", "armv6l")
DT_MODEL_PATHS = ("proc/device-tree/model", "sys/firmware/devicetree/base/model")


@dataclass(frozen=True)
class HostFacts:
    """What identifies this machine and bounds its speed.

    Attributes:
        arch: ``uname -m`` style architecture, e.g. ``x86_64``, ``aarch64``.
        cpu_model: CPU model name from ``/proc/cpuinfo`` (``"unknown"`` if absent).
        cores: CPUs this process may run on (affinity), else the logical CPU count.
        flags: CPU feature flags (x86 ``flags`` or ARM ``Features``), lower case.
        max_mhz: Highest CPU frequency found (cpufreq ``cpuinfo_max_freq``, else ``cpu MHz``).
        dt_model: Device-tree model string (Raspberry Pi, Jetson), ``None`` on PCs.
        tegra_release: First line of ``/etc/nv_tegra_release`` (Jetson), else ``None``.
    """

    arch: str
    cpu_model: str
    cores: int
    flags: frozenset[str]
    max_mhz: float | None
    dt_model: str | None
    tegra_release: str | None

    @property
    def is_x86(self) -> bool:
        return self.arch.lower() in X86_ARCHS

    @property
    def is_arm(self) -> bool:
        return self.arch.lower() in ARM_ARCHS


def read_text(path: Path) -> str | None:
    """Read a small text file, ``None`` if missing or unreadable; NULs (device tree) stripped."""
    try:
        return path.read_bytes().replace(b"\x00", b"").decode("utf-8", "replace").strip()
    except OSError:
        return None


def _cpuinfo_fields(text: str) -> dict[str, str]:
    # The first occurrence of each key wins: /proc/cpuinfo repeats the block per core.
    out: dict[str, str] = {}
    for line in text.splitlines():
        key, sep, value = line.partition(":")
        if sep and key.strip() and key.strip() not in out:
            out[key.strip()] = value.strip()
    return out


def _max_mhz(root: Path, info: dict[str, str]) -> float | None:
    khz = read_text(root / "sys/devices/system/cpu/cpu0/cpufreq/cpuinfo_max_freq")
    if khz and khz.isdigit():
        return int(khz) / 1000.0
    try:
        return float(info["cpu MHz"])
    except (KeyError, ValueError):
        return None


def _cores(root: Path, info_text: str) -> int:
    if root == Path("/") and hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    n = len(re.findall(r"^processor\s*:", info_text, flags=re.M))
    return n or (os.cpu_count() or 1)


def read_facts(root: str | Path = "/", arch: str | None = None) -> HostFacts:
    """Read this machine's facts (or a fake machine's under ``root``)."""
    root = Path(root)
    text = read_text(root / "proc/cpuinfo") or ""
    info = _cpuinfo_fields(text)
    flags = info.get("flags") or info.get("Features") or ""
    model = info.get("model name") or info.get("Model") or info.get("Hardware") or "unknown"
    dt_model = next((m for p in DT_MODEL_PATHS if (m := read_text(root / p))), None)
    tegra = read_text(root / "etc/nv_tegra_release")
    return HostFacts(
        arch=arch or platform.machine() or "unknown",
        cpu_model=model,
        cores=_cores(root, text),
        flags=frozenset(flags.lower().split()),
        max_mhz=_max_mhz(root, info),
        dt_model=dt_model,
        tegra_release=tegra.splitlines()[0] if tegra else None,
    )


@lru_cache(maxsize=1)
def this_machine() -> HostFacts:
    """The facts of the machine running now, read once per process."""
    return read_facts("/")


def fp32_flop_per_cycle(facts: HostFacts) -> tuple[int, str]:
    """FP32 FLOP per cycle per core assumed from the CPU flags, and why.

    Assumes two vector FMA pipes (most desktop/server cores since Haswell; Cortex-A76 and later);
    chips with one pipe reach half, so the figure is an upper bound.
    """
    f = facts.flags
    if "avx512f" in f:
        return 64, "AVX-512: 2 FMA pipes x 16 lanes x 2"
    if "avx2" in f and "fma" in f:
        return 32, "AVX2+FMA: 2 FMA pipes x 8 lanes x 2"
    if facts.is_arm and ("asimd" in f or "neon" in f or facts.arch == "aarch64"):
        return 16, "NEON: 2 FMA pipes x 4 lanes x 2"
    return 8, "SSE/unknown vector unit: 8 assumed"


def int8_op_per_cycle(facts: HostFacts) -> tuple[int, str]:
    """INT8 operations (2 per multiply-accumulate) per cycle per core from the flags, and why.

    AMX is not counted: ONNX Runtime and XNNPACK use it only for some ops and shapes.
    """
    f = facts.flags
    if "avx512_vnni" in f:
        return 256, "AVX-512 VNNI: 2 pipes x 64 MAC x 2"
    if "avx_vnni" in f:
        return 128, "AVX-VNNI: 2 pipes x 32 MAC x 2"
    if "asimddp" in f:
        return 64, "NEON SDOT: 2 pipes x 16 MAC x 2"
    fp32, _ = fp32_flop_per_cycle(facts)
    return 2 * fp32, "no dot-product instruction: 2x the FP32 rate assumed"
