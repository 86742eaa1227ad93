"""The environment recorded with every benchmark result.

Static facts (CPU, cores, governor, library versions) once per run; a ``snapshot`` (clock,
temperature, throttling, load) before and after each model, so a hot or throttled board shows in
the result instead of silently slowing it.
"""

from __future__ import annotations

import glob
import importlib.metadata
import os
import platform
import shutil
import subprocess
import sys
from pathlib import Path

from edgeres import __version__
from edgeres.profiles import Profile
from edgeres.profiles.facts import read_text, this_machine

# Distribution names whose versions matter to a benchmark figure.
LIBRARIES = (
    "numpy",
    "onnxruntime",
    "onnxruntime-gpu",
    "ai-edge-litert",
    "tflite-runtime",
    "openvino",
    "opencv-python-headless",
    "opencv-python",
    "torch",
    "onnx",
)
CPUFREQ = Path("/sys/devices/system/cpu")


def library_versions() -> dict[str, str]:
    """Installed versions of the libraries that decide speed, read without importing them."""
    out = {"edgeres": __version__, "python": platform.python_version()}
    for dist in LIBRARIES:
        try:
            out[dist] = importlib.metadata.version(dist)
        except importlib.metadata.PackageNotFoundError:
            continue
    return out


def governors() -> list[str]:
    """Distinct cpufreq governors of the CPUs (empty when cpufreq is absent, e.g. in a VM)."""
    files = glob.glob(str(CPUFREQ / "cpu[0-9]*/cpufreq/scaling_governor"))
    return sorted({g for f in files if (g := read_text(Path(f)))})


def cpu_mhz() -> list[float]:
    """Current clock of each CPU in MHz (cpufreq, else ``/proc/cpuinfo``)."""
    files = sorted(glob.glob(str(CPUFREQ / "cpu[0-9]*/cpufreq/scaling_cur_freq")))
    values = [int(t) / 1000.0 for f in files if (t := read_text(Path(f))) and t.isdigit()]
    if values:
        return values
    text = read_text(Path("/proc/cpuinfo")) or ""
    return [float(line.split(":")[1]) for line in text.splitlines() if line.startswith("cpu MHz")]


def temperatures(profile: Profile) -> dict[str, float]:
    """Temperatures in degrees Celsius from the profile's sensor globs (millidegree files)."""
    out = {}
    for pattern in profile.sensors.temperature:
        for f in sorted(glob.glob(pattern)):
            text = read_text(Path(f))
            try:
                out[f] = int(text) / 1000.0 if text else None
            except ValueError:
                continue
    return {k: v for k, v in out.items() if v is not None}


def throttling(profile: Profile) -> dict[str, str]:
    """Throttling indicators the profile names: command output and non-zero counter files."""
    out = {}
    cmd = profile.sensors.throttle_command
    if cmd and shutil.which(cmd[0]):
        try:
            res = subprocess.run(list(cmd), capture_output=True, text=True, timeout=2, check=False)
            out[" ".join(cmd)] = res.stdout.strip() or res.stderr.strip()
        except (OSError, subprocess.TimeoutExpired) as e:
            out[" ".join(cmd)] = f"failed: {e}"
    for pattern in profile.sensors.throttle_files:
        for f in sorted(glob.glob(pattern)):
            if (text := read_text(Path(f))) is not None:
                out[f] = text
    return out


def snapshot(profile: Profile) -> dict:
    """Clock, temperature, throttling and load at one moment."""
    temps = temperatures(profile)
    mhz = cpu_mhz()
    return {
        "cpu_mhz": [round(m, 1) for m in mhz],
        "temperature_c": temps,
        "max_temperature_c": max(temps.values()) if temps else None,
        "throttling": throttling(profile),
        "loadavg": list(os.getloadavg()) if hasattr(os, "getloadavg") else None,
    }


def environment(profile: Profile) -> dict:
    """Static facts of the machine running the benchmark."""
    facts = this_machine()
    return {
        "cpu_model": facts.cpu_model,
        "arch": facts.arch,
        "cores_usable": facts.cores,
        "cpus_logical": os.cpu_count(),
        "cpu_max_mhz": facts.max_mhz,
        "cpu_flags": sorted(f for f in facts.flags if f in NOTABLE_FLAGS),
        "governor": governors() or None,
        "os": f"{platform.system()} {platform.release()}",
        "python": sys.version.split()[0],
        "libraries": library_versions(),
        "matching_profile": profile.name if profile.is_host else None,
    }


# CPU flags that decide which kernels run (x86 and ARM spellings).
NOTABLE_FLAGS = frozenset(
    {
        "avx2",
        "fma",
        "avx512f",
        "avx512_vnni",
        "avx_vnni",
        "avx512_bf16",
        "amx_tile",
        "amx_int8",
        "amx_bf16",
        "neon",
        "asimd",
        "asimddp",
        "asimdhp",
        "i8mm",
        "sve",
        "bf16",
    }
)
