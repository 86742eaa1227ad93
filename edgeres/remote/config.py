"""What ``--remote`` needs to know: which devices, how to reach them, where edgeres lives there.

Light (standard library only): the CLI reads each flag's default and help from ``RemoteConfig``.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from pathlib import Path

from edgeres.errors import UsageError
from edgeres.text import shown

# A hosts file lists devices: a fleet of thousands is already far beyond a thread per host.
MAX_HOSTS_FILE_BYTES = 1 << 20
MAX_HOSTS = 4096
MAX_HOST_LENGTH = 255
# What ssh takes as a destination: [user@]name (a host, an alias, an IPv4 address),
# [user@]IPv6 (bare or in brackets) or ssh://[user@]host[:port].
_USER = r"(?:[\w.+-]+@)?"
_IPV6 = r"[0-9A-Fa-f.]*:[0-9A-Fa-f:.]*(?:%[\w.-]+)?"
_HOST = re.compile(
    rf"{_USER}(?:[\w.%-]+|{_IPV6}|\[{_IPV6}\])"
    rf"|ssh://{_USER}(?:[\w.%-]+|\[{_IPV6}\])(?::\d+)?"
)


@dataclass(frozen=True)
class RemoteConfig:
    """Devices reached over SSH (the system's OpenSSH client, BatchMode: keys or an agent).

    Attributes:
        remote: Run on these devices over SSH instead of here: HOST, a list a,b,c, or
            @hosts.txt (one per line); HOST is anything ssh takes, e.g. pi@pi5.local or a
            ~/.ssh/config alias (``--remote``).
        install: Install this edgeres into the device's venv when it is missing there or a
            different version (``--install``).
        remote_venv: The device's edgeres virtual environment, used before any edgeres on
            the device's PATH (``--remote-venv``).
        remote_cache: The device's cache of copied models and data, by sha256
            (``--remote-cache``).
        connect_timeout: Seconds to wait for each SSH connection (``--connect-timeout``).
        remote_timeout: Seconds a device's command may run before it is given up
            (``--remote-timeout``).
    """

    remote: str | None = None
    install: bool = False
    remote_venv: str = "~/.local/share/edgeres/venv"
    remote_cache: str = "~/.cache/edgeres"
    connect_timeout: int = 10
    remote_timeout: float = 3600.0

    def __post_init__(self) -> None:
        if self.connect_timeout < 1:
            raise UsageError(f"--connect-timeout must be >= 1 s, got {self.connect_timeout}")
        if not (math.isfinite(self.remote_timeout) and self.remote_timeout > 0):
            raise UsageError(
                f"--remote-timeout must be a number of seconds > 0, got {self.remote_timeout}"
            )

    @property
    def hosts(self) -> tuple[str, ...]:
        """The devices named by ``remote``, in order, without repeats."""
        return parse_hosts(self.remote or "")


def parse_hosts(text: str) -> tuple[str, ...]:
    """``a,b,c`` or ``@hosts.txt`` (one host per line, ``#`` comments) as a tuple of hosts."""
    items: list[str] = []
    for part in text.split(","):
        part = part.strip()
        if part.startswith("@"):
            items += _read_hosts_file(Path(part[1:]).expanduser())
        elif part:
            items.append(part)
    if not items:
        raise UsageError(f"--remote names no host (got '{text}'); give HOST, a,b,c or @hosts.txt")
    bad = [h for h in items if h.startswith("-") or any(c.isspace() for c in h)]
    if bad:
        raise UsageError(f"--remote host '{bad[0]}' is not a host name (no spaces, no leading '-')")
    return tuple(dict.fromkeys(items))


def _read_hosts_file(path: Path) -> list[str]:
    """The hosts in ``path``, read in a bounded way; its lines are never shown back (a wrong
    ``@/etc/shadow`` must not print the file), only their numbers."""
    try:
        with open(path, "rb") as f:
            data = f.read(MAX_HOSTS_FILE_BYTES + 1)
    except OSError as e:
        raise UsageError(
            f"--remote hosts file '{shown(path)}' cannot be read: {e.strerror}"
        ) from None
    if len(data) > MAX_HOSTS_FILE_BYTES:
        raise UsageError(
            f"--remote hosts file '{shown(path)}' is larger than {MAX_HOSTS_FILE_BYTES >> 20} MB; "
            "it should list one host per line"
        )
    try:
        lines = data.decode("utf-8").splitlines()
    except UnicodeDecodeError:
        raise UsageError(f"--remote hosts file '{shown(path)}' is not UTF-8 text") from None
    hosts = []
    for number, line in enumerate(lines, 1):
        host = line.split("#", 1)[0].strip()
        if not host:
            continue
        if len(host) > MAX_HOST_LENGTH or not _HOST.fullmatch(host):
            raise UsageError(
                f"--remote hosts file '{shown(path)}' line {number} is not a host name "
                "(one [user@]host per line, '#' comments); is it the right file?"
            )
        hosts.append(host)
    if len(hosts) > MAX_HOSTS:
        raise UsageError(f"--remote hosts file '{shown(path)}' lists more than {MAX_HOSTS} hosts")
    return hosts
