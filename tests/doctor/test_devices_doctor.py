"""`edgeres devices`, `edgeres doctor`, environment facts and per-model memory."""

from __future__ import annotations

import dataclasses
import json

from click.testing import CliRunner

from edgeres.bench import environment as env
from edgeres.bench import memory
from edgeres.cli import main
from edgeres.doctor.checks import run_doctor
from edgeres.formats import all_engines
from edgeres.profiles import Sensors, load_profile


def run(*args: str):
    return CliRunner().invoke(main, list(args))


def test_devices_table_marks_this_machine():
    res = run("devices")
    assert res.exit_code == 0
    marked = [ln for ln in res.output.splitlines() if ln.startswith("*")]
    assert len(marked) == 1
    for name in (
        "raspberry-pi-4",
        "raspberry-pi-5",
        "jetson-nano",
        "jetson-orin-nano",
        "desktop-x86",
        "host",
    ):
        assert name in res.output


def test_devices_show_one_and_json():
    res = run("devices", "jetson-orin-nano")
    assert (
        res.exit_code == 0
        and "nvarguscamerasrc" in res.output
        and "TensorrtExecutionProvider" in res.output
    )
    data = json.loads(run("devices", "raspberry-pi-5", "--json").output)
    assert data["name"] == "raspberry-pi-5" and data["is_host"] is False
    assert data["peaks"]["cpu"]["fp32_gflops"]["source"]
    listed = json.loads(run("devices", "--json").output)
    assert {d["name"] for d in listed} >= {"host", "desktop-x86"}
    res = run("devices", "jetson-nanoo")
    assert res.exit_code == 2 and "did you mean jetson-nano" in res.output


def test_doctor_reports_runtimes_cpu_profile():
    result = run_doctor(cameras=True)
    names = {c["name"] for c in result["checks"]}
    assert {e.name for e in all_engines()} | {"cpu", "window"} <= names
    assert result["versions"]["onnxruntime"]
    for c in result["checks"]:
        assert c["status"] in ("ok", "missing", "problem", "info")
        if c["status"] == "problem":
            assert c["fix"]
    data = json.loads(run("doctor", "--json", "--no-cameras").output)
    assert data["problems"] == result["problems"]
    text = run("doctor", "--no-cameras").output
    assert "onnxruntime" in text and "problem(s)" in text


def test_snapshot_reads_profile_sensors(tmp_path):
    """Sensor files are read under /sys and /proc only, size-limited, and parsed as numbers."""
    zone = tmp_path / "sys/class/thermal/zone0"
    zone.mkdir(parents=True)
    (zone / "temp").write_text("45500\n")
    hwmon = tmp_path / "sys/class/hwmon/hwmon0"
    hwmon.mkdir(parents=True)
    (hwmon / "oc1_event_cnt").write_text("3\n")
    (hwmon / "oc2_event_cnt").write_text("not a number\n")
    (hwmon / "oc3_event_cnt").write_text("1" * 5000)
    secret = tmp_path / "home/secret"
    secret.parent.mkdir(parents=True)
    secret.write_text("12345\n")
    (hwmon / "oc4_event_cnt").symlink_to(secret)  # a link out of /sys is not followed
    firmware = tmp_path / "sys/devices/platform/soc/soc:firmware"
    firmware.mkdir(parents=True)
    (firmware / "get_throttled").write_text("50005\n")  # the driver prints hex
    prof = dataclasses.replace(
        load_profile("host"),
        sensors=Sensors(
            temperature=("/sys/class/thermal/zone*/temp",),
            throttle_files=("/sys/class/hwmon/hwmon*/oc*_event_cnt",),
            throttle_reader="raspberry-pi",
        ),
    )
    snap = env.snapshot(prof, root=tmp_path)
    assert snap["max_temperature_c"] == 45.5
    assert snap["temperature_c"] == {"/sys/class/thermal/zone0/temp": 45.5}
    assert snap["throttling"] == {
        "/sys/class/hwmon/hwmon0/oc1_event_cnt": 3,
        "raspberry-pi get_throttled": 0x50005,
    }
    facts = env.environment(prof)
    assert facts["cores_usable"] >= 1 and facts["libraries"]["edgeres"]


def test_peak_memory_reset_per_model():
    was_reset = memory.reset_peak()
    before = memory.current_rss_mb()
    block = bytearray(64 * 1024 * 1024)
    block[::4096] = b"x" * len(block[::4096])  # touch every page so it is resident
    peak, method = memory.peak_rss_mb(was_reset)
    del block
    assert peak >= before + 60
    if was_reset:
        assert "clear_refs" in method


def test_bench_imports_without_torch():
    import subprocess
    import sys

    code = (
        "import sys; sys.modules['torch'] = None\n"
        "import edgeres.profiles, edgeres.bench.runner, edgeres.doctor.checks, edgeres.bench.report\n"
        "import edgeres.bench.plot, edgeres.bench.baseline, edgeres.cli.bench_cmds\n"
        "print('ok')"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False)
    assert out.stdout.strip() == "ok", out.stderr
