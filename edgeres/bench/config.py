"""What ``edgeres benchmark`` measures and writes: one frozen dataclass, checked on creation.

Light (standard library only): the CLI reads each flag's default and help from ``BenchConfig``.
"""

from __future__ import annotations

import dataclasses
import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from edgeres.errors import SEED_MAX, UsageError, check_number
from edgeres.profiles.model import MAX_BUDGET_RUNS, MAX_BUDGET_SECONDS
from edgeres.text import shown

if TYPE_CHECKING:
    from edgeres.profiles import Budget

# --quick: enough runs to smoke-test the whole path, far too few to quote.
QUICK_BUDGET = {
    "warmup_runs": 3,
    "warmup_seconds": 0.0,
    "min_runs": 20,
    "min_seconds": 0.1,
    "trials": 2,
    "pause_seconds": 0.0,
}

# Budget field each flag overrides, and the smallest value it takes.
_BUDGET_FLAGS = {
    "runs": ("min_runs", 1),
    "warmup": ("warmup_runs", 0),
    "min_time": ("min_seconds", 0),
    "warmup_time": ("warmup_seconds", 0),
    "trials": ("trials", 1),
    "pause": ("pause_seconds", 0),
}
_OUTPUTS = ("csv", "md", "plot", "save")


@dataclass(frozen=True)
class BenchConfig:
    """What to benchmark, how long, and where the results go.

    From Python, ``profile`` may also be a loaded ``Profile``.

    Attributes:
        models: Model files, measured in this order (the first is the speed-up reference).
        profile: Device profile name or YAML path (``--profile``); by default this machine's.
        threads: Threads: N, or a list 1,2,4 to sweep (``--threads``); by default the
            profile's.
        engine: Run every file on this engine (``--engine``); by default the profile's order,
            the first one installed for each format.
        runs: Minimum measured runs per trial (``--runs``); by default the profile's budget.
        warmup: Minimum warm-up runs (``--warmup``).
        min_time: Minimum seconds per trial (``--min-time``).
        warmup_time: Minimum warm-up seconds (``--warmup-time``).
        trials: Number of trials (``--trials``).
        pause: Seconds of pause between trials (``--pause``).
        ops: Also profile each operator with the engine's own profiler: where the time goes,
            and which compute ops still run in float inside an INT8 file (``--ops``).
        quick: A tiny budget for smoke tests (2 trials of 20 runs); not for quoting (``--quick``).
        data: Also measure accuracy on shapes, DIR or cifar10:DIR (``--data``).
        limit: Evaluate at most N images of the data (``--limit``).
        by_index: Score data label i as output i whatever the class names (``--by-index``); by
            default classes are matched by name with each file's metadata.
        csv: Write one CSV row per result (``--csv``).
        md: Write a Markdown table (``--md``).
        plot: Write a PNG: distributions and p50/p90 bars (``--plot``).
        save: Write the JSON result to a file, a future baseline (``--save``).
        baseline: Compare with an earlier JSON result; exit 1 on regression (``--baseline``).
        tolerance: Allowed p50/accuracy worsening in percent (``--tolerance``).
        force: Replace existing output files (``--force``).
        in_process: Measure every file in this process; by default each file x threads runs in a
            fresh process so one engine's threads and memory do not bleed into the next
            (``--in-process``).
        quiet: No progress bars (``--json``).
        command: The command line quoted under the Markdown table.
        seed: Seed of the input tensor and of the data's order (``--seed``).
        extra_load_options: More keyword arguments for the loader.
    """

    models: tuple[Path, ...]
    profile: Any = None
    threads: tuple[int, ...] | str = ()
    engine: str | None = None
    runs: int | None = None
    warmup: int | None = None
    min_time: float | None = None
    warmup_time: float | None = None
    trials: int | None = None
    pause: float | None = None
    quick: bool = False
    ops: bool = False
    data: str | None = None
    limit: int | None = None
    by_index: bool = False
    csv: Path | None = None
    md: Path | None = None
    plot: Path | None = None
    save: Path | None = None
    baseline: Path | None = None
    tolerance: float = 10.0
    force: bool = False
    in_process: bool = False
    quiet: bool = False
    command: str = field(default="", compare=False)
    seed: int = 0
    extra_load_options: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        object.__setattr__(self, "models", tuple(Path(m) for m in self.models))
        if not self.models:
            raise UsageError("benchmark needs at least one model file")
        object.__setattr__(self, "threads", parse_threads(self.threads))
        for name, (key, low) in _BUDGET_FLAGS.items():
            # The Budget's own bounds, checked here so the error names this flag, not the field.
            high = (
                MAX_BUDGET_RUNS if key.endswith("runs") or key == "trials" else MAX_BUDGET_SECONDS
            )
            check_number(getattr(self, name), name, low, maximum=high)
        check_number(self.limit, "limit", 1)
        check_number(self.seed, "seed", 0, maximum=SEED_MAX)
        check_number(self.tolerance, "tolerance", 0)
        for name in (*_OUTPUTS, "baseline"):
            if getattr(self, name) is not None:
                object.__setattr__(self, name, Path(getattr(self, name)))

    def budget_for(self, base: Budget) -> Budget:
        """``base`` (the profile's budget) with ``quick`` and the budget flags applied."""
        values = {**dataclasses.asdict(base), **(QUICK_BUDGET if self.quick else {})}
        for name, (key, _) in _BUDGET_FLAGS.items():
            if getattr(self, name) is not None:
                values[key] = getattr(self, name)
        return dataclasses.replace(base, **values)

    @property
    def outputs(self) -> dict[str, Path]:
        """Flag -> file for each output asked for, in the order they are written."""
        return {f"--{n}": getattr(self, n) for n in _OUTPUTS if getattr(self, n) is not None}

    def check_outputs(self) -> None:
        """Refuse, before any measuring, an output that exists or cannot be written."""
        check_distinct_outputs(self.outputs)
        for flag, path in self.outputs.items():
            check_writable(path, flag, self.force)


def check_distinct_outputs(outputs: dict[str, Path]) -> None:
    """Refuse two output flags naming one file (``--csv X --md X``: one replaced the other)."""
    seen: dict[Path, str] = {}
    for flag, path in outputs.items():
        key = Path(os.path.realpath(path))
        if key in seen:
            raise UsageError(
                f"{seen[key]} and {flag} both name '{shown(path)}'; give each output its own file"
            )
        seen[key] = flag


def parse_threads(value: tuple[int, ...] | str | None) -> tuple[int, ...]:
    """``--threads 4`` or ``--threads 1,2,4`` (or a tuple of ints) as positive ints, no repeats."""
    if not value:
        return ()
    text = value if isinstance(value, str) else ",".join(map(str, value))
    try:
        values = tuple(dict.fromkeys(int(t) for t in text.split(",")))  # "1,,2": an int("")
    except ValueError:
        raise UsageError(f"--threads takes N or a list like 1,2,4, got '{text}'") from None
    if not values or any(v < 1 for v in values):
        raise UsageError(f"--threads values must be >= 1, got '{text}'")
    return values


def check_writable(path: Path, flag: str, force: bool) -> None:
    """Refuse an output that exists (without ``force``) or whose folder cannot be written."""
    from edgeres.fileio import check_overwrite

    check_overwrite(path, force)
    if path.is_dir():
        raise UsageError(f"{flag} '{shown(path)}' is a folder; give a file name")
    ancestor = path.parent.absolute()
    while not ancestor.exists():
        ancestor = ancestor.parent
    # os.access says yes to root everywhere (even /proc): create and delete a probe file instead.
    try:
        fd, probe = tempfile.mkstemp(prefix=".edgeres-probe-", dir=ancestor)
        os.close(fd)
        os.unlink(probe)
    except OSError as e:
        raise UsageError(
            f"cannot write {flag} '{shown(path)}': '{ancestor}' is not writable ({e.strerror}); "
            "choose another path"
        ) from None
