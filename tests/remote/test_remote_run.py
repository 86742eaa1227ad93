"""``edgeres run --remote`` against the real sshd on 127.0.0.1 (tests/remote/conftest.py): the
device's frames stream back as JSON lines, ``--save`` is recorded there and copied back, a local
video is copied over, ``--serve`` is forwarded over SSH, and Ctrl-C here stops the run there."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import time
import urllib.request
from pathlib import Path

import cv2
import pytest

pytestmark = [pytest.mark.venv, pytest.mark.slow]


def _frames(stdout: str) -> list[dict]:
    return [json.loads(line) for line in stdout.splitlines() if line.strip()]


def _error(proc) -> str:
    assert proc.returncode == 2, (proc.returncode, proc.stdout, proc.stderr)
    errors = [line for line in proc.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and "Traceback" not in proc.stderr, proc.stderr
    return errors[0]


def _device_runs(cache: Path) -> list[str]:
    """Device-side ``edgeres run`` processes of this test (their model is in ``cache``)."""
    found = []
    for pid in filter(str.isdigit, (p.name for p in Path("/proc").iterdir())):
        try:
            argv = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if b"run" in argv and b"-m" not in argv and any(str(cache).encode() in a for a in argv):
            found.append(pid)
    return found


def test_json_lines_stream_back(edgeres_remote, int8_tflite):
    proc = edgeres_remote(
        "run", int8_tflite, "--source", "demo", "--max-frames", "12", "--json", "--remote", "dev-a"
    )
    assert proc.returncode == 0, proc.stderr
    frames = _frames(proc.stdout)
    assert len(frames) == 12 and [f["frame"] for f in frames] == list(range(12))
    assert all(f["topk"] and 0 <= f["topk"][0]["score"] <= 1 for f in frames)
    assert "fps" in proc.stderr.lower()  # the device's summary came back on stderr


def test_local_video_copied_and_save_copied_back(edgeres_remote, fp32_onnx, video_file, tmp_path):
    out = tmp_path / "annotated.mp4"
    args = ("run", fp32_onnx, "--source", video_file, "--save", out, "--json")
    proc = edgeres_remote(*args, "--remote", "dev-a")
    assert proc.returncode == 0, proc.stderr
    assert len(_frames(proc.stdout)) == 24  # every frame of the copied clip
    cap = cv2.VideoCapture(str(out))
    assert int(cap.get(cv2.CAP_PROP_FRAME_COUNT)) == 24
    cap.release()
    runs = edgeres_remote.cache / "runs"
    assert not runs.exists() or not any(runs.iterdir())  # the device's copy is gone
    assert [p for p in tmp_path.iterdir() if p.name.startswith(".")] == []  # no temp file left

    again = edgeres_remote(*args, "--remote", "dev-a")
    assert "already exists" in _error(again) and out.stat().st_size > 0


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_serve_forwarded_and_ctrl_c_stops_the_device(edgeres_remote, fp32_onnx):
    # The device is this machine: it serves on 127.0.0.2, forwarded to 127.0.0.1 here.
    port = _free_port()
    proc = edgeres_remote.popen(
        "run", fp32_onnx, "--source", "demo", "--realtime", "--fps", "20", "--duration", "300",
        "--serve", f"127.0.0.2:{port}", "--remote", "dev-a",
    )  # fmt: skip
    try:
        page = None
        deadline = time.monotonic() + 120
        while page is None and time.monotonic() < deadline and proc.poll() is None:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=5) as r:
                    page = r.read().decode()
            except OSError:
                time.sleep(0.5)
        assert page is not None and "<html" in page.lower(), proc.poll()
        assert _device_runs(edgeres_remote.cache)
        proc.send_signal(signal.SIGINT)
        _, stderr = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, stderr
    assert f"web page: http://127.0.0.1:{port}/" in stderr and "forwarded over SSH" in stderr
    assert "fps" in stderr.lower()  # the device's summary, after its graceful stop
    deadline = time.monotonic() + 30
    while _device_runs(edgeres_remote.cache) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not _device_runs(edgeres_remote.cache)


def test_device_run_killed(edgeres_remote, fp32_onnx, tmp_path):
    proc = edgeres_remote.popen(
        "run", fp32_onnx, "--source", "demo", "--realtime", "--duration", "300", "--json",
        "--save", tmp_path / "never.mp4", "--remote", "dev-a",
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 120
        while not (pids := _device_runs(edgeres_remote.cache)) and time.monotonic() < deadline:
            time.sleep(0.2)
        assert pids, "the device's run never started"
        assert proc.stdout.readline().startswith("{")  # frames are streaming
        for pid in pids:
            with contextlib.suppress(ProcessLookupError):
                os.kill(int(pid), signal.SIGKILL)
        stdout, stderr = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
    proc.stdout, proc.stderr = stdout, stderr
    line = _error(proc)
    assert (
        "'edgeres run' on dev-a was killed (SIGKILL)" in line and "keeps what it recorded" in line
    )
    assert not (tmp_path / "never.mp4").exists()


@pytest.mark.parametrize(
    ("extra", "needle"),
    [
        (("--remote", "dev-a,dev-b"), "takes one device"),
        (("--remote", "dev-a", "--show"), "--show opens a window"),
        (("--remote", "dev-down"), "cannot reach dev-down"),
        (("--remote", "dev-a", "--serve", "0"), "needs a port number"),
    ],
)
def test_refused(edgeres_remote, fp32_onnx, extra, needle):
    proc = edgeres_remote("run", fp32_onnx, "--source", "demo", "--max-frames", "3", *extra)
    assert needle in _error(proc)
