"""The pieces of ``--remote`` that need no device: host lists, device paths, per-device outputs."""

from __future__ import annotations

from pathlib import Path

import pytest

from edgeres.bench.config import BenchConfig
from edgeres.cli import main
from edgeres.cli.bench_cmds import BENCH_HERE
from edgeres.cli.fields import argv
from edgeres.errors import UsageError
from edgeres.remote.commands import host_config, measured_on
from edgeres.remote.config import RemoteConfig, parse_hosts
from edgeres.remote.ssh import Word, edgeres_script, shell_path


def test_hosts_from_a_list_and_a_file(tmp_path):
    hosts = tmp_path / "hosts.txt"
    hosts.write_text("pi@pi5.local  # the Pi 5\n\njetson.local\n")
    assert parse_hosts("a, b,a") == ("a", "b")
    assert parse_hosts(f"@{hosts},c") == ("pi@pi5.local", "jetson.local", "c")
    with pytest.raises(UsageError, match="names no host"):
        parse_hosts(" , ")
    with pytest.raises(UsageError, match="not a host name"):
        parse_hosts("-oProxyCommand=x")
    with pytest.raises(UsageError, match="cannot be read"):
        parse_hosts(f"@{tmp_path / 'missing.txt'}")
    with pytest.raises(UsageError, match="--connect-timeout"):
        RemoteConfig(remote="a", connect_timeout=0)


def test_device_paths_are_shell_words():
    assert shell_path("~/.cache/edgeres") == '"$HOME"/.cache/edgeres'
    assert shell_path("/srv/my data") == "'/srv/my data'"
    script = edgeres_script("~/venv", ["eval", Word('"$HOME"/m.onnx'), "--data", "a b"])
    assert '"$HOME"/m.onnx' in script and "'a b'" in script and "exit 127" in script


def test_outputs_and_baseline_are_named_per_device():
    config = BenchConfig(models=(Path("m.onnx"),), save=Path("out/b.json"), md=Path("t.md"))
    assert host_config(config, None) is config
    per = host_config(config, "pi@pi5.local")
    assert per.save == Path("out/b-pi_pi5.local.json") and per.md == Path("t-pi_pi5.local.md")


def test_measuring_flags_pass_to_the_device():
    config = BenchConfig(
        models=(Path("m.onnx"),), threads="1,2", quick=True, limit=5, engine="openvino", ops=True
    )
    flags = argv(main.commands["benchmark"], config, BENCH_HERE)
    assert flags == ["--threads", "1,2", "--engine", "openvino", "--limit", "5", "--quick", "--ops"]
    assert measured_on("raspberry-pi-5", True, {}, "pi5.local") == (
        "measured on raspberry-pi-5 (pi5.local)"
    )
    assert "with raspberry-pi-4's settings" in measured_on("raspberry-pi-4", False, {}, "h")
