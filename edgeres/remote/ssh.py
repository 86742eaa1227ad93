"""One device over SSH: the system's OpenSSH client, so ``~/.ssh/config``, agents, jump hosts and
known_hosts work as users expect. edgeres never handles passwords (``BatchMode=yes``).

Commands run in the device's POSIX shell; paths are shell words made by ``shell_path`` (``~/``
becomes ``"$HOME"/``). ``EDGERES_SSH_CONFIG`` names an ssh config file to use instead of
``~/.ssh/config`` (``ssh -F``).
"""

from __future__ import annotations

import contextlib
import os
import shlex
import signal
import subprocess
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import IO, NoReturn

from edgeres.errors import RemoteError
from edgeres.remote.config import RemoteConfig
from edgeres.remote.pipes import Reply, bounded_lines, stop_process
from edgeres.text import clipped, redact

# ssh's own exit status for its errors (connection, authentication, a cut connection).
SSH_FAILED = 255
# The device shell's status when no edgeres was found (see ``edgeres_script``).
NOT_FOUND = 127
_NOT_FOUND_MARK = "edgeres-not-found-on-device"
# A device's stdout reply (JSON): a benchmark of many files is well under 1 MB.
MAX_REPLY_BYTES = 64_000_000
# One stderr line from a device; a live run's stdout line (one --json frame).
MAX_LINE_BYTES = 8 << 10
MAX_FRAME_BYTES = 1 << 20
# Seconds a stopped device command has to end after its stdin closed, before ssh is cut.
STOP_GRACE_S = 3.0
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
    """Runs commands on one device; every failure becomes a one-line ``RemoteError``.

    Setting ``cancel`` (a fleet's, when this edgeres is interrupted) stops every command it runs.
    """

    def __init__(
        self,
        host: str,
        config: RemoteConfig,
        log: Callable[[str], None],
        cancel: threading.Event | None = None,
    ) -> None:
        self.host, self.config, self.log = host, config, log
        self.cancel = cancel or threading.Event()

    @property
    def name(self) -> str:
        """The host without its user, as rows are labelled."""
        return self.host.rsplit("@", 1)[-1]

    def argv(self, script: str, forwards: Sequence[str] = ()) -> list[str]:
        """The ssh command line; each of ``forwards`` is an ``-L`` spec (``ExitOnForwardFailure``)."""
        opts = ["-o", "BatchMode=yes", "-o", f"ConnectTimeout={self.config.connect_timeout}"]
        opts += ["-o", "ServerAliveInterval=5", "-o", "ServerAliveCountMax=3"]
        if forwards:
            opts += ["-o", "ExitOnForwardFailure=yes"]
            opts += [a for spec in forwards for a in ("-L", spec)]
        if os.environ.get("EDGERES_SSH_CONFIG"):
            opts = ["-F", os.environ["EDGERES_SSH_CONFIG"], *opts]
        return ["ssh", *opts, "--", self.host, script]

    def run(
        self,
        script: str,
        stdin: IO[bytes] | None = None,
        stream: bool = False,
        stdout: IO[bytes] | None = None,
        watch: bool = False,
    ) -> Output:
        """Run ``script`` on the device; with ``stream`` its stderr lines pass through ``log``.
        Its stdout is returned (at most ``MAX_REPLY_BYTES``), or written to the file ``stdout``
        when one is given.

        With ``watch`` (a ``watched_script``) ssh's stdin stays open, and closing it stops the
        device's command (SIGTERM there): on ``--remote-timeout``, when ``cancel`` is set (Ctrl-C
        or SIGTERM here) and when the reply grows past its limit. ssh itself is cut
        ``STOP_GRACE_S`` later; a cut connection stops a watched command too.

        Raises:
            RemoteError: ssh could not connect or authenticate, the connection was cut, the
                command ran past ``remote_timeout``, was cancelled, or replied too much. A
                non-zero status of the command itself is returned, not raised.
        """
        if self.cancel.is_set():
            raise RemoteError(f"{self.host}: not started, edgeres is stopping")
        proc = self._popen(script, subprocess.PIPE if watch else stdin, stdout=stdout)
        tail: list[str] = []
        reply = Reply(MAX_REPLY_BYTES)
        readers = [
            threading.Thread(target=self._read_stderr, args=(proc, tail, stream), daemon=True)
        ]
        if stdout is None:
            readers.append(threading.Thread(target=reply.read, args=(proc.stdout,), daemon=True))
        for reader in readers:
            reader.start()
        try:
            self._wait(proc, reply)
        finally:
            if proc.poll() is None:  # an exception here (a bug, a signal): never leave ssh behind
                stop_process(proc, STOP_GRACE_S)
            if proc.stdin is not None:
                with contextlib.suppress(OSError):
                    proc.stdin.close()
        for reader in readers:
            reader.join(timeout=10)
        if reply.overflow:
            raise RemoteError(self._too_much())
        out = Output(proc.returncode, reply.data(), "\n".join(tail))
        if out.returncode == SSH_FAILED:
            raise RemoteError(ssh_failure(self.host, out.stderr))
        return out

    def _wait(self, proc: subprocess.Popen, reply: Reply) -> None:
        """Wait for ``proc``; stop it and raise when it runs too long, is cancelled or replies
        too much."""
        deadline = time.monotonic() + self.config.remote_timeout
        while True:
            try:
                proc.wait(timeout=0.1)
                return
            except subprocess.TimeoutExpired:
                pass
            if reply.overflow:
                why = self._too_much()
            elif self.cancel.is_set():
                why = f"{self.host}: stopped (edgeres was interrupted here); its command too"
            elif time.monotonic() > deadline:
                why = (
                    f"{self.host} did not finish within {self.config.remote_timeout:g} s "
                    "(--remote-timeout); it was given up and its command stopped"
                )
            else:
                continue
            stop_process(proc, STOP_GRACE_S)
            raise RemoteError(why)

    def _too_much(self) -> str:
        return (
            f"{self.host} replied more than {MAX_REPLY_BYTES // 1_000_000} MB on stdout; the reply was "
            "refused and the command stopped (is the device's edgeres the one this one expects?)"
        )

    def stream(
        self,
        script: str,
        on_line: Callable[[str], None],
        stop: threading.Event,
        forwards: Sequence[str] = (),
        grace: float = 30.0,
    ) -> Output:
        """Run a ``watched_script``, handing each stdout line to ``on_line`` as it arrives and
        each stderr line to ``log``; no time limit (the command's own flags bound it).

        When ``stop`` is set, ssh's stdin is closed: the device script then stops its command
        with SIGTERM, which ends it as Ctrl-C would (its summary still comes back). ssh runs in
        its own session, so a Ctrl-C here reaches only this process. A device that has not
        finished ``grace`` seconds after that loses the connection.

        Raises:
            RemoteError: As ``run``; also when a forward's local port is taken here.
        """
        proc = self._popen(script, subprocess.PIPE, forwards=forwards, new_session=True)
        tail: list[str] = []
        readers = [
            threading.Thread(target=self._read_stderr, args=(proc, tail, True), daemon=True),
            threading.Thread(
                target=_read_lines, args=(proc.stdout, on_line, self.log), daemon=True
            ),
        ]
        for reader in readers:
            reader.start()
        closed_at = None
        try:
            while proc.poll() is None:
                if stop.is_set() and closed_at is None:
                    proc.stdin.close()
                    closed_at = time.monotonic()
                if closed_at is not None and time.monotonic() - closed_at > grace:
                    proc.kill()
                time.sleep(0.1)
        finally:
            if proc.poll() is None:  # a second Ctrl-C (KeyboardInterrupt) or a bug: cut it
                proc.kill()
            proc.wait()
        for reader in readers:
            reader.join(timeout=10)
        out = Output(proc.returncode, b"", "\n".join(tail))
        if out.returncode == SSH_FAILED:
            busy = "Address already in use" in out.stderr or "forwarding" in out.stderr.lower()
            if forwards and busy:
                raise RemoteError(
                    f"cannot forward {', '.join(forwards)} from here to {self.host} "
                    f"({last_line(out.stderr)}); is the port in use here? choose another --serve port"
                )
            raise RemoteError(ssh_failure(self.host, out.stderr))
        return out

    def _popen(
        self,
        script: str,
        stdin: IO[bytes] | int | None,
        stdout: IO[bytes] | None = None,
        forwards: Sequence[str] = (),
        new_session: bool = False,
    ) -> subprocess.Popen:
        try:
            return subprocess.Popen(
                self.argv(script, forwards),
                stdin=stdin if stdin is not None else subprocess.DEVNULL,
                stdout=stdout if stdout is not None else subprocess.PIPE,
                stderr=subprocess.PIPE,
                start_new_session=new_session,
            )
        except FileNotFoundError:
            raise RemoteError(
                "--remote needs the OpenSSH client 'ssh', which is not installed here; "
                "install it (Debian/Ubuntu: apt-get install openssh-client)"
            ) from None

    def _read_stderr(self, proc: subprocess.Popen, tail: list[str], stream: bool) -> None:
        for line, _ in bounded_lines(proc.stderr, MAX_LINE_BYTES):
            tail.append(line)
            del tail[:-20]
            # The device's own "error:" line ends up in the RemoteError: shown once, not twice.
            if stream and line and _NOT_FOUND_MARK not in line and not line.startswith("error:"):
                # Device text is data: no terminal escapes, no camera passwords in the log.
                self.log(redact(line))

    def check(self, script: str, what: str, stdin: IO[bytes] | None = None) -> bytes:
        """Run ``script``; a non-zero status is a ``RemoteError`` naming ``what`` failed."""
        out = self.run(script, stdin=stdin)
        if out.returncode != 0:
            raise RemoteError(f"{what} on {self.host} failed: {last_line(out.stderr)}")
        return out.stdout


def edgeres_script(venv: str, *commands: list[str]) -> str:
    """A device script that runs ``edgeres ARGS`` for each list of ARGS (``&&``) from ``venv``
    or else the PATH (exit 127: none); each argument is quoted unless it is a ``Word``."""
    runs = " && ".join(_call(args) for args in commands)
    # Not exec'd by the shell: a killed edgeres is an exit status, not a cut line.
    return f"{_find_edgeres(venv)} {runs}; exit $?"


def _call(args: list) -> str:
    """``"$E" ARGS``, each argument quoted unless it is a ``Word`` already."""
    return '"$E" ' + " ".join(a if isinstance(a, Word) else shlex.quote(a) for a in args)


def _find_edgeres(venv: str) -> str:
    """Device shell that sets ``$E`` to the venv's edgeres or the PATH's, else exits 127."""
    return (
        f'E={shell_path(venv)}/bin/edgeres; [ -x "$E" ] || E=$(command -v edgeres) || E=; '
        f'if [ -z "$E" ]; then echo {_NOT_FOUND_MARK} >&2; exit {NOT_FOUND}; fi;'
    )


def watched_script(venv: str, args: list[str]) -> str:
    """Like ``edgeres_script`` for one command that may run for hours (``run``): it runs in the
    background, unbuffered, and is sent SIGTERM when the script's stdin closes: when the
    ssh client closes it (``Transport.stream``'s stop) or the connection is gone."""
    return (
        f"{_find_edgeres(venv)} exec 3<&0; PYTHONUNBUFFERED=1 {_call(args)} </dev/null & p=$!; "
        '{ while read -r _; do :; done <&3; kill -TERM "$p"; } >/dev/null 2>&1 & w=$!; '
        'wait "$p"; rc=$?; kill "$w" 2>/dev/null; exit "$rc"'
    )


def _read_lines(
    pipe: IO[bytes], on_line: Callable[[str], None], log: Callable[[str], None]
) -> None:
    for line, cut in bounded_lines(pipe, MAX_FRAME_BYTES):
        if cut:
            log(f"dropped a line of more than {MAX_FRAME_BYTES >> 20} MB from the device's stdout")
        else:
            on_line(line)


def raise_exit(out: Output, what: str, note: str = "") -> NoReturn:
    """The device command's non-zero exit as one ``RemoteError``: killed by a signal, or its
    own ``error:`` line; ``note`` ends the message."""
    if out.returncode > 128:
        sig = out.returncode - 128
        name = signal.Signals(sig).name if sig in signal.valid_signals() else str(sig)
        raise RemoteError(f"{what} was killed ({name}) before it finished{note}")
    reason = last_line(out.stderr).removeprefix("error: ")
    raise RemoteError(f"{what} exited {out.returncode}: {reason}{note}")


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
    """The last non-empty line of a device's stderr, cut to a sane length, credentials cut."""
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    lines = [line for line in lines if _NOT_FOUND_MARK not in line]
    return redact(clipped(lines[-1])) if lines else "no message"
