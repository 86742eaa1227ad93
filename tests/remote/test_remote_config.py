"""The pieces of ``--remote`` that need no device: host lists, device paths, per-device outputs."""

from __future__ import annotations

import time
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


def test_hosts_files_are_bounded_and_never_echoed(tmp_path):
    started = time.monotonic()
    with pytest.raises(UsageError, match="larger than 1 MB"):
        parse_hosts("@/dev/zero")
    assert time.monotonic() - started < 5
    shadow = tmp_path / "shadow"
    shadow.write_text("root:$6$s3cr3tHash:19000:0:99999:7:::\ndaemon:*:19000:0:99999:7:::\n")
    with pytest.raises(UsageError) as e:
        parse_hosts(f"@{shadow}")
    assert "line 1 is not a host name" in str(e.value) and "s3cr3t" not in str(e.value)
    lines = tmp_path / "many.txt"
    lines.write_text("h\n" * 5000)
    with pytest.raises(UsageError, match="more than 4096 hosts"):
        parse_hosts(f"@{lines}")
    lines.write_text("a" * 300 + "\n")
    with pytest.raises(UsageError, match="line 1 is not a host name"):
        parse_hosts(f"@{lines}")
    lines.write_text("pi@pi5.local\n[::1]\nssh://pi@jetson:2222 # the Jetson\nfe80::1%eth0\n")
    assert parse_hosts(f"@{lines}") == (
        "pi@pi5.local",
        "[::1]",
        "ssh://pi@jetson:2222",
        "fe80::1%eth0",
    )


def test_hosts_file_from_the_cli_is_one_line_and_no_connection(tmp_path):
    from click.testing import CliRunner

    from edgeres.cli import main

    shadow = tmp_path / "shadow"
    shadow.write_text("root:$6$s3cr3tHash:19000:0:99999:7:::\n")
    for hosts in ("@/dev/zero", f"@{shadow}"):
        result = CliRunner().invoke(main, ["doctor", "--remote", hosts])
        assert result.exit_code == 2 and result.stderr.count("\n") == 1, result.stderr
        assert (
            result.stderr.startswith("error: --remote hosts file") and "s3cr3t" not in result.stderr
        )


@pytest.mark.parametrize("value", [float("nan"), float("inf"), -1.0, 0.0])
def test_remote_timeout_must_be_a_finite_positive_number(value):
    with pytest.raises(UsageError, match="--remote-timeout must be a number of seconds > 0"):
        RemoteConfig(remote="a", remote_timeout=value)


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


def test_one_endless_stderr_line_costs_its_limit_only():
    import io

    from edgeres.remote.pipes import bounded_lines

    class Endless(io.RawIOBase):
        """50 MB of one line, then a short one: what a broken device might print."""

        def __init__(self) -> None:
            self.left = 50_000_000

        def readable(self) -> bool:
            return True

        def readinto(self, buf) -> int:
            if self.left <= 0:
                tail = b"\nok\n"[: len(buf)] if self.left == 0 else b""
                self.left -= 1
                buf[: len(tail)] = tail
                return len(tail)
            n = min(len(buf), self.left)
            buf[:n] = b"x" * n
            self.left -= n
            return n

    lines = list(bounded_lines(io.BufferedReader(Endless()), 8192))
    assert [cut for _, cut in lines] == [True, False]
    assert len(lines[0][0]) < 8300 and lines[0][0].endswith("(cut at 8192 bytes)")
    assert lines[1] == ("ok", False)
