"""What ``--remote`` needs to know: which devices, how to reach them, where edgeres lives there.

Light (standard library only): the CLI reads each flag's default and help from ``RemoteConfig``.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from edgeres.errors import UsageError


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
        if self.remote_timeout <= 0:
            raise UsageError(f"--remote-timeout must be > 0 s, got {self.remote_timeout}")

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
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except OSError as e:
        raise UsageError(f"--remote hosts file '{path}' cannot be read: {e.strerror}") from None
    return [line.split("#", 1)[0].strip() for line in lines if line.split("#", 1)[0].strip()]
