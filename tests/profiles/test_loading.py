"""Finding profiles: shipped files load, names and paths resolve, fake machines are matched."""

from __future__ import annotations

import pytest

from edgeres.errors import UsageError
from edgeres.profiles import devices_dir, list_profiles, load_profile, match_host

SHIPPED = ["desktop-x86", "jetson-nano", "jetson-orin-nano", "raspberry-pi-4", "raspberry-pi-5"]


def test_shipped_profiles_live_in_devices():
    folder = devices_dir()
    assert folder.name == "devices"
    assert sorted(p.stem for p in folder.glob("*.yaml")) == SHIPPED


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
    assert load_profile(devices_dir() / "raspberry-pi-5.yaml") == p
    own = tmp_path / "board.yaml"
    own.write_text(p.to_yaml().replace("raspberry-pi-5", "my-board"))
    mine = load_profile(str(own))
    assert mine.name == "my-board" and mine.source == str(own)
    assert load_profile().is_host


def test_unknown_name_offers_close_matches():
    with pytest.raises(UsageError, match="did you mean raspberry-pi-5"):
        load_profile("rasberry-pi-5")


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
def test_match_host_with_fake_filesystem(fake_root, pi_cpuinfo, files, arch, expected):
    root = fake_root({"proc/cpuinfo": pi_cpuinfo, **files})
    found = match_host(root=root, arch=arch)
    assert (found.name if found else None) == expected


# Nine levels of nine aliases each: 9^9 (387 million) strings once expanded, 500 bytes on disk.
BILLION_LAUGHS = "a: &a [lol, lol, lol, lol, lol, lol, lol, lol, lol]\n" + "".join(
    f"{b}: &{b} [{', '.join([f'*{a}'] * 9)}]\n" for a, b in zip("abcdefgh", "bcdefghi", strict=True)
)


def test_alias_bomb_is_refused_before_expanding(tmp_path):
    bomb = tmp_path / "laughs.yaml"
    bomb.write_text(BILLION_LAUGHS)
    with pytest.raises(UsageError, match="alias bomb"):
        load_profile(bomb)
    # Few aliases, but each one a list of the one before: the expansion count catches it too.
    many = tmp_path / "many.yaml"
    many.write_text(
        "x: &x [1]\n" + "".join(f"k{i}: [{', '.join(['*x'] * 50)}]\n" for i in range(3))
    )
    with pytest.raises(UsageError, match="more than 100 aliases"):
        load_profile(many)
    loop = tmp_path / "loop.yaml"
    loop.write_text("a: &a [*a]\n")
    with pytest.raises(UsageError, match="refers to itself"):
        load_profile(loop)


def test_huge_profile_file_is_refused_unread(tmp_path):
    big = tmp_path / "big.yaml"
    big.write_text("name: x\n" + "#" * 2_000_000 + "\n")
    with pytest.raises(UsageError, match="over the 1000000-byte limit"):
        load_profile(big)


def test_profile_command_is_never_run(tmp_path):
    """A downloaded profile naming a command is refused at load: the marker file never appears."""
    from click.testing import CliRunner

    from edgeres.cli import main

    marker = tmp_path / "ran"
    text = load_profile("raspberry-pi-5").to_yaml()
    text = text.replace(
        "throttle_reader: raspberry-pi", f"throttle_command: [sh, -c, 'touch {marker}']"
    )
    assert "throttle_command" in text
    evil = tmp_path / "evil.yaml"
    evil.write_text(text)
    for args in (["devices", str(evil)], ["benchmark", "m.onnx", "--profile", str(evil)]):
        res = CliRunner().invoke(main, args)
        assert res.exit_code == 2, res.output
        assert "sensors.throttle_command" in res.output and "never name a command" in res.output
    assert not marker.exists()


@pytest.mark.parametrize(
    "pattern", ["/etc/passwd", "/home/*/.ssh/id_rsa", "/sys/../etc/shadow", "relative/temp"]
)
def test_sensor_files_outside_sys_and_proc_are_refused(tmp_path, pattern):
    text = load_profile("raspberry-pi-5").to_yaml()
    bad = tmp_path / "bad.yaml"
    bad.write_text(text.replace("  temperature:\n", f"  temperature:\n  - {pattern}\n"))
    with pytest.raises(UsageError, match="sensors.*not under /sys/ or /proc/"):
        load_profile(bad)


def test_sensor_globs_stop_at_a_bounded_number_of_matches(tmp_path):
    from edgeres.bench.environment import sensor_files
    from edgeres.profiles.model import MAX_SENSOR_MATCHES

    zones = tmp_path / "sys" / "class" / "thermal"
    for i in range(MAX_SENSOR_MATCHES + 20):
        (zones / f"thermal_zone{i}").mkdir(parents=True)
        (zones / f"thermal_zone{i}" / "temp").write_text("40000\n")
    found = sensor_files("/sys/class/thermal/thermal_zone*/temp", tmp_path)
    assert len(found) == MAX_SENSOR_MATCHES
