"""Device profiles: shipped files load, bad files are refused by key, fake machines are matched."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from edgeres.errors import UsageError
from edgeres.profiles import (
    DEVICES_DIR,
    Profile,
    list_profiles,
    load_profile,
    load_profile_file,
    match_host,
)
from edgeres.profiles_facts import read_facts
from edgeres.profiles_host import host_profile

SHIPPED = ["desktop-x86", "jetson-nano", "jetson-orin-nano", "raspberry-pi-4", "raspberry-pi-5"]


def test_every_shipped_profile_loads_with_sources():
    profiles = {p.name: p for p in list_profiles()}
    assert sorted(profiles) == sorted(SHIPPED + ["host"])
    for p in profiles.values():
        assert p.threads >= 1
        assert p.peaks["cpu"].fp32_gflops.source
        assert p.int8_activations in ("int8", "uint8")
    assert profiles["desktop-x86"].int8_activations == "uint8"
    assert profiles["raspberry-pi-4"].int8_activations == "int8"
    assert profiles["raspberry-pi-5"].camera.source == "picamera"
    assert profiles["jetson-orin-nano"].camera.source.startswith("gst:nvarguscamerasrc")
    assert profiles["jetson-orin-nano"].providers_for("onnx")[0] == "TensorrtExecutionProvider"
    assert profiles["jetson-orin-nano"].peak_for("onnx")[0] == "gpu"
    assert profiles["jetson-orin-nano"].peak_for("tflite")[0] == "cpu"


def test_load_by_name_path_and_profile(tmp_path):
    p = load_profile("raspberry-pi-5")
    assert load_profile(p) is p
    assert load_profile(DEVICES_DIR / "raspberry-pi-5.yaml") == p
    own = tmp_path / "board.yaml"
    own.write_text(p.to_yaml().replace("raspberry-pi-5", "my-board"))
    mine = load_profile(str(own))
    assert mine.name == "my-board" and mine.source == str(own)
    assert load_profile().is_host


def test_unknown_name_offers_close_matches():
    with pytest.raises(UsageError, match="did you mean raspberry-pi-5"):
        load_profile("rasberry-pi-5")


def _write(tmp_path: Path, mutate) -> Path:
    data = yaml.safe_load((DEVICES_DIR / "raspberry-pi-4.yaml").read_text())
    mutate(data)
    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


@pytest.mark.parametrize(
    ("mutate", "key", "what"),
    [
        (lambda d: d.update(colour="red"), "colour", "unknown key"),
        (lambda d: d["camera"].update(lens="wide"), "camera.lens", "unknown key"),
        (lambda d: d.pop("threads"), "threads", "missing"),
        (lambda d: d["peaks"]["cpu"].pop("memory_gbs"), "peaks.cpu.memory_gbs", "missing"),
        (lambda d: d.update(threads="four"), "threads", "expected an integer"),
        (lambda d: d.update(threads=True), "threads", "expected an integer"),
        (lambda d: d["camera"].update(fps="fast"), "camera.fps", "expected a number"),
        (lambda d: d["providers"].update(onnx="CPU"), "providers.onnx", "expected a list"),
        (lambda d: d.update(precision="int4"), "precision", "not valid"),
        (lambda d: d.update(threads=0), "threads", ">= 1"),
        (lambda d: d["budget"].update(trials=0), "budget", ">= 1"),
        (lambda d: d["providers"].update(caffe=["x"]), "providers.caffe", "unknown format"),
    ],
)
def test_invalid_file_names_file_and_key(tmp_path, mutate, key, what):
    path = _write(tmp_path, mutate)
    with pytest.raises(UsageError) as e:
        load_profile_file(path)
    msg = str(e.value)
    assert str(path) in msg and f"'{key}'" in msg and what in msg


def test_invalid_yaml_and_missing_file(tmp_path):
    bad = tmp_path / "x.yaml"
    bad.write_text("name: [unclosed\n")
    with pytest.raises(UsageError, match="not valid YAML"):
        load_profile(bad)
    bad.write_text("- just\n- a list\n")
    with pytest.raises(UsageError, match="expected a mapping"):
        load_profile(bad)
    with pytest.raises(UsageError, match="does not exist"):
        load_profile(tmp_path / "nope.yaml")


def _fake_root(tmp_path: Path, files: dict[str, str | bytes]) -> Path:
    for rel, content in files.items():
        f = tmp_path / rel
        f.parent.mkdir(parents=True, exist_ok=True)
        f.write_bytes(content if isinstance(content, bytes) else content.encode())
    return tmp_path


PI_CPUINFO = "processor\t: 0\nFeatures\t: fp asimd evtstrm crc32 cpuid asimddp\n" * 4


@pytest.mark.parametrize(
    ("files", "arch", "expected"),
    [
        (
            {"proc/device-tree/model": b"Raspberry Pi 4 Model B Rev 1.4\x00"},
            "aarch64",
            "raspberry-pi-4",
        ),
        (
            {"sys/firmware/devicetree/base/model": b"Raspberry Pi 5 Model B Rev 1.0\x00"},
            "aarch64",
            "raspberry-pi-5",
        ),
        (
            {
                "proc/device-tree/model": b"NVIDIA Jetson Nano Developer Kit\x00",
                "etc/nv_tegra_release": "# R32 (release), REVISION: 7.1\n",
            },
            "aarch64",
            "jetson-nano",
        ),
        (
            {
                "proc/device-tree/model": b"NVIDIA Jetson Orin Nano Developer Kit\x00",
                "etc/nv_tegra_release": "# R36 (release), REVISION: 3.0\n",
            },
            "aarch64",
            "jetson-orin-nano",
        ),
        # A Jetson Nano device tree without the L4T release file is not enough.
        ({"proc/device-tree/model": b"NVIDIA Jetson Nano Developer Kit\x00"}, "aarch64", None),
        ({"proc/device-tree/model": b"Raspberry Pi 5 Model B\x00"}, "x86_64", None),
        ({"proc/cpuinfo": "model name\t: AMD Ryzen 7 5800X\n"}, "x86_64", None),
    ],
)
def test_match_host_with_fake_filesystem(tmp_path, files, arch, expected):
    root = _fake_root(tmp_path, {"proc/cpuinfo": PI_CPUINFO, **files})
    found = match_host(root=root, arch=arch)
    assert (found.name if found else None) == expected


def test_host_profile_from_fake_arm_machine(tmp_path):
    root = _fake_root(
        tmp_path,
        {
            "proc/cpuinfo": PI_CPUINFO,
            "sys/devices/system/cpu/cpu0/cpufreq/cpuinfo_max_freq": "2400000\n",
        },
    )
    facts = read_facts(root, arch="aarch64")
    assert facts.cores == 4 and facts.max_mhz == 2400.0 and "asimddp" in facts.flags
    p = host_profile(facts)
    assert isinstance(p, Profile) and p.int8_activations == "int8" and p.threads == 4
    assert p.peaks["cpu"].fp32_gflops.value == pytest.approx(4 * 2.4 * 16)
    assert p.peaks["cpu"].int8_gops.value == pytest.approx(4 * 2.4 * 64)
    assert "theoretical" in p.peaks["cpu"].fp32_gflops.source


def test_host_profile_without_clock_has_unknown_peaks(tmp_path):
    facts = read_facts(_fake_root(tmp_path, {"proc/cpuinfo": "processor\t: 0\n"}), arch="x86_64")
    p = host_profile(facts)
    assert p.int8_activations == "uint8"
    assert p.peaks["cpu"].fp32_gflops.value is None


def test_profile_round_trips_through_yaml(tmp_path):
    p = load_profile("jetson-orin-nano")
    f = tmp_path / "copy.yaml"
    f.write_text(p.to_yaml())
    assert load_profile_file(f) == p
    assert p.to_dict()["is_host"] is False
