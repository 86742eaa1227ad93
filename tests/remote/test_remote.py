"""``--remote`` against a real sshd on 127.0.0.1 (tests/remote/conftest.py): the device side is
the torch-free device venv, reached through the system's ssh client. Every fault is one
``error:`` line and exit 2; nothing partial is saved."""

from __future__ import annotations

import json
import os
import signal
import threading
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

pytestmark = [pytest.mark.venv, pytest.mark.slow]


def _fails(proc, *needles: str) -> str:
    """Exit 2, one ``error:`` line naming ``needles``, no traceback; returns that line."""
    assert proc.returncode == 2, (proc.returncode, proc.stdout, proc.stderr)
    errors = [line for line in proc.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and "Traceback" not in proc.stderr, proc.stderr
    for needle in needles:
        assert needle in errors[0], errors[0]
    return errors[0]


def test_benchmark_single_host(edgeres_remote, int8_tflite, fp32_onnx, tmp_path):
    save = tmp_path / "pi.json"
    args = ("benchmark", int8_tflite, fp32_onnx, "--quick", "--remote", "dev-a", "--save", save)
    proc = edgeres_remote(*args)
    assert proc.returncode == 0, proc.stderr
    assert "dev-a: measured on" in proc.stdout
    rows = [line for line in proc.stdout.splitlines() if line.startswith("dev-a  ")]
    assert len(rows) == 2, proc.stdout  # one row per file on the device
    saved = json.loads(save.read_text())
    assert saved["label"].startswith("measured on") and "dev-a" in saved["label"]
    assert [r["model"] for r in saved["results"]] == [str(int8_tflite), str(fp32_onnx)]
    assert saved["environment"]["libraries"]["onnxruntime"]  # the device's own environment
    assert "copied model_int8.tflite to dev-a" in proc.stderr


def test_fleet_with_a_host_down(edgeres_remote, int8_tflite, tmp_path):
    save = tmp_path / "b.json"
    hosts = "dev-a,dev-b,dev-down"
    proc = edgeres_remote("benchmark", int8_tflite, "--quick", "--remote", hosts, "--save", save)
    _fails(proc, "1 of 3 devices failed", "dev-down", "Connection refused")
    table = proc.stdout.splitlines()
    for host in ("dev-a", "dev-b"):
        assert any(line.startswith(f"{host} ") and "model_int8.tflite" in line for line in table)
        assert json.loads((tmp_path / f"b-{host}.json").read_text())["results"]
    assert any(line.startswith("dev-down") and "FAILED: cannot reach" in line for line in table)
    assert not (tmp_path / "b-dev-down.json").exists()  # nothing partial is saved
    # --baseline per device: each is compared with its own earlier run.
    proc = edgeres_remote(
        *("benchmark", int8_tflite, "--quick", "--remote", "dev-a,dev-b"),
        *("--baseline", save, "--tolerance", "100000"),
    )
    assert proc.returncode == 0, proc.stderr
    assert "dev-a: model_int8.tflite" in proc.stderr and "dev-b: model_int8.tflite" in proc.stderr


def _image_folder(folder: Path) -> Path:
    """60 shapes images as DIR/<class>/<n>.png (a share of each class is the test split)."""
    import cv2

    from edgeres.data.shapes import CLASSES, generate

    images, labels = generate(60, 32, split="test", seed=1)
    for i, (image, label) in enumerate(zip(images, labels, strict=True)):
        (folder / CLASSES[label]).mkdir(parents=True, exist_ok=True)
        cv2.imwrite(str(folder / CLASSES[label] / f"{i}.png"), image)
    return folder


def test_eval_and_predict_json_with_the_cache(edgeres_remote, fp32_onnx, sample_images, tmp_path):
    data = _image_folder(tmp_path / "val")
    args = ("eval", fp32_onnx, "--data", data, "--remote", "dev-a,dev-down", "--json")
    proc = edgeres_remote(*args)
    _fails(proc, "dev-down")
    doc = {e["host"]: e for e in json.loads(proc.stdout)["remote"]}
    total = doc["dev-a"]["result"]["total"]
    assert total > 0 and doc["dev-a"]["edgeres"]
    assert "cannot reach" in doc["dev-down"]["error"] and doc["dev-down"]["result"] is None
    assert "[dev-a] copied model.onnx" in proc.stderr and "copied data val" in proc.stderr
    again = edgeres_remote(*args[:-2], "dev-a", "--json")
    assert json.loads(again.stdout)["remote"][0]["result"]["total"] == total, again.stderr
    assert "model.onnx already on dev-a" in again.stderr and "data val already" in again.stderr
    assert "copied" not in again.stderr  # the cache skipped both copies
    proc = edgeres_remote("predict", fp32_onnx, *sample_images, "--remote", "dev-a", "--json")
    (entry,) = json.loads(proc.stdout)["remote"]
    assert [r["image"] for r in entry["result"]["results"]] == [str(p) for p in sample_images]


def test_devices_and_doctor(edgeres_remote):
    proc = edgeres_remote("devices", "--remote", "dev-a")
    assert proc.returncode == 0, proc.stderr
    assert "raspberry-pi-5" in proc.stdout and proc.stdout.count("dev-a") >= 6
    proc = edgeres_remote("doctor", "--remote", "dev-a", "--no-cameras")
    assert proc.returncode == 0, proc.stderr
    assert "== dev-a (edgeres " in proc.stdout and "torch" in proc.stdout


def test_unreachable_and_refused(edgeres_remote, fp32_onnx):
    _fails(edgeres_remote("doctor", "--remote", "dev-down"), "cannot reach dev-down")
    _fails(edgeres_remote("doctor", "--remote", "dev-badkey"), "authentication refused")


def test_edgeres_missing_then_install(edgeres_remote, fp32_onnx, tmp_path):
    fresh = tmp_path / "fresh-venv"
    proc = edgeres_remote("predict", fp32_onnx, "x.png", "--remote", "dev-a", venv=fresh)
    _fails(proc, "dev-a has no edgeres", "--install")
    proc = edgeres_remote("doctor", "--remote", "dev-a", "--install", "--json", venv=fresh)
    (entry,) = json.loads(proc.stdout)["remote"]
    assert proc.returncode == 0 and entry["edgeres"] == "0.1.0", proc.stderr
    assert "torch" not in entry["versions"]  # the device side installs without torch
    assert (fresh / "bin" / "edgeres").exists()


def test_device_command_exits_non_zero(edgeres_remote, fp32_onnx):
    proc = edgeres_remote("benchmark", fp32_onnx, "--profile", "no-such-board", "--remote", "dev-a")
    _fails(proc, "'edgeres benchmark' on dev-a exited 2", "no-such-board")


def _kill_when_running(marker: str, stop: threading.Event) -> None:
    """Kill the device-side edgeres this test started (its command line names ``marker``)."""
    while not stop.wait(0.2):
        for pid in filter(str.isdigit, os.listdir("/proc")):
            try:
                cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
            except OSError:
                continue
            device_side = b"python" in cmdline[0] and b"-m" not in cmdline  # not the local CLI
            named = any(marker.encode() in a for a in cmdline)
            if device_side and named and b"benchmark" in cmdline:
                os.kill(int(pid), signal.SIGKILL)
                return


def test_connection_cut_mid_run(edgeres_remote, fp32_onnx, tmp_path):
    save = tmp_path / "never.json"
    stop = threading.Event()
    killer = threading.Thread(
        target=_kill_when_running, args=(str(edgeres_remote.cache), stop), daemon=True
    )
    killer.start()
    try:
        args = ("benchmark", fp32_onnx, "--min-time", "600", "--trials", "1", "--save", save)
        proc = edgeres_remote(*args, "--remote", "dev-a", timeout=300)
    finally:
        stop.set()
    _fails(proc, "on dev-a was killed", "nothing was saved")
    assert not save.exists()


def test_model_changed_during_copy(sshd, device_env, fp32_onnx, tmp_path, monkeypatch):
    import edgeres.remote.cache as cache
    from edgeres.cli import main

    monkeypatch.setattr(cache, "file_sha256", lambda path: "0" * 64)  # what was hashed first
    args = ["predict", str(fp32_onnx), "x.png", "--remote", "dev-a", "--remote-venv"]
    args += [str(device_env), "--remote-cache", str(tmp_path / "c")]
    started = time.monotonic()
    result = CliRunner().invoke(main, args, env={"EDGERES_SSH_CONFIG": str(sshd.config)})
    assert result.exit_code == 2 and time.monotonic() - started < 600
    assert "changed while it was copied to dev-a" in result.stderr
    assert not [p for p in (tmp_path / "c").rglob("*") if p.is_file()]  # nothing kept
