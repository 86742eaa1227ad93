"""One device over SSH: the system's OpenSSH client, so ``~/.ssh/config``, agents, jump hosts and
known_hosts work as users expect. edgeres never handles passwords (``BatchMode=yes``).

Commands run in the device's POSIX shell; paths are shell words made by ``shell_path`` (``~/``
becomes ``"$HOME"/``). ``EDGERES_SSH_CONFIG`` names an ssh config file to use instead of
``~/.ssh/config`` (``ssh -F``).
"""

from __future__ import annotations

import os
import shlex
import subprocess
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import IO

from edgeres.errors import RemoteError
from edgeres.remote.config import RemoteConfig

# ssh's own exit status for its errors (connection, authentication, a cut connection).
SSH_FAILED = 255
# The device shell's status when no edgeres was found (see ``edgeres_script``).
NOT_FOUND = 127
_NOT_FOUND_MARK = "edgeres-not-found-on-device"
_AUTH = ("Permission denied", "Too many authentication failures", "Host key verification failed")


@dataclass
class Output:
    """What one command on the device gave: its exit status, stdout and the end of stderr."""

    returncode: int
    stdout: bytes
    stderr: str


class Word(str):
    """Text that is already a shell word on the device (quoted, maybe with ``"$HOME"``)."""


def shell_path(path: str) -> Word:
    """A device path as a shell word; a leading ``~/`` expands to the device user's home."""
    if path == "~":
        return Word('"$HOME"')
    if path.startswith("~/"):
        return Word('"$HOME"/' + shlex.quote(path[2:]))
    return Word(shlex.quote(path))


class Transport:
    """Runs commands on one device; every failure becomes a one-line ``RemoteError``."""

    def __init__(self, host: str, config: RemoteConfig, log: Callable[[str], None]) -> None:
        self.host, self.config, self.log = host, config, log

    @property
    def name(self) -> str:
        """The host without its user, as rows are labelled."""
        return self.host.rsplit("@", 1)[-1]

    def argv(self, script: str) -> list[str]:
        opts = ["-o", "BatchMode=yes", "-o", f"ConnectTimeout={self.config.connect_timeout}"]
        opts += ["-o", "ServerAliveInterval=5", "-o", "ServerAliveCountMax=3"]
        if os.environ.get("EDGERES_SSH_CONFIG"):
            opts = ["-F", os.environ["EDGERES_SSH_CONFIG"], *opts]
        return ["ssh", *opts, "--", self.host, script]

    def run(self, script: str, stdin: IO[bytes] | None = None, stream: bool = False) -> Output:
        """Run ``script`` on the device; with ``stream`` its stderr lines pass through ``log``.

        Raises:
            RemoteError: ssh could not connect or authenticate, the connection was cut, or the
                command ran past ``remote_timeout``. A non-zero status of the command itself is
                returned, not raised.
        """
        proc = self._popen(script, stdin)
        tail: list[str] = []
        chunks: list[bytes] = []
        readers = [
            threading.Thread(target=self._read_stderr, args=(proc, tail, stream), daemon=True),
            threading.Thread(target=lambda: chunks.append(proc.stdout.read()), daemon=True),
        ]
        for reader in readers:
            reader.start()
        try:
            proc.wait(timeout=self.config.remote_timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
            raise RemoteError(
                f"{self.host} did not finish within {self.config.remote_timeout:g} s "
                "(--remote-timeout); it was given up"
            ) from None
        for reader in readers:
            reader.join(timeout=10)
        stdout = b"".join(chunks)
        out = Output(proc.returncode, stdout, "\n".join(tail))
        if out.returncode == SSH_FAILED:
            raise RemoteError(ssh_failure(self.host, out.stderr))
        return out

    def _popen(self, script: str, stdin: IO[bytes] | None) -> subprocess.Popen:
        try:
            return subprocess.Popen(
                self.argv(script),
                stdin=stdin if stdin is not None else subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
            )
        except FileNotFoundError:
            raise RemoteError(
                "--remote needs the OpenSSH client 'ssh', which is not installed here; "
                "install it (Debian/Ubuntu: apt-get install openssh-client)"
            ) from None

    def _read_stderr(self, proc: subprocess.Popen, tail: list[str], stream: bool) -> None:
        for raw in iter(proc.stderr.readline, b""):
            line = raw.decode("utf-8", "replace").rstrip("\r\n")
            tail.append(line)
            del tail[:-20]
            # The device's own "error:" line ends up in the RemoteError: shown once, not twice.
            if stream and line and _NOT_FOUND_MARK not in line and not line.startswith("error:"):
                self.log(line)

    def check(self, script: str, what: str, stdin: IO[bytes] | None = None) -> bytes:
        """Run ``script``; a non-zero status is a ``RemoteError`` naming ``what`` failed."""
        out = self.run(script, stdin=stdin)
        if out.returncode != 0:
            raise RemoteError(f"{what} on {self.host} failed: {last_line(out.stderr)}")
        return out.stdout


def edgeres_script(venv: str, *commands: list[str]) -> str:
    """A device script that runs ``edgeres ARGS`` for each list of ARGS (``&&``) from ``venv``
    or else the PATH (exit 127: none); each argument is quoted unless it is a ``Word``."""
    runs = " && ".join(
        '"$E" ' + " ".join(a if isinstance(a, Word) else shlex.quote(a) for a in args)
        for args in commands
    )
    return (
        f'E={shell_path(venv)}/bin/edgeres; [ -x "$E" ] || E=$(command -v edgeres) || E=; '
        f'if [ -z "$E" ]; then echo {_NOT_FOUND_MARK} >&2; exit {NOT_FOUND}; fi; {runs}; '
        "exit $?"  # not exec'd by the shell: a killed edgeres is an exit status, not a cut line
    )


def is_not_found(out: Output) -> bool:
    return out.returncode == NOT_FOUND and _NOT_FOUND_MARK in out.stderr


def ssh_failure(host: str, stderr: str) -> str:
    """ssh's own error (exit 255) as one line that says what to do."""
    line = last_line(stderr)
    if any(a in stderr for a in _AUTH):
        return (
            f"authentication refused by {host} ({line}); edgeres uses key authentication only: "
            f"check 'ssh {host} true' works without a password (ssh-copy-id {host})"
        )
    if "closed by remote host" in stderr or "Broken pipe" in stderr or "timeout" in stderr:
        return f"lost the connection to {host} ({line}); check the device is up and run again"
    return f"cannot reach {host} ({line}); check the name, that it is up and 'ssh {host} true'"


def last_line(text: str) -> str:
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    lines = [line for line in lines if _NOT_FOUND_MARK not in line]
    return lines[-1] if lines else "no message"
