"""``edgeres benchmark`` as one function: check the outputs, measure, write the files, compare.

Everything that can fail fast (the profile, an unwritable output, a missing matplotlib, a bad
baseline file) fails before minutes of measuring.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path

from edgeres.bench.baseline import Comparison, compare, load_baseline
from edgeres.bench.config import BenchConfig
from edgeres.bench.results import BenchmarkReport
from edgeres.bench.runner import Loader, run_benchmark
from edgeres.errors import UsageError
from edgeres.profiles import load_profile


@dataclass
class BenchmarkRun:
    """A finished benchmark: the report, the files written and the baseline comparison.

    Attributes:
        report: What was measured.
        written: Files written, in order.
        comparisons: One per paired metric when a baseline was given.
        unmatched: Results found in only one of the two runs.
        baseline: The baseline file, if any.
        tolerance: The tolerance the comparisons used, in percent.
    """

    report: BenchmarkReport
    written: list[Path] = field(default_factory=list)
    comparisons: list[Comparison] = field(default_factory=list)
    unmatched: list[str] = field(default_factory=list)
    baseline: Path | None = None
    tolerance: float = 10.0

    @property
    def regressions(self) -> list[Comparison]:
        return [c for c in self.comparisons if c.worse]

    @property
    def passed(self) -> bool:
        return not self.regressions

    def comparison_lines(self) -> list[str]:
        return [c.describe() for c in self.comparisons] + self.unmatched

    def gate_message(self) -> str:
        worse = self.regressions
        return (
            f"{len(worse)} regression(s) beyond {self.tolerance}% against '{self.baseline}': "
            + ("; ".join(c.describe() for c in worse))
        )


def benchmark(config: BenchConfig, loader: Loader | None = None) -> BenchmarkRun:
    """Measure ``config.models``, write the files ``config`` asks for and compare with its
    baseline; nothing is printed and a regression is ``passed == False``, not an exception."""
    config = dataclasses.replace(config, profile=load_profile(config.profile))
    config.check_outputs()
    if config.plot:
        from edgeres.bench.plot import require_pyplot

        require_pyplot()
    old = load_baseline(config.baseline) if config.baseline else None
    report = run_benchmark(config, loader)
    run = BenchmarkRun(
        report, write_outputs(report, config), [], [], config.baseline, config.tolerance
    )
    if old is not None:
        run.comparisons, run.unmatched = compare(old, report, config.tolerance)
    return run


def write_outputs(report: BenchmarkReport, config: BenchConfig) -> list[Path]:
    """Write the CSV, Markdown, JSON and plot files ``config`` names, each atomically."""
    try:
        _write_each(report, config)
    except OSError as e:
        raise UsageError(f"cannot write output '{e.filename}': {e.strerror}") from None
    return [p for p in (config.csv, config.md, config.save, config.plot) if p]


def _write_each(report: BenchmarkReport, config: BenchConfig) -> None:
    from edgeres.bench import report as rep
    from edgeres.fileio import atomic_write_text

    if config.csv:
        atomic_write_text(config.csv, rep.to_csv(report))
    if config.md:
        atomic_write_text(config.md, rep.to_markdown(report, config.command))
    if config.save:
        atomic_write_text(config.save, rep.to_json(report))
    if config.plot:
        from edgeres.bench.plot import save_plot

        save_plot(report, config.plot)
