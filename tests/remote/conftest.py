"""A real OpenSSH server on 127.0.0.1 for the remote tests, with a throwaway host key and client
key pair made here; the device side is the torch-free ``device_env`` venv.

``sshd -D -f CONFIG`` listens on 127.0.0.1 only, on a free port, for root with the key in a
temporary ``AuthorizedKeysFile``. The client side is an ssh config file (``EDGERES_SSH_CONFIG``)
naming hosts: ``dev-a``/``dev-b`` (that server), ``dev-down`` (a closed port), ``dev-badkey``
(a key the server does not know). Without sshd (Debian: ``apt-get install openssh-server``) or
without root, every test here skips and says why.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

SSHD = shutil.which("sshd") or "/usr/sbin/sshd"
REPO = Path(__file__).resolve().parents[2]


@dataclass
class SshSetup:
    """The running server and the client config the tests pass to edgeres."""

    port: int
    config: Path
    proc: subprocess.Popen


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _keygen(path: Path) -> str:
    subprocess.run(
        ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(path)], check=True, timeout=30
    )
    return path.with_suffix(".pub").read_text()


def _wait_for(port: int, proc: subprocess.Popen, seconds: float = 20) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            pytest.fail(f"sshd exited {proc.returncode}: {proc.stderr.read().decode()[-2000:]}")
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.1)
    pytest.fail("sshd did not start listening")


def _client_config(tmp: Path, port: int, down: int) -> Path:
    common = (
        "  HostName 127.0.0.1\n  User root\n  IdentitiesOnly yes\n  IdentityAgent none\n"
        f"  UserKnownHostsFile {tmp}/known_hosts\n  StrictHostKeyChecking yes\n"
        "  LogLevel ERROR\n"
    )
    text = (
        f"Host dev-a dev-b\n  Port {port}\n  IdentityFile {tmp}/client\n{common}"
        f"Host dev-down\n  Port {down}\n  IdentityFile {tmp}/client\n{common}"
        f"Host dev-badkey\n  Port {port}\n  IdentityFile {tmp}/stranger\n{common}"
    )
    path = tmp / "ssh_config"
    path.write_text(text)
    return path


@pytest.fixture(scope="session")
def sshd(tmp_path_factory) -> SshSetup:
    if not Path(SSHD).exists() or not shutil.which("ssh"):
        pytest.skip("no OpenSSH server here (Debian: apt-get install -y openssh-server)")
    if os.geteuid() != 0:
        pytest.skip("the test sshd logs in as root; run the tests as root")
    tmp = tmp_path_factory.mktemp("sshd")
    host_pub = _keygen(tmp / "host")
    (tmp / "authorized_keys").write_text(_keygen(tmp / "client"))
    _keygen(tmp / "stranger")
    port, down = _free_port(), _free_port()
    (tmp / "known_hosts").write_text(f"[127.0.0.1]:{port} {host_pub}")
    (tmp / "sshd_config").write_text(
        f"ListenAddress 127.0.0.1\nPort {port}\nHostKey {tmp}/host\n"
        f"AuthorizedKeysFile {tmp}/authorized_keys\nStrictModes no\nUsePAM no\n"
        "PasswordAuthentication no\nKbdInteractiveAuthentication no\n"
        f"PermitRootLogin prohibit-password\nPidFile {tmp}/sshd.pid\nMaxStartups 50\n"
    )
    Path("/run/sshd").mkdir(exist_ok=True)  # sshd's privilege-separation directory
    proc = subprocess.Popen(
        [SSHD, "-D", "-e", "-f", str(tmp / "sshd_config"), "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        _wait_for(port, proc)
        yield SshSetup(port, _client_config(tmp, port, down), proc)
    finally:
        proc.terminate()
        proc.wait(timeout=10)


@pytest.fixture()
def edgeres_remote(sshd, device_env, tmp_path):
    """Run this checkout's ``edgeres ARGS`` here, with the test hosts and a fresh device cache."""
    cache = tmp_path / "device-cache"

    env = {k: v for k, v in os.environ.items() if k != "VIRTUAL_ENV"}
    env.update(PYTHONPATH=str(REPO), EDGERES_SSH_CONFIG=str(sshd.config), EDGERES_QUIET="1")

    def command(args, venv) -> list[str]:
        cmd = [sys.executable, "-m", "edgeres", *map(str, args)]
        return cmd + ["--remote-venv", str(venv), "--remote-cache", str(cache)]

    def run(*args, venv: Path | str = device_env, timeout: int = 600):
        cmd = command(args, venv)
        return subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=timeout)

    def popen(*args, venv: Path | str = device_env) -> subprocess.Popen:
        """The same command started in the background (stdout and stderr piped, as text)."""
        pipe = subprocess.PIPE
        return subprocess.Popen(command(args, venv), stdout=pipe, stderr=pipe, text=True, env=env)

    run.cache = cache
    run.popen = popen
    return run


@pytest.fixture(scope="session")
def sample_images(tmp_path_factory) -> list[Path]:
    """Two shapes test images as PNG files."""
    import cv2

    from edgeres.data.shapes import generate

    images, _ = generate(2, 32, split="test", seed=0)
    out = tmp_path_factory.mktemp("remote_images")
    paths = [out / f"img{i}.png" for i in range(len(images))]
    for path, image in zip(paths, images, strict=True):
        cv2.imwrite(str(path), image)
    return paths


_FAKE_EDGERES = """#!/bin/sh
# A fake device edgeres: answers --version as this edgeres; for COMMAND runs COMMAND.sh beside
# it when there is one, else prints COMMAND.json (or a valid empty doctor reply).
d=$(cd "$(dirname "$0")" && pwd)
[ "$1" = --version ] && { echo "edgeres VERSION"; exit 0; }
[ -x "$d/$1.sh" ] && exec "$d/$1.sh" "$@"
[ -e "$d/$1.json" ] && exec cat "$d/$1.json"
echo '{"versions": {"edgeres": "VERSION"}, "checks": [], "problems": 0}'
"""


@dataclass
class FakeDevice:
    """A device whose ``edgeres`` is a shell script (``bin/edgeres`` of ``venv``), reached over
    the real sshd: a test gives it the reply of a command (``reply``) or a script to run for
    it (``script``), and runs this checkout's edgeres against it (``run``, ``popen``)."""

    venv: Path
    env: dict

    def reply(self, command: str, body: bytes | str) -> None:
        path = self.venv / "bin" / f"{command}.json"
        path.write_bytes(body if isinstance(body, bytes) else body.encode())

    def script(self, command: str, text: str) -> None:
        path = self.venv / "bin" / f"{command}.sh"
        path.write_text("#!/bin/sh\n" + text)
        path.chmod(0o755)

    def command(self, args) -> list[str]:
        cmd = [sys.executable, "-m", "edgeres", *map(str, args)]
        return cmd + ["--remote-venv", str(self.venv), "--remote-cache", str(self.venv / "cache")]

    def run(self, *args, timeout: int = 120) -> subprocess.CompletedProcess:
        return subprocess.run(
            self.command(args), capture_output=True, text=True, env=self.env, timeout=timeout
        )

    def invoke(self, *args) -> subprocess.CompletedProcess:
        """``run`` in this process (click's runner): no interpreter start, same outcome."""
        import traceback

        from click.testing import CliRunner

        from edgeres.cli import main

        result = CliRunner().invoke(main, [str(a) for a in self.command(args)[3:]], env=self.env)
        stderr = result.stderr
        if result.exception is not None and not isinstance(result.exception, SystemExit):
            stderr += "".join(traceback.format_exception(result.exception))
        return subprocess.CompletedProcess(args, result.exit_code, result.stdout, stderr)

    def popen(self, *args) -> subprocess.Popen:
        pipe = subprocess.PIPE
        return subprocess.Popen(
            self.command(args), stdout=pipe, stderr=pipe, text=True, env=self.env,
            preexec_fn=_default_sigint,
        )  # fmt: skip


def _default_sigint() -> None:
    # A suite started in the background by a non-interactive shell (`make test &`) inherits
    # SIGINT ignored, and Python then installs no KeyboardInterrupt handler: the signal tests
    # would test the shell's job control, not edgeres. The child gets the default back.
    import signal

    signal.signal(signal.SIGINT, signal.SIG_DFL)


@pytest.fixture()
def fake_device(sshd, tmp_path) -> FakeDevice:
    import edgeres

    venv = tmp_path / "fake-venv"
    (venv / "bin").mkdir(parents=True)
    edgeres_sh = venv / "bin" / "edgeres"
    edgeres_sh.write_text(_FAKE_EDGERES.replace("VERSION", edgeres.__version__))
    edgeres_sh.chmod(0o755)
    env = {k: v for k, v in os.environ.items() if k != "VIRTUAL_ENV"}
    env.update(PYTHONPATH=str(REPO), EDGERES_SSH_CONFIG=str(sshd.config), EDGERES_QUIET="1")
    return FakeDevice(venv, env)
