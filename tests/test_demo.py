"""``edgeres demo --quick`` end to end, as a user runs it: a subprocess, every stage's files.

The demo is the first command of the README and calls every other command's API function; this
test is what keeps a renamed argument or a changed result from breaking it unseen.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import cv2
import pytest

from edgeres.api.demo_path import QUICK_STREAM_FRAMES, demo_files
from edgeres.formats import read_metadata


@pytest.fixture(scope="module")
def demo_run(tmp_path_factory) -> tuple[Path, subprocess.CompletedProcess]:
    out = tmp_path_factory.mktemp("demo") / "out"
    env = {**os.environ, "EDGERES_QUIET": "1"}
    done = subprocess.run(
        [sys.executable, "-m", "edgeres", "demo", "--quick", "--out", str(out)],
        capture_output=True, text=True, timeout=600, env=env,
    )  # fmt: skip
    return out, done


@pytest.mark.slow
def test_demo_quick_runs_every_stage(demo_run):
    out, done = demo_run
    assert done.returncode == 0, done.stderr[-3000:]
    assert "Traceback" not in done.stderr
    for n in range(1, 8):
        assert f"[{n}/7]" in done.stderr
    files = demo_files(out)
    # train: the checkpoint and its records.
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["model"] == "resnet8" and 0 <= metrics["test_accuracy"] <= 1
    assert (out / "history.csv").read_text().count("\n") >= 3  # header + one row per epoch
    # convert and quantize: every file carries its spec and the ten shapes classes.
    for path in files[1:]:
        info = read_metadata(path)
        assert info is not None and len(info.classes) == 10, path
    report = json.loads((out / "model_int8_report.json").read_text())
    assert set(report["formats"]) == {p.suffix[1:] for p in files[1:]}
    # eval: one accuracy line per file on stdout.
    for path in files:
        assert f"{path}: top-1 " in done.stdout
    # benchmark: a row per file in the Markdown table, and a real PNG.
    table = (out / "benchmark.md").read_text()
    assert all(path.name in table for path in files)
    for png in ("benchmark.png", "curves.png"):
        assert (out / png).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    # run: the annotated video has the stream's frames.
    video = cv2.VideoCapture(str(out / "run_demo.mp4"))
    assert int(video.get(cv2.CAP_PROP_FRAME_COUNT)) == QUICK_STREAM_FRAMES
    video.release()
    assert "model_int8.tflite" in done.stdout  # the closing listing
