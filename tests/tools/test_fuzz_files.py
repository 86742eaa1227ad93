"""tools/fuzz_files.py: outcomes are classified as the house rules define them, mutations change
every format, the worker runs under an address-space cap and is restarted after a hang, and a
short real run writes its table and keeps what it found."""

from __future__ import annotations

import csv
import os
import random
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

TOOLS = Path(__file__).resolve().parents[2] / "tools"
sys.path.insert(0, str(TOOLS))
from fuzz_mutate import mutate  # noqa: E402
from fuzz_runner import Worker  # noqa: E402
from fuzz_worker import classify  # noqa: E402

pytestmark = pytest.mark.skipif(sys.platform != "linux", reason="RLIMIT_AS and /proc")


def test_classify_follows_the_exit_code_contract():
    assert classify(0, "", "top-1 cat", None) == ("ok", "")
    assert classify(2, "error: bad file\n", "error: bad file\n", None) == (
        "clean",
        "error: bad file",
    )
    assert classify(2, "warn\nerror: a\nerror: b\n", "", None)[0] == "traceback"  # two lines
    assert classify(1, "error: x\n", "error: x\n", None)[0] == "traceback"  # no gate in predict
    assert classify(0, "", "Traceback (most recent call last):\n ...", None)[0] == "traceback"
    assert classify(1, "", "", "Traceback ...\nValueError: no")[0] == "traceback"
    assert classify(1, "", "", "Traceback ...\nMemoryError")[0] == "memory"
    assert classify(1, "", "", "RuntimeError: DefaultCPUAllocator: can't allocate memory")[0] == (
        "memory"
    )


def test_every_format_is_mutated_reproducibly(artifacts_dir, fp32_onnx, fp32_tflite):
    seeds = {"pt": artifacts_dir / "model.pt", "onnx": fp32_onnx, "tflite": fp32_tflite}
    for fmt, path in seeds.items():
        data = path.read_bytes()
        got = [mutate(fmt, data, random.Random(i)) for i in range(12)]
        assert all(new != data for new, _ in got), fmt
        assert got == [mutate(fmt, data, random.Random(i)) for i in range(12)]  # --seed repeats
        assert len({what.split(":")[0] for _, what in got}) > 1, fmt  # more than one kind


@pytest.mark.slow
def test_worker_is_capped_and_restarted_after_a_hang(tmp_path, fp32_onnx):
    inspect = ["inspect", str(fp32_onnx)]
    worker = Worker(tmp_path, mem_cap_mb=512, time_cap=0.001, warm=[])
    try:
        limits = Path(f"/proc/{worker.proc.pid}/limits").read_text()
        cap = next(line for line in limits.splitlines() if line.startswith("Max address space"))
        assert "unlimited" not in cap, cap  # RLIMIT_AS is set in the child
        assert worker.run(inspect)["outcome"] == "hang"  # no answer within the cap: killed
        worker.time_cap = 120
        assert worker.run(inspect)["outcome"] == "ok" and worker.restarts == 1
    finally:
        worker.close()
    assert worker.proc is None


@pytest.mark.slow
def test_short_fuzz_run_writes_its_table(tmp_path, artifacts_dir, fp32_onnx, fp32_tflite):
    import cv2
    import numpy as np

    seeds = tmp_path / "seeds"
    seeds.mkdir()
    for src in (artifacts_dir / "model.pt", fp32_onnx, fp32_tflite):
        shutil.copy2(src, seeds / f"model{src.suffix}")
    cv2.imwrite(str(seeds / "image.png"), np.full((32, 32, 3), 90, np.uint8))
    (seeds / "done").write_text("")
    out = tmp_path / "fuzz"
    cmd = [sys.executable, str(TOOLS / "fuzz_files.py"), "--count", "20", "--seed", "3",
           "--formats", "pt,onnx,tflite", "--seeds", str(seeds), "--out", str(out)]  # fmt: skip
    env = {**os.environ, "PYTHONPATH": str(TOOLS.parent)}
    res = subprocess.run(cmd, capture_output=True, text=True, timeout=300, env=env)
    assert res.returncode in (0, 1), res.stderr
    rows = list(csv.DictReader((out / "fuzz.csv").open()))
    assert len(rows) == 40 and {r["command"] for r in rows} == {"inspect", "predict"}
    assert {r["format"] for r in rows} == {"pt", "onnx", "tflite"}
    assert {r["outcome"] for r in rows} <= {"ok", "clean", "traceback", "hang", "memory", "crash"}
    assert "| onnx | predict |" in (out / "fuzz.md").read_text()
    bad = [r for r in rows if r["outcome"] not in ("ok", "clean")]
    assert (res.returncode == 1) == bool(bad)
    for r in bad:  # each kept for reproduction: the input and the message
        assert list((out / "findings").glob(f"{int(r['case']):05d}.*"))
        assert (out / "findings" / f"{int(r['case']):05d}-{r['command']}.txt").exists()
