"""``--plot FILE.png``: latency distribution per model and p50 bars with p90 whiskers.

matplotlib is optional (the ``plot`` extra) and imported only here, with the Agg backend so a
headless device or CI can draw.
"""

from __future__ import annotations

from pathlib import Path

from edgeres.bench.results import BenchmarkReport
from edgeres.errors import missing_dependency
from edgeres.fileio import atomic_path
from edgeres.text import for_plot


def require_pyplot():
    """matplotlib's pyplot on the Agg backend, or a one-line error naming the extra to install."""
    try:
        import matplotlib
    except ImportError:
        raise missing_dependency("matplotlib", "plot", "--plot") from None
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def save_plot(report: BenchmarkReport, path: str | Path) -> Path:
    """Draw the two panels and write the PNG atomically."""
    plt = require_pyplot()
    results = report.results
    labels = [f"{for_plot(r.name)}\n{r.threads} thr" for r in results]
    fig, (dist, bars) = plt.subplots(1, 2, figsize=(max(8, 2.2 * len(results) + 4), 4.8))
    samples = [r.samples_ms or [r.latency.p50_ms] for r in results]
    dist.violinplot(samples, showmedians=True, showextrema=True)
    dist.set_xticks(range(1, len(results) + 1), labels, fontsize=7)
    dist.set_yscale("log")  # a few slow runs would otherwise flatten every distribution
    dist.set_ylabel("latency (ms, log scale)")
    dist.set_title("latency distribution (all runs)")
    p50 = [r.latency.p50_ms for r in results]
    up = [r.latency.p90_ms - r.latency.p50_ms for r in results]
    bars.bar(range(len(results)), p50, yerr=[[0] * len(results), up], capsize=4, color="#4c72b0")
    bars.set_xticks(range(len(results)), labels, fontsize=7)
    bars.set_ylabel("p50 latency (ms); whisker = p90")
    bars.set_title("p50 with p90 whiskers")
    fig.suptitle(for_plot(f"{report.profile}: {report.label}"), fontsize=9)
    fig.tight_layout()
    path = Path(path)
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=110, format="png")
    plt.close(fig)
    return path
