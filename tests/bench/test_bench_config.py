"""``BenchConfig``: benchmark flags are checked before anything is measured, naming the flag."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from edgeres.bench.config import QUICK_BUDGET, BenchConfig
from edgeres.cli import main
from edgeres.errors import UsageError
from edgeres.profiles import Budget


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--tolerance", "-1"], "--tolerance must be >= 0"),
        (["--warmup", "-1"], "--warmup must be >= 0"),
        (["--min-time", "-0.5"], "--min-time must be >= 0"),
        (["--warmup-time", "-1"], "--warmup-time must be >= 0"),
        (["--pause", "-1"], "--pause must be >= 0"),
        (["--runs", "0"], "--runs must be >= 1"),
        (["--limit", "0"], "--limit must be >= 1"),
        (["--threads", "1,x"], "--threads takes N"),
        (["--threads", "1,,2"], "--threads takes N"),  # an empty entry was skipped
        (["--runs", "1000000000"], "--runs must be <= "),  # named min_runs (Budget's field)
        (["--min-time", "1e9"], "--min-time must be <= 3600"),
        (["--seed", "-1"], "--seed must be >= 0"),  # was numpy's "ValueError: expected ..."
    ],
)
def test_bad_flag_is_one_line_exit_2_before_any_file_is_read(tmp_path, args, message):
    # The model does not exist: the flag is refused first, without loading or measuring.
    res = CliRunner().invoke(main, ["benchmark", str(tmp_path / "absent.onnx"), *args])
    errors = [line for line in res.output.splitlines() if line.startswith("error: ")]
    assert res.exit_code == 2 and len(errors) == 1, res.output
    assert message in errors[0] and "Traceback" not in res.output


def test_budget_flags_override_quick_which_overrides_the_profile():
    base = Budget()
    assert BenchConfig(models=("m.onnx",)).budget_for(base) == base
    quick = BenchConfig(models=("m.onnx",), quick=True, runs=7, pause=0.25).budget_for(base)
    assert quick.min_runs == 7 and quick.pause_seconds == 0.25
    assert (
        quick.trials == QUICK_BUDGET["trials"] and quick.min_seconds == QUICK_BUDGET["min_seconds"]
    )


def test_threads_and_paths_are_normalised():
    cfg = BenchConfig(models=["a.onnx"], threads="2,1,2", csv="r.csv", plot="p.png")
    assert cfg.models == (Path("a.onnx"),) and cfg.threads == (2, 1)
    assert cfg.outputs == {"--csv": Path("r.csv"), "--plot": Path("p.png")}
    assert BenchConfig(models=("a.onnx",), threads=(4,)).threads == (4,)
    with pytest.raises(UsageError, match="at least one model"):
        BenchConfig(models=())
