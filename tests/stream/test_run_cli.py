"""`edgeres run` end to end in a subprocess: JSON lines, Ctrl-C/SIGTERM cleanup, clear errors."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import cv2
import pytest
from click.testing import CliRunner

from edgeres.cli import main


def _edgeres(*args: str) -> list[str]:
    return [sys.executable, "-m", "edgeres", "run", *args]


def _run(*args: str, timeout: float = 60) -> subprocess.CompletedProcess:
    return subprocess.run(_edgeres(*args), capture_output=True, text=True, timeout=timeout)


def test_json_lines_one_object_per_frame(fp32_onnx, video_file):
    r = _run(str(fp32_onnx), "--source", str(video_file), "--json", "--topk", "3")
    assert r.returncode == 0, r.stderr
    lines = [json.loads(line) for line in r.stdout.splitlines()]
    assert [d["frame"] for d in lines] == list(range(24))
    assert all(len(d["topk"]) == 3 for d in lines)
    assert "24 frames" in r.stderr and "stopped by end" in r.stderr


def test_demo_run_is_bounded_by_max_frames(fp32_onnx):
    r = _run(str(fp32_onnx), "--source", "demo", "--max-frames", "5", "--json", "--smooth", "0.8")
    assert r.returncode == 0, r.stderr
    assert len(r.stdout.splitlines()) == 5 and "stopped by max-frames" in r.stderr


@pytest.mark.parametrize("source", ["7", "missing.mp4", "rtsp://127.0.0.1:9/cam"])
def test_bad_sources_are_one_line_errors(fp32_onnx, tmp_path, source):
    r = _run(str(fp32_onnx), "--source", source, timeout=30)
    assert r.returncode == 2
    assert "Traceback" not in r.stderr
    last = r.stderr.strip().splitlines()[-1]
    assert last.startswith("error: ") and ("camera" in last or "source" in last)


def test_existing_save_target_is_refused(fp32_onnx, tmp_path):
    out = tmp_path / "keep.mp4"
    out.write_bytes(b"x")
    r = _run(str(fp32_onnx), "--source", "demo", "--max-frames", "2", "--save", str(out))
    assert r.returncode == 2 and "--force" in r.stderr and out.read_bytes() == b"x"


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_signal_stops_cleanly_and_finalises_the_video(fp32_onnx, tmp_path, sig):
    out = tmp_path / "live.mp4"
    proc = subprocess.Popen(
        _edgeres(str(fp32_onnx), "--source", "demo", "--save", str(out), "--json",
                 "--serve", "127.0.0.1:0", "--width", "160", "--height", "120"),
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        for _ in range(10):  # wait until frames are flowing
            assert proc.stdout.readline(), proc.stderr.read()
        proc.send_signal(sig)
        stdout, stderr = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, stderr
    assert "stopped by signal" in stderr and "Traceback" not in stderr
    cap = cv2.VideoCapture(str(out))
    n = 0
    while cap.read()[0]:
        n += 1
    assert n >= 10  # the mp4 was finalised (readable to the end) with the frames written
    mask = os.umask(0)
    os.umask(mask)
    assert out.stat().st_mode & 0o777 == 0o666 & ~mask  # the permissions of every other output
    assert sorted(p.name for p in Path(tmp_path).iterdir()) == ["live.mp4"]  # no temp files


def test_run_has_help_with_an_example():
    r = _run("--help")
    assert r.returncode == 0 and "Example:" in r.stdout and "--source" in r.stdout


def test_json_reader_going_away_ends_the_run_cleanly(fp32_onnx):
    proc = subprocess.Popen(
        _edgeres(str(fp32_onnx), "--source", "demo", "--json", "--width", "96", "--height", "64"),
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        for _ in range(3):  # `| head -n 3`
            assert proc.stdout.readline()
        proc.stdout.close()
        stderr = proc.stderr.read()
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, stderr
    assert "stopped by sink" in stderr and "Traceback" not in stderr


def test_without_source_a_camera_less_machine_falls_back_to_demo(fp32_onnx):
    if Path("/dev/video0").exists():
        pytest.skip("this machine has a camera")
    r = _run(str(fp32_onnx), "--max-frames", "3", "--profile", "desktop-x86")
    assert r.returncode == 0, r.stderr
    assert "no camera at /dev/video0" in r.stderr and "using the demo source" in r.stderr


def test_the_device_side_imports_no_torch():
    code = (
        "import sys, edgeres.cli.stream_cmds, edgeres.stream, edgeres.stream.app, "
        "edgeres.stream.serve, edgeres.stream.demo; print('torch' in sys.modules)"
    )
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert r.stdout.strip() == "False", r.stderr


@pytest.mark.parametrize(
    "kw, flag",
    [
        ({"fps": -1.0}, "fps"),
        ({"fps": 0.0}, "fps"),
        ({"fps": float("nan")}, "fps"),
        ({"width": 0}, "width"),
        ({"height": -5}, "height"),
        ({"threads": 0}, "threads"),
        ({"duration": float("nan")}, "duration"),
        ({"duration": float("inf")}, "duration"),
        ({"segment_seconds": 0.0}, "segment_seconds"),
    ],
)
def test_bad_numbers_are_refused_naming_the_flag(kw, flag):
    """The library names the parameter; the CLI shows its flag for it."""
    from edgeres.errors import UsageError
    from edgeres.stream.app import RunOptions

    with pytest.raises(UsageError, match=f"^{flag} "):
        RunOptions.from_flags(model="m.onnx", **kw)
    value, option = next(iter(kw.values())), "--" + flag.replace("_", "-")
    res = CliRunner().invoke(main, ["run", "m.onnx", option, str(value)])
    assert res.exit_code == 2 and f"error: {option} " in res.output, res.output


def test_cli_refuses_a_negative_fps_instead_of_hanging(fp32_onnx):
    r = _run(str(fp32_onnx), "--source", "demo", "--fps", "-1", "--max-frames", "2")
    assert (
        r.returncode == 2 and "error: --fps must be > 0" in r.stderr and "Traceback" not in r.stderr
    )


def test_a_killed_recording_keeps_its_finished_segments_playable(fp32_onnx, tmp_path):
    out = tmp_path / "cut.mp4"
    proc = subprocess.Popen(
        _edgeres(str(fp32_onnx), "--source", "demo", "--save", str(out), "--json",
                 "--segment-seconds", "0.2", "--width", "160", "--height", "120"),
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        for _ in range(40):  # about 1.3 s of video at the demo's 30 fps: several segments
            assert proc.stdout.readline(), proc.stderr.read()
        proc.kill()  # SIGKILL: no handler runs, as in a power cut
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert not out.exists()
    parts = sorted((tmp_path / "cut.mp4.parts").glob("part-*.mp4"))
    playable = []
    for part in parts:
        cap = cv2.VideoCapture(str(part))
        n = 0
        while cap.read()[0]:
            n += 1
        cap.release()
        playable.append(n)
    # Every segment but the one being written when killed plays back whole (6 frames each).
    assert len(parts) >= 2 and playable[:-1] == [6] * (len(parts) - 1)
    again = _run(str(fp32_onnx), "--source", "demo", "--max-frames", "2", "--save", str(out))
    assert again.returncode == 2 and "cut.mp4.parts" in again.stderr  # not silently replaced
