"""Was the machine quiet while a speed tool measured? Every speed tool under tools/ asks this.

On a 2-core machine one other CPU-heavy process slows a 2-thread measurement 2-10x, and the
1-minute load average cannot tell our own work from someone else's (a quiet 2-thread benchmark
shows a load of 2 on its own). So this counts CPU time instead: the machine's busy time from
``/proc/stat`` over the measurement, less the CPU time of this process and the children it waited
for (fresh-process workers included). What is left was other processes; more than
``--busy-cores`` cores of it on average means the figures are not the machine's.

    from quietcheck import QuietCheck
    check = QuietCheck.from_args(args)   # after parser.add_argument calls from add_arguments()
    ... measure ...
    check.finish()                       # exit 3 with a one-line reason when busy, unless --allow-busy
    print(check.heading("my table"))     # "my table" or "my table [BUSY: ...]"
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import time
from dataclasses import dataclass, field

# Other processes may use this much CPU (in cores, averaged over the run) before a table is refused.
BUSY_CORES = 0.25


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The two flags every speed tool takes."""
    parser.add_argument(
        "--allow-busy",
        action="store_true",
        help="print the tables even when other processes used the CPU (headings marked BUSY)",
    )
    parser.add_argument(
        "--busy-cores",
        type=float,
        default=BUSY_CORES,
        help=f"CPU (in cores) other processes may use on average (default {BUSY_CORES})",
    )


def _busy_seconds() -> float | None:
    """Seconds of CPU time the whole machine spent busy since boot (all cores), or None."""
    try:
        with open("/proc/stat") as f:
            fields = [int(v) for v in f.readline().split()[1:]]
    except (OSError, ValueError):
        return None
    idle = fields[3] + (fields[4] if len(fields) > 4 else 0)  # idle + iowait
    return (sum(fields[:8]) - idle) / os.sysconf("SC_CLK_TCK")


def _own_seconds() -> float:
    t = os.times()
    return t.user + t.system + t.children_user + t.children_system


def cpu_name() -> str:
    """The CPU's model name (``/proc/cpuinfo``), else the platform's processor string."""
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


@dataclass
class QuietCheck:
    """CPU used by other processes between construction and :meth:`finish`."""

    allow_busy: bool = False
    busy_cores: float = BUSY_CORES
    _start: tuple[float, float | None, float] = field(default=(0.0, None, 0.0), repr=False)
    others_cores: float | None = None
    load_before: float | None = None
    load_after: float | None = None

    def __post_init__(self) -> None:
        self.load_before = os.getloadavg()[0] if hasattr(os, "getloadavg") else None
        self._start = (time.monotonic(), _busy_seconds(), _own_seconds())

    @classmethod
    def from_args(cls, args: argparse.Namespace) -> QuietCheck:
        return cls(allow_busy=args.allow_busy, busy_cores=args.busy_cores)

    @property
    def busy(self) -> bool:
        return self.others_cores is not None and self.others_cores > self.busy_cores

    def own_seconds(self) -> float:
        """CPU seconds this process and the children it waited for used since the start."""
        return _own_seconds() - self._start[2]

    def measure(self) -> float | None:
        """Other processes' average CPU use so far, in cores (None where /proc/stat is missing)."""
        t0, busy0, _ = self._start
        busy1, wall = _busy_seconds(), time.monotonic() - t0
        if busy0 is None or busy1 is None or wall <= 0:
            return None
        others = (busy1 - busy0) - self.own_seconds()
        self.others_cores = max(0.0, others / wall)
        self.load_after = os.getloadavg()[0] if hasattr(os, "getloadavg") else None
        return self.others_cores

    def summary(self) -> str:
        """One line: the CPU, the cores, what other processes used, the load averages."""
        others = "unknown" if self.others_cores is None else f"{self.others_cores:.2f} cores"
        loads = f"{self.load_before or 0:.1f} -> {self.load_after or 0:.1f}"
        return (
            f"machine: {cpu_name()}, {len(os.sched_getaffinity(0))} cores; other processes used "
            f"{others} on average while measuring; 1-minute load average {loads}"
        )

    def finish(self) -> None:
        """Measure, print the summary on stderr, and exit 3 when busy unless --allow-busy."""
        self.measure()
        print(self.summary(), file=sys.stderr)
        if self.busy and not self.allow_busy:
            print(
                f"error: the machine was busy ({self.others_cores:.2f} cores used by other "
                f"processes, limit {self.busy_cores}); these figures would not be this machine's. "
                "Stop the other jobs and run again, or pass --allow-busy to print them marked BUSY.",
                file=sys.stderr,
            )
            sys.exit(3)

    def heading(self, title: str) -> str:
        """``title``, marked when the machine was busy."""
        if not self.busy:
            return title
        return f"{title} [BUSY: other processes used {self.others_cores:.2f} cores]"
