"""edgeres tune on the suite's real files: every engine in a fresh process, a ranked table, one
recommendation, a saved profile that the other commands then use, and its bad inputs."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

from edgeres.cli import main
from edgeres.profiles import load_profile
from edgeres.tune.report import recommend
from edgeres.tune.sweep import Row, TuneConfig, TuneResult, collect_files, plan

FAST = ["--min-time", "0.02", "--trials", "1", "--threads", "1"]


def _invoke(*args: str):
    return CliRunner().invoke(main, [str(a) for a in args])


@pytest.fixture(scope="module")
def run_folder(tmp_path_factory, fp32_onnx, int8_onnx, fp32_tflite, int8_tflite):
    folder = tmp_path_factory.mktemp("tune_run")
    for f in (fp32_onnx, int8_onnx, fp32_tflite, int8_tflite):
        shutil.copy2(f, folder / f.name)
    return folder


@pytest.fixture(scope="module")
def tuned(run_folder, tmp_path_factory):
    out = tmp_path_factory.mktemp("tune_out")
    res = _invoke(
        "tune", run_folder, *FAST, "--data", "shapes", "--limit", "32",
        "--save", out / "tuned.yaml", "--md", out / "tune.md", "--json",
    )  # fmt: skip
    assert res.exit_code == 0, res.output
    return json.loads(res.stdout), out


def test_every_installed_engine_and_file_gets_a_row(tuned, run_folder):
    doc, _ = tuned
    pairs = {(r["file"].rsplit("/", 1)[-1], r["engine"]) for r in doc["rows"]}
    assert ("model.onnx", "onnxruntime") in pairs and ("model_int8.tflite", "litert") in pairs
    pytest.importorskip("openvino")
    assert ("model_int8.onnx", "openvino") in pairs
    p50 = [r["result"]["latency"]["p50_ms"] for r in doc["rows"] if r["result"]]
    assert p50 == sorted(p50)  # ranked fastest first
    assert all(r["result"]["accuracy"] is not None for r in doc["rows"] if r["result"])


def test_the_recommendation_names_the_fastest_row(tuned):
    doc, _ = tuned
    # The fastest row within --max-drop of the best FP32 accuracy: on this barely trained
    # network an INT8 file may score a few of the 32 images lower and be left out.
    measured = [r for r in doc["rows"] if r["result"]]
    fp32 = max(r["result"]["accuracy"] for r in measured if r["result"]["precision"] == "fp32")
    floor = fp32 - doc["max_drop"] / 100 - 1e-9
    best = next(r for r in measured if r["result"]["accuracy"] >= floor)
    assert doc["best"] == best
    name = best["file"].rsplit("/", 1)[-1]
    assert doc["recommendation"].startswith(f"use {name} on {best['engine']} with 1 thread")
    # Whether INT8 pays: the fastest INT8 row against the fastest FP32 row, as measured.
    rows = [r for r in doc["rows"] if r["result"]]
    i8 = next(r for r in rows if r["result"]["precision"] == "int8")
    f32 = next(r for r in rows if r["result"]["precision"] == "fp32")
    a, b = i8["result"]["latency"]["p50_ms"], f32["result"]["latency"]["p50_ms"]
    clause = (
        f"; INT8 is {b / a:.2f}x faster than FP32 here"
        if b >= a
        else f"; INT8 is slower than FP32 on this CPU ({a:.4g} vs {b:.4g} ms); "
        f"use {f32['file'].rsplit('/', 1)[-1]}"
    )
    assert doc["recommendation"].endswith(clause), (doc["recommendation"], clause)


def test_saved_profile_round_trips_and_steers_the_engine(tuned, fp32_onnx, tmp_path):
    import cv2
    import numpy as np

    image = tmp_path / "frame.png"
    cv2.imwrite(str(image), np.full((40, 40, 3), 90, np.uint8))
    doc, out = tuned
    data = yaml.safe_load((out / "tuned.yaml").read_text())
    profile = load_profile(out / "tuned.yaml")
    assert profile.threads == 1 and profile.name.endswith("-tuned")
    assert data["preferred_format"] == doc["best"]["format"]
    onnx_order = profile.engine_order("onnx")
    res = _invoke("predict", fp32_onnx, image, "--profile", out / "tuned.yaml", "--json")
    assert res.exit_code == 0, res.output
    assert json.loads(res.stdout)["engine"] == onnx_order[0]
    assert "Recommendation" in (out / "tune.md").read_text()


def test_a_file_one_engine_rejects_fails_its_row_and_the_sweep_goes_on(run_folder, tmp_path):
    folder = tmp_path / "run"
    shutil.copytree(run_folder, folder)
    (folder / "broken.onnx").write_bytes(b"\x08\x07" + b"\x00" * 64)
    res = _invoke("tune", folder, *FAST, "--engines", "onnxruntime", "--json")
    assert res.exit_code == 0, res.output
    rows = json.loads(res.stdout)["rows"]
    broken = [r for r in rows if r["file"].endswith("broken.onnx")]
    assert broken and all(r["error"] and "not a valid ONNX file" in r["error"] for r in broken)
    assert any(r["result"] for r in rows)


def test_plan_caps_threads_and_skips_missing_engines(run_folder):
    files, checkpoints = collect_files((run_folder,))
    assert not checkpoints and len(files) == 4
    rows, notes = plan(files, TuneConfig((run_folder,), threads="1,64"))
    assert {r.threads for r in rows} <= {1, 2, 64} and any("capped" in n for n in notes)


def test_int8_slower_than_fp32_is_said_plainly(tmp_path):
    from edgeres.bench.results import ModelResult
    from edgeres.bench.stats import summarize_ns

    def row(name, precision, ms):
        r = ModelResult(
            model=name, name=name, format="tflite", precision=precision, threads=1,
            providers=[], file_size_bytes=1, macs=None, macs_source="", load_ms=1, first_ms=1,
            latency=summarize_ns([int(ms * 1e6)] * 5), trial_p50_ms=[ms], warmup_runs=1,
            peak_rss_mb=None, rss_before_mb=None, memory_method="",
        )  # fmt: skip
        return Row(tmp_path / name, "tflite", "litert", 1, r)

    result = TuneResult(
        [row("model.tflite", "fp32", 1.0), row("model_int8.tflite", "int8", 1.5)],
        load_profile("host"), 1.0, None,
    )  # fmt: skip
    rec = recommend(result)
    assert rec.best.file.name == "model.tflite"
    assert "INT8 is slower than FP32 on this CPU" in rec.sentence()


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["--engines", "openvno"], "did you mean openvino"),
        (["--max-drop", "0.5"], "--max-drop needs data to score"),
        (["--data", "shapes", "--max-drop", "nan"], "--max-drop"),
        (["--threads", "0"], "--threads"),
        (["--trials", "0"], "--trials"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(run_folder, args, needle):
    res = _invoke("tune", run_folder, *args)
    assert res.exit_code == 2, res.output
    assert res.output.startswith("error: ") and needle in res.output
    assert "Traceback" not in res.output


def test_a_missing_target_is_refused(tmp_path):
    res = _invoke("tune", tmp_path / "nope")
    assert res.exit_code == 2 and "neither a run folder nor a model file" in res.output


@pytest.mark.slow
def test_a_run_folder_with_only_a_checkpoint_gets_its_files_made_first(tiny_ckpt, tmp_path):
    folder = tmp_path / "run"
    folder.mkdir()
    shutil.copy2(tiny_ckpt, folder / "model.pt")
    res = _invoke(
        "tune", folder, *FAST, "--engines", "onnxruntime,litert", "--calib", "shapes", "--json"
    )
    assert res.exit_code == 0, res.output
    made = {"model.onnx", "model.tflite", "model_int8.onnx", "model_int8.tflite"}
    assert made <= {p.name for p in folder.iterdir()}
    rows = json.loads(res.stdout)["rows"]
    assert {r["file"].rsplit("/", 1)[-1] for r in rows} == made  # the checkpoint is the source


def test_a_run_folder_resume_checkpoint_is_not_swept(tmp_path):
    for name in ("model.pt", "last.pt"):
        (tmp_path / name).write_bytes(b"PK\x03\x04")
    files, checkpoints = collect_files((tmp_path,))
    assert [p.name for p in checkpoints] == ["model.pt"] and files == []
    files, checkpoints = collect_files((tmp_path / "last.pt",))  # named explicitly: taken
    assert [p.name for p in files] == ["last.pt"]


def _children(pid: int) -> list[int]:
    out = []
    for child in filter(str.isdigit, os.listdir("/proc")):
        try:
            stat = Path(f"/proc/{child}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(stat[1]) == pid and stat[0] != "Z":
            out.append(int(child))
    return out


def test_sigterm_stops_the_worker_too(fp32_onnx, tmp_path):
    """SIGTERM to edgeres alone (a service manager, ``kill``) ends the row's worker with it."""
    env = {**os.environ, "EDGERES_QUIET": "1", "PYTHONPATH": str(Path(__file__).parents[2])}
    cmd = [sys.executable, "-m", "edgeres", "tune", str(fp32_onnx), "--min-time", "120"]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
    try:
        deadline = time.monotonic() + 120
        while not (workers := _children(proc.pid)):
            assert proc.poll() is None and time.monotonic() < deadline, proc.stderr.read()
            time.sleep(0.2)
        time.sleep(1)  # the worker is measuring now
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=30) == 143
    finally:
        proc.kill()
    time.sleep(0.5)
    for w in workers:
        try:
            state = Path(f"/proc/{w}/stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:
            continue  # gone
        assert state == "Z", f"worker {w} still runs ({state})"


def test_empty_or_mislabelled_files_fail_their_row_and_plot_escapes_names(
    fp32_onnx, fp32_tflite, tmp_path
):
    folder = tmp_path / "run"
    folder.mkdir()
    shutil.copy2(fp32_onnx, folder / "$\\undefinedcmd$.onnx")  # mathtext if drawn raw
    (folder / "empty.tflite").write_bytes(b"")
    shutil.copy2(fp32_tflite, folder / "really_tflite.onnx")
    png = tmp_path / "t.png"
    res = _invoke("tune", folder, *FAST, "--engines", "onnxruntime", "--plot", png, "--json")
    assert res.exit_code == 0, res.output
    rows = {r["file"].rsplit("/", 1)[-1]: r for r in json.loads(res.stdout)["rows"]}
    assert "is empty" in rows["empty.tflite"]["error"]
    assert "looks like tflite" in rows["really_tflite.onnx"]["error"]
    assert rows["$\\undefinedcmd$.onnx"]["result"] and png.read_bytes()[:4] == b"\x89PNG"
