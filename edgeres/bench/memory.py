"""Per-model peak memory without a subprocess per model.

Linux keeps the process's resident-set high-water mark in ``/proc/self/status`` (``VmHWM``) and
resets it to the current RSS when ``5`` is written to ``/proc/self/clear_refs`` (Linux >= 4.0).
Resetting before each model makes the peak that model's (load + runs, on top of what the process
already held) at the cost of one file write, where a fresh subprocess per model would add an
interpreter start and re-import ONNX Runtime/LiteRT for every row. Elsewhere the peak falls back to
``getrusage``'s process-lifetime maximum, labelled as such.
"""

from __future__ import annotations

import resource
import sys
from pathlib import Path

STATUS = Path("/proc/self/status")
CLEAR_REFS = Path("/proc/self/clear_refs")


def _status_kb(key: str) -> float | None:
    try:
        for line in STATUS.read_text().splitlines():
            if line.startswith(key + ":"):
                return float(line.split()[1])
    except (OSError, ValueError, IndexError):
        return None
    return None


def reset_peak() -> bool:
    """Reset the high-water mark to the current RSS; ``False`` where the kernel does not allow it."""
    try:
        CLEAR_REFS.write_text("5")
    except OSError:
        return False
    return True


def current_rss_mb() -> float | None:
    kb = _status_kb("VmRSS")
    return kb / 1024.0 if kb is not None else None


def peak_rss_mb(was_reset: bool) -> tuple[float | None, str]:
    """The peak RSS in MiB and how it was read."""
    kb = _status_kb("VmHWM")
    if kb is not None and was_reset:
        return kb / 1024.0, "VmHWM reset per model via /proc/self/clear_refs"
    ru = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    # ru_maxrss is KiB on Linux, bytes on macOS.
    mb = ru / (1024.0 * 1024.0) if sys.platform == "darwin" else ru / 1024.0
    return mb, "getrusage ru_maxrss: peak of the whole process, not reset per model"
