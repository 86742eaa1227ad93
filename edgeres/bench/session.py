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
from edgeres.errors import EdgeresError, UsageError
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
        failed: Outputs that could not be written after measuring, each with the reason; the
            report is still complete (the CLI prints it, then fails naming these paths).
    """

    report: BenchmarkReport
    written: list[Path] = field(default_factory=list)
    comparisons: list[Comparison] = field(default_factory=list)
    unmatched: list[str] = field(default_factory=list)
    baseline: Path | None = None
    tolerance: float = 10.0
    failed: list[tuple[Path, str]] = field(default_factory=list)

    def write_error(self) -> UsageError | None:
        """The one-line error naming every output that could not be written, or None."""
        if not self.failed:
            return None
        what = "; ".join(f"'{p}': {why}" for p, why in self.failed)
        return UsageError(f"measured, but could not write {what} (the results are printed above)")

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
    written, failed = write_outputs(report, config)
    run = BenchmarkRun(report, written, [], [], config.baseline, config.tolerance, failed)
    if old is not None:
        run.comparisons, run.unmatched = compare(old, report, config.tolerance)
    return run


def write_outputs(
    report: BenchmarkReport, config: BenchConfig
) -> tuple[list[Path], list[tuple[Path, str]]]:
    """Write the CSV, Markdown, JSON and plot files ``config`` names, each atomically.

    Returns:
        ``(written, failed)``: a failed write (a full disk after the writability check) does not
        stop the others; each failure is the path and a short reason.
    """
    from edgeres.bench import report as rep
    from edgeres.fileio import atomic_write_text, is_disk_full

    writers = [
        (config.csv, lambda p: atomic_write_text(p, rep.to_csv(report))),
        (config.md, lambda p: atomic_write_text(p, rep.to_markdown(report, config.command))),
        (config.save, lambda p: atomic_write_text(p, rep.to_json(report))),
        (config.plot, lambda p: _save_plot(report, p)),
    ]
    written, failed = [], []
    for path, write in writers:
        if not path:
            continue
        try:
            write(path)
            written.append(Path(path))
        except (OSError, EdgeresError) as e:
            if is_disk_full(e):
                reason = "no space left on the device"
            else:
                reason = (e.strerror if isinstance(e, OSError) else None) or str(e)
            failed.append((Path(path), reason))
    return written, failed


def _save_plot(report: BenchmarkReport, path: Path) -> None:
    from edgeres.bench.plot import save_plot

    save_plot(report, path)
