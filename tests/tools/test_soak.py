"""tools/soak.py: its targets catch growth, and a short real soak of `run --serve` passes them
(clients connect and drop, the source vanishes and returns, everything it started is gone)."""

from __future__ import annotations

import csv
import os
import subprocess
import sys
from pathlib import Path

import pytest

TOOLS = Path(__file__).resolve().parents[2] / "tools"
sys.path.insert(0, str(TOOLS))
from soak import judge, mark_settling, parse_summary  # noqa: E402

pytestmark = pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="needs /proc")


def _rows(n: int, rss=lambda i: 100.0, fds=lambda i: 20, threads=lambda i: 8, fps=lambda i: 15.0):
    return [{"t_s": 5.0 * (i + 1), "rss_mb": rss(i), "fds": fds(i), "threads": threads(i),
             "fps_now": fps(i), "source_away": 0} for i in range(n)]  # fmt: skip


def _verdict(rows) -> dict[str, bool]:
    mark_settling(rows, 5.0, 15.0)
    return {c["metric"]: c["ok"] for c in judge(rows, 10.0, 0.2)}


def test_flat_run_meets_every_target_and_growth_or_a_slowdown_misses_one():
    assert all(_verdict(_rows(120)).values())
    leaky = _verdict(_rows(120, rss=lambda i: 100 + i * 0.1))  # +12% over ten minutes
    assert leaky == {"RSS MB": False, "open descriptors": True, "threads": True,
                     "FPS (source present)": True}  # fmt: skip
    assert not _verdict(_rows(120, fds=lambda i: 20 + i // 10))["open descriptors"]
    assert not _verdict(_rows(120, threads=lambda i: 8 + i // 60))["threads"]
    assert not _verdict(_rows(120, fps=lambda i: 15.0 if i < 60 else 9.0))["FPS (source present)"]


def test_fps_while_the_source_is_away_and_settling_is_not_judged():
    # In the last window the source leaves every fifth sample and the page's FPS reads 0 on
    # the sample after its return (its rate still spans the gap): not a slowdown of the run.
    rows = _rows(120, fps=lambda i: 0.0 if i >= 100 and i % 5 in (0, 1) else 15.0)
    for i, row in enumerate(rows):
        row["source_away"] = int(i >= 100 and i % 5 == 0)
    assert _verdict(rows)["FPS (source present)"]


def test_summary_of_the_run_is_parsed():
    text = "674 frames in 60.24 s = 11.2 FPS (source url)\ndropped 3 frames, 2 reconnects (15.59 s"
    got = parse_summary(text)
    assert got == {"frames": 674, "seconds": 60.24, "fps": 11.2, "dropped": 3, "reconnects": 2,
                   "gap_s": 15.59}  # fmt: skip


@pytest.mark.slow
def test_short_soak_runs_clients_and_vanishing_source_and_leaves_nothing(tmp_path, fp32_onnx):
    out = tmp_path / "soak"
    cmd = [sys.executable, str(TOOLS / "soak.py"), "--minutes", "0.4", "--every", "1",
           "--vanish-every", "7", "--vanish-for", "3", "--model", str(fp32_onnx), "--out", str(out)]  # fmt: skip
    env = {**os.environ, "PYTHONPATH": str(TOOLS.parent)}
    res = subprocess.run(cmd, capture_output=True, text=True, timeout=180, env=env)
    assert res.returncode in (0, 1), res.stderr  # 1: a target missed on a loaded machine
    rows = list(csv.DictReader((out / "soak.csv").open()))
    assert len(rows) >= 15 and any(r["source_away"] == "1" for r in rows)
    assert int(rows[-1]["client_cycles"]) >= 10 and int(rows[-1]["frames"]) > 0
    report = (out / "soak.md").read_text()
    assert "| RSS MB |" in report and "reconnects" in report and (out / "soak.png").stat().st_size
    summary = parse_summary((out / "run.log").read_text())
    assert summary["reconnects"] >= 1 and summary["frames"] > 0  # it lost the source and came back
    children = subprocess.run(["pgrep", "-f", str(fp32_onnx)], capture_output=True, text=True)
    assert children.stdout.strip() == ""  # the run it started is gone
