"""``edgeres tune``: which file, engine and thread count is fastest here, and is INT8 worth it.

Every deployable file of a run folder (the checkpoint's FP32 and INT8 exports, made first when
missing) is measured on every installed engine that runs its format, at every thread count from 1
to the cores, each row in a fresh process with the benchmark's method; with data, each file x
engine is also scored. The rows are ranked by p50 and the fastest one within ``max_drop`` points
of the best FP32 accuracy is recommended (``tune.report`` words it, draws it and saves it as a
device profile).
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from edgeres.bench.config import check_distinct_outputs, check_writable, parse_threads
from edgeres.bench.jobs import Job, RowFailed, run_isolated
from edgeres.bench.results import ModelResult
from edgeres.bench.runner import profile_ref
from edgeres.errors import ModelFileError, ParamError, UsageError, unknown_name
from edgeres.formats import FORMATS, Format, engine_names, export_formats, format_for_path
from edgeres.formats.pytorch import RESUME_CHECKPOINT
from edgeres.profiles import Budget, Profile, load_profile
from edgeres.profiles.facts import this_machine
from edgeres.progress import progress

# Short trials: a sweep of the resnet8 files takes a minute or two; --min-time/--trials for more.
TUNE_BUDGET = Budget(
    warmup_runs=5, warmup_seconds=0.2, min_runs=30, min_seconds=0.4, trials=3, pause_seconds=0.1
)
DEFAULT_MAX_DROP = 1.0
# What starting a worker costs (interpreter, numpy, the engine's import), for the time estimate.
PROCESS_START_S = 2.5


@dataclass(frozen=True)
class TuneConfig:
    """What ``edgeres tune`` sweeps and where it writes.

    Attributes:
        targets: Run folders or model files; a folder's checkpoint gets its missing FP32 and
            INT8 files made first.
        data: Also score every file x engine on shapes, DIR or cifar10:DIR (``--data``).
        limit: Score at most N images of the data (``--limit``).
        max_drop: Recommend only files within this many top-1 points of the best FP32 file
            (``--max-drop``); needs --data; by default 1 point.
        threads: Thread counts to try, e.g. 1,2 (``--threads``); by default 1 up to the cores.
        engines: Engines to try, comma-separated (``--engines``); by default every installed one.
        calib: Calibration images for INT8 files tune makes (``--calib``); by default the
            shipped calibration_data/.
        min_time: Minimum seconds per trial (``--min-time``); by default 0.4.
        trials: Trials per row (``--trials``); by default 3.
        profile: Device profile to start from (``--profile``); by default this machine's.
        save: Write a device profile with the winning engine order and threads (``--save``).
        plot: Write a PNG of every row's p50 (``--plot``).
        md: Write the ranked table as Markdown (``--md``).
        force: Replace existing output files (``--force``).
        quiet: No progress bars (``--json``).
    """

    targets: tuple[Path, ...]
    data: str | None = None
    limit: int | None = 1000
    max_drop: float | None = None
    threads: tuple[int, ...] | str = ()
    engines: tuple[str, ...] | str = ()
    calib: str | None = None
    min_time: float | None = None
    trials: int | None = None
    profile: Any = None
    save: Path | None = None
    plot: Path | None = None
    md: Path | None = None
    force: bool = False
    quiet: bool = False

    def __post_init__(self) -> None:
        object.__setattr__(self, "targets", tuple(Path(t) for t in self.targets))
        if not self.targets:
            raise UsageError("tune needs a run folder or model files")
        object.__setattr__(self, "threads", parse_threads(self.threads))
        engines = self.engines or ()
        engines = engines.split(",") if isinstance(engines, str) else engines
        object.__setattr__(self, "engines", tuple(e.strip() for e in engines if e.strip()))
        if self.max_drop is not None:
            if self.data is None:
                raise ParamError(
                    "max_drop", "needs data to score: without it tune cannot see accuracy"
                )
            if not math.isfinite(self.max_drop) or not 0 <= self.max_drop <= 100:
                raise ParamError("max_drop", f"must be 0 to 100 points, got {self.max_drop}")
        if self.limit is not None and self.limit < 1:
            raise ParamError("limit", f"must be >= 1, got {self.limit}")
        if self.min_time is not None and not self.min_time > 0:
            raise ParamError("min_time", f"must be > 0 seconds, got {self.min_time}")
        if self.trials is not None and self.trials < 1:
            raise ParamError("trials", f"must be >= 1, got {self.trials}")
        for name in ("save", "plot", "md"):
            if getattr(self, name) is not None:
                object.__setattr__(self, name, Path(getattr(self, name)))

    def budget(self) -> Budget:
        changes = {"min_seconds": self.min_time, "trials": self.trials}
        return dataclasses.replace(TUNE_BUDGET, **{k: v for k, v in changes.items() if v})


@dataclass
class Row:
    """One measured (or failed) file x engine x threads."""

    file: Path
    format: str
    engine: str
    threads: int
    result: ModelResult | None = None
    error: str | None = None

    @property
    def p50_ms(self) -> float | None:
        return self.result.latency.p50_ms if self.result else None

    @property
    def precision(self) -> str:
        return self.result.precision if self.result else ""

    @property
    def accuracy(self) -> float | None:
        return self.result.accuracy if self.result else None

    def label(self) -> str:
        return f"{self.file.name} on {self.engine}, {self.threads} thr"


@dataclass
class TuneResult:
    """Every row, ranked fastest first (failed rows last), and what the sweep was."""

    rows: list[Row]
    profile: Profile
    max_drop: float
    data: str | None
    notes: list[str] = field(default_factory=list)

    @property
    def measured(self) -> list[Row]:
        return [r for r in self.rows if r.result is not None]

    def eligible(self) -> list[Row]:
        """Measured rows within ``max_drop`` of the best FP32 accuracy (all of them without data)."""
        rows = self.measured
        fp32 = [r.accuracy for r in rows if r.precision == "fp32" and r.accuracy is not None]
        if self.data is None or not fp32:
            return rows
        floor = max(fp32) - self.max_drop / 100
        return [r for r in rows if r.accuracy is not None and r.accuracy >= floor - 1e-9]


def collect_files(targets: tuple[Path, ...]) -> tuple[list[Path], list[Path]]:
    """The deployable files to sweep and the checkpoints among the targets.

    A folder contributes its files of every exportable format and its ``.pt`` checkpoints, not
    the resume checkpoint ``last.pt``; a file is taken as given (a checkpoint named explicitly
    is measured too).
    """
    deployable = {s for n in export_formats() for s in FORMATS[n].suffixes}
    files, checkpoints = [], []
    for t in targets:
        if t.is_dir():
            found = sorted(p for p in t.iterdir() if p.is_file() and p.name != RESUME_CHECKPOINT)
            files += [p for p in found if p.suffix.lower() in deployable]
            checkpoints += [p for p in found if _is_source(p)]
        elif t.is_file():
            files.append(t)
        else:
            raise UsageError(f"'{t}' is neither a run folder nor a model file")
    return list(dict.fromkeys(files)), checkpoints


def _is_source(path: Path) -> bool:
    """A file of a format the others are exported from (an edgeres checkpoint)."""
    suffix = path.suffix.lower()
    return any(suffix in f.suffixes for f in FORMATS.values() if f.quant_source and not f.exporter)


def plan(files: list[Path], config: TuneConfig) -> tuple[list[Row], list[str]]:
    """Rows to measure (file x installed engine x threads) and notes on what was left out."""
    cores = this_machine().cores
    threads = config.threads or tuple(range(1, cores + 1))
    notes = []
    if any(t > cores for t in threads):
        notes.append(f"threads above the {cores} cores here share cores; capped at {cores}")
        threads = tuple(dict.fromkeys(min(t, cores) for t in threads))
    rows = []
    for path in files:
        try:
            fmt = format_for_path(path)
        except ModelFileError as e:  # an empty or mislabelled file is one failed row
            rows.append(Row(path, path.suffix.lstrip(".").lower(), "-", 0, error=str(e)))
            continue
        for engine in _engines(fmt, config.engines, notes):
            rows += [Row(path, fmt.name, engine, t) for t in threads]
    return rows, list(dict.fromkeys(notes))


def _engines(fmt: Format, asked: tuple[str, ...], notes: list[str]) -> list[str]:
    for name in asked:
        if name not in engine_names():
            raise unknown_name("engine", name, engine_names())
    chosen = [e for e in fmt.engines if not asked or e.name in asked]
    for e in chosen:
        if asked and not e.available:  # only what was asked for by name is worth a note
            notes.append(f"engine {e.name} is not installed: {e.install}")
    return [e.name for e in chosen if e.available]


def estimate_seconds(rows: list[Row], budget: Budget, data: str | None) -> float:
    """How long the sweep should take here (process starts, warm-up and trials), before it runs."""
    per_row = PROCESS_START_S + budget.warmup_seconds
    per_row += budget.trials * (budget.min_seconds + budget.pause_seconds)
    scored = len({(r.file, r.engine) for r in rows}) if data else 0
    return len(rows) * per_row + scored * 3.0


def sweep(rows: list[Row], config: TuneConfig, profile: Profile) -> list[Row]:
    """Measure each row in a fresh process; a row that fails keeps its reason and the sweep goes on."""
    budget = {f.name: getattr(config.budget(), f.name) for f in dataclasses.fields(Budget)}
    scored: set[tuple[Path, str]] = set()
    ref = profile_ref(profile) or "host"
    for row in progress(rows, quiet=config.quiet, desc="tune", unit="row"):
        if row.error is not None:  # refused before measuring (plan)
            continue
        first = (row.file, row.engine) not in scored
        scored.add((row.file, row.engine))
        job = Job(
            model=str(row.file),
            threads=row.threads,
            profile=ref,
            budget=budget,
            engine=row.engine,
            data=config.data if first else None,
            limit=config.limit,
        )
        try:
            row.result = ModelResult.from_dict(run_isolated(job))
        except RowFailed as e:
            row.error = str(e)
    _share_accuracy(rows)
    return rows


def _share_accuracy(rows: list[Row]) -> None:
    """Accuracy does not depend on the thread count: give every row of a file x engine its score."""
    by_pair = {
        (r.file, r.engine): r.result for r in rows if r.result and r.result.accuracy is not None
    }
    for r in rows:
        src = by_pair.get((r.file, r.engine))
        if r.result is not None and src is not None and r.result.accuracy is None:
            r.result.accuracy, r.result.accuracy_n = src.accuracy, src.accuracy_n


def rank(rows: list[Row]) -> list[Row]:
    return sorted(rows, key=lambda r: (r.p50_ms is None, r.p50_ms or 0.0))


def check_outputs(config: TuneConfig) -> None:
    """Refuse, before any work, an output that exists or cannot be written."""
    outputs = {"--save": config.save, "--plot": config.plot, "--md": config.md}
    check_distinct_outputs({flag: path for flag, path in outputs.items() if path is not None})
    for path, flag in ((config.save, "--save"), (config.plot, "--plot"), (config.md, "--md")):
        if path is not None:
            check_writable(path, flag, config.force)


def tune(config: TuneConfig, files: list[Path], notes: list[str] | None = None) -> TuneResult:
    """Plan, measure and rank ``files``; nothing is printed or written here.

    ``files`` are what ``collect_files`` found plus what the caller made from the checkpoints
    (making files needs convert and quantize, which sit above this room).
    """
    check_outputs(config)
    profile = load_profile(config.profile)
    if not files:
        raise UsageError(
            f"no model files in {', '.join(map(str, config.targets))} "
            f"(looked for {', '.join(export_formats())} files and .pt checkpoints)"
        )
    rows, plan_notes = plan(files, config)
    if not rows:
        raise UsageError("no installed engine can run these files; see edgeres doctor")
    drop = DEFAULT_MAX_DROP if config.max_drop is None else config.max_drop
    result = TuneResult([], profile, drop, config.data, [*(notes or []), *plan_notes])
    result.rows = rank(sweep(rows, config, profile))
    # What loading assumed (a file without metadata: its size, layout, scaling, classes) is
    # said once per file, as benchmark says it; the rows ran in other processes.
    for row in result.measured:
        result.notes += [w for w in row.result.load_warnings if w not in result.notes]
    return result
