"""A broken or hostile device, faked: its ``edgeres`` is a shell script on the real sshd
(``fake_device`` in conftest.py). Whatever it replies, prints or does, this edgeres answers with
one ``error:`` line and exit 2, bounded in memory and time, and leaves nothing running."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from replies_samples import benchmark_reply, reply

pytestmark = pytest.mark.slow


def _fails(proc, *needles: str) -> str:
    """Exit 2, one ``error:`` line naming ``needles``, no traceback; returns that line."""
    assert proc.returncode == 2, (proc.returncode, proc.stdout[-2000:], proc.stderr[-2000:])
    errors = [line for line in proc.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and "Traceback" not in proc.stderr, proc.stderr[-3000:]
    for needle in needles:
        assert needle in errors[0], errors[0]
    return errors[0]


@pytest.fixture()
def model(tmp_path) -> Path:
    """Any file does: the fake device never reads what it is sent."""
    path = tmp_path / "m.onnx"
    path.write_bytes(b"not really a model")
    return path


def test_wrong_types_and_deep_json_are_one_error(fake_device, model):
    doc = reply("predict")
    doc["results"][0]["topk"][0]["score"] = "0.9"
    fake_device.reply("predict", json.dumps(doc))
    proc = fake_device.invoke("predict", model, model, "--remote", "dev-a")
    _fails(proc, "'edgeres predict' on dev-a replied", "topk[0].score: expected a finite number")
    fake_device.reply("devices", b"[" * 200_000 + b"]" * 200_000)
    _fails(fake_device.invoke("devices", "--remote", "dev-a"), "nested deeper than")


def _peak_rss_run(fake_device, *args) -> tuple[subprocess.CompletedProcess, float]:
    """Run edgeres ARGS in a child that reports its own peak RSS (MB, VmHWM) on its last stderr line."""
    code = (
        "import runpy, sys\n"
        "sys.argv = ['edgeres', *sys.argv[1:]]\n"
        "try:\n    runpy.run_module('edgeres', run_name='__main__')\n"
        # VmHWM, not ru_maxrss: Linux carries ru_maxrss over fork and exec, so a child of a
        # 1 GB pytest reported 1 GB before it had read a byte.
        "finally:\n    hwm = [l for l in open('/proc/self/status') if l.startswith('VmHWM')]\n"
        "    print(hwm[0].split()[1], file=sys.stderr)\n"
    )
    cmd = [sys.executable, "-c", code, *fake_device.command(args)[3:]]
    proc = subprocess.run(cmd, capture_output=True, text=True, env=fake_device.env, timeout=120)
    peak_mb = int(proc.stderr.strip().splitlines()[-1]) / 1024
    proc.stderr = "\n".join(proc.stderr.splitlines()[:-1])
    return proc, peak_mb


def test_endless_replies_are_bounded(fake_device, model):
    # 500 MB on stdout: refused at the limit, its command stopped; nowhere near 500 MB here.
    fake_device.script("benchmark", "head -c 500000000 /dev/zero\n")
    started = time.monotonic()
    proc, peak_mb = _peak_rss_run(fake_device, "benchmark", model, "--remote", "dev-a")
    _fails(proc, "dev-a replied more than 64 MB on stdout")
    assert peak_mb < 400 and time.monotonic() - started < 60, peak_mb
    # A 1 MB "one-line" error is cut to a line one can read.
    fake_device.script("eval", "head -c 1000000 /dev/zero | tr '\\0' x >&2; echo >&2; exit 2\n")
    line = _fails(fake_device.invoke("eval", model, "--data", "shapes", "--remote", "dev-a"))
    assert "more characters" in line and len(line) < 600


def test_device_text_is_escaped_and_credentials_cut(fake_device, model):
    doc = reply("predict")
    doc["results"][0]["topk"][0]["label"] = "cat\x1b]0;pwned\x07\nfake line"
    fake_device.reply("predict", json.dumps(doc))
    log = "opening rtsp://admin:hunter2@cam.local/live \x1b[2J done"
    fake_device.script(
        "predict", f'printf \'{log}\\n\' >&2; exec cat "$(dirname "$0")/predict.json"\n'
    )
    proc = fake_device.invoke("predict", model, model, "--remote", "dev-a")
    assert proc.returncode == 0, proc.stderr
    assert "\x1b" not in proc.stdout + proc.stderr and "\x07" not in proc.stdout
    assert "cat\\x1b]0;pwned\\x07\\nfake line 90.0%" in proc.stdout
    assert "rtsp://***@cam.local/live \\x1b[2J done" in proc.stderr
    assert "hunter2" not in proc.stderr


def test_save_that_fails_and_csv_formulas(fake_device, model, tmp_path):
    save, table = tmp_path / "b.json", tmp_path / "b.csv"
    doc = benchmark_reply("m.onnx", engine='=HYPERLINK("http://evil/")')
    fake_device.reply("benchmark", json.dumps(doc))
    # A folder takes the save's name while the device measures: writing it fails, and says so.
    cat = 'exec cat "$(dirname "$0")/benchmark.json"'
    fake_device.script("benchmark", f"mkdir {save}\n{cat}\n")
    proc = fake_device.invoke(
        "benchmark", model, "--remote", "dev-a", "--save", save, "--csv", table
    )
    _fails(proc, "could not write", str(save))
    assert "PosixPath" not in proc.stderr and save.is_dir()
    assert "'=HYPERLINK" in table.read_text()  # a spreadsheet shows it, never runs it


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    state = Path(f"/proc/{pid}/stat").read_text().split(")")[-1].split()[0]
    return state != "Z"


def _wait_gone(pid: int, seconds: float = 10) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if not _alive(pid):
            return True
        time.sleep(0.1)
    return False


def _ssh_of(venv: Path) -> list[int]:
    """ssh clients still running a command in ``venv``."""
    pids = []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if cmdline[0].endswith(b"ssh") and any(str(venv).encode() in a for a in cmdline):
            pids.append(int(pid))
    return [p for p in pids if _alive(p)]


def _sleeping_device(fake_device, tmp_path) -> Path:
    """The device's benchmark writes its pid, then runs a minute."""
    pid_file = tmp_path / "device.pid"
    fake_device.script("benchmark", f"echo $$ > {pid_file}\nexec sleep 60\n")
    return pid_file


def _device_pid(pid_file: Path) -> int:
    deadline = time.monotonic() + 30
    while not (pid_file.exists() and pid_file.read_text().strip()):
        assert time.monotonic() < deadline, "the device command never started"
        time.sleep(0.1)
    return int(pid_file.read_text())


def test_remote_timeout_stops_the_device_command(fake_device, model, tmp_path):
    pid_file = _sleeping_device(fake_device, tmp_path)
    started = time.monotonic()
    proc = fake_device.invoke("benchmark", model, "--remote", "dev-a", "--remote-timeout", "2")
    _fails(proc, "did not finish within 2 s", "its command stopped")
    assert time.monotonic() - started < 30
    assert _wait_gone(_device_pid(pid_file)), "the device's command still runs"


@pytest.mark.parametrize(("sig", "code"), [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_a_signal_to_edgeres_alone_stops_ssh_and_the_device(
    fake_device, model, tmp_path, sig, code
):
    pid_file = _sleeping_device(fake_device, tmp_path)
    proc = fake_device.popen("benchmark", model, "--remote", "dev-a,dev-b")
    try:
        device = _device_pid(pid_file)
        proc.send_signal(sig)  # to edgeres only, not its process group (not a terminal's Ctrl-C)
        proc.wait(timeout=30)
    finally:
        proc.kill()
    assert proc.returncode == code, proc.stderr.read()
    assert _wait_gone(device), "the device's command still runs"
    assert not _ssh_of(fake_device.venv), "an ssh client was left running"
