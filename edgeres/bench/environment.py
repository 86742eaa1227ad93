"""The environment recorded with every benchmark result.

Static facts (CPU, cores, governor, library versions) once per run; a ``snapshot`` (clock,
temperature, throttling, load) before and after each model, so a hot or throttled board shows in
the result instead of silently slowing it.
"""

from __future__ import annotations

import glob
import importlib.metadata
import itertools
import os
import platform
import subprocess
import sys
from pathlib import Path

from edgeres import __version__
from edgeres.profiles import Profile
from edgeres.profiles.facts import read_text, this_machine
from edgeres.profiles.model import MAX_SENSOR_MATCHES, SENSOR_ROOTS

# Distribution names besides the engines' own whose versions matter to a benchmark figure.
BASE_LIBRARIES = ("numpy", "opencv-python-headless", "opencv-python", "onnx")


def libraries() -> tuple[str, ...]:
    """Every distribution recorded: the base ones, then each engine row's (read when asked)."""
    from edgeres.formats import all_engines

    engines = (d for e in all_engines() for d in e.distributions)
    return tuple(dict.fromkeys((*BASE_LIBRARIES[:1], *engines, *BASE_LIBRARIES[1:])))


CPUFREQ = Path("/sys/devices/system/cpu")


def library_versions() -> dict[str, str]:
    """Installed versions of the libraries that decide speed, read without importing them."""
    out = {"edgeres": __version__, "python": platform.python_version()}
    for dist in libraries():
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


# A sensor file holds one number; anything longer is not the file a profile should name.
MAX_SENSOR_BYTES = 64
# The Raspberry Pi firmware's throttle flags, the figure `vcgencmd get_throttled` prints. Both
# ways are fixed here, never taken from a profile: the firmware driver's sysfs file (Pi OS
# kernels; no process started), else the fixed vcgencmd program by its absolute path.
RPI_THROTTLE_GLOBS = (
    "/sys/devices/platform/soc/soc:firmware/get_throttled",
    "/sys/devices/platform/*/*firmware/get_throttled",
)
VCGENCMD = ("/usr/bin/vcgencmd", "get_throttled")


def sensor_files(pattern: str, root: Path = Path("/")) -> list[Path]:
    """Files matching a profile's sensor glob that really lie under ``/sys`` or ``/proc``.

    ``root`` stands for ``/`` (tests pass a temporary folder holding ``sys/`` and ``proc/``).
    A match whose real path leaves those folders (a symbolic link elsewhere) is dropped.
    """
    base = root.resolve()
    allowed = [base / r.strip("/") for r in SENSOR_ROOTS]
    found = []
    # At most MAX_SENSOR_MATCHES per glob (the schema bounds how deep a glob walks).
    matches = itertools.islice(glob.iglob(str(base / pattern.lstrip("/"))), MAX_SENSOR_MATCHES)
    for f in sorted(matches):
        real = Path(os.path.realpath(f))
        if any(real.is_relative_to(a) for a in allowed) and real.is_file():
            found.append(Path(f))
    return found


def read_number(path: Path, base: int = 10) -> int | None:
    """The one integer a sensor file holds (at most ``MAX_SENSOR_BYTES`` read), else ``None``."""
    try:
        with open(path, "rb") as fh:
            data = fh.read(MAX_SENSOR_BYTES + 1)
    except OSError:
        return None
    if len(data) > MAX_SENSOR_BYTES:
        return None
    text = data.replace(b"\x00", b"").decode("ascii", "replace").strip()
    text = text.partition("=")[2] if "=" in text else text  # vcgencmd: "throttled=0x50000"
    try:
        return int(text, 0 if text.lower().startswith("0x") else base)
    except ValueError:
        return None


def temperatures(profile: Profile, root: Path = Path("/")) -> dict[str, float]:
    """Temperatures in degrees Celsius from the profile's sensor globs (millidegree files)."""
    out = {}
    for pattern in profile.sensors.temperature:
        for f in sensor_files(pattern, root):
            if (value := read_number(f)) is not None:
                out[_shown_sensor(f, root)] = value / 1000.0
    return out


def throttling(profile: Profile, root: Path = Path("/")) -> dict[str, int]:
    """Throttling indicators: the built-in reader the profile names and its counter files."""
    out = {}
    pi = profile.sensors.throttle_reader == "raspberry-pi"
    if pi and (flags := rpi_throttled(root)) is not None:
        out["raspberry-pi get_throttled"] = flags
    for pattern in profile.sensors.throttle_files:
        for f in sensor_files(pattern, root):
            if (value := read_number(f)) is not None:
                out[_shown_sensor(f, root)] = value
    return out


def rpi_throttled(root: Path = Path("/")) -> int | None:
    """The Pi firmware's throttle flags (bit 0 under-voltage now, bit 2 throttled now, ...)."""
    for pattern in RPI_THROTTLE_GLOBS:
        for f in sensor_files(pattern, root):
            if (value := read_number(f, base=16)) is not None:  # the driver prints hex
                return value
    if str(root) != "/" or not os.access(VCGENCMD[0], os.X_OK):
        return None
    try:
        res = subprocess.run(VCGENCMD, capture_output=True, timeout=2, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return None
    text = res.stdout[:MAX_SENSOR_BYTES].decode("ascii", "replace").strip()
    try:
        return int(text.partition("=")[2] or text, 0)
    except ValueError:
        return None


def _shown_sensor(path: Path, root: Path) -> str:
    """The sensor's path as on the device (``root`` removed)."""
    base = root.resolve()
    try:
        return "/" + str(Path(path).relative_to(base))
    except ValueError:
        return str(path)


def snapshot(profile: Profile, root: Path = Path("/")) -> dict:
    """Clock, temperature, throttling and load at one moment (sensors read under ``root``)."""
    temps = temperatures(profile, root)
    mhz = cpu_mhz()
    return {
        "cpu_mhz": [round(m, 1) for m in mhz],
        "temperature_c": temps,
        "max_temperature_c": max(temps.values()) if temps else None,
        "throttling": throttling(profile, root),
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
