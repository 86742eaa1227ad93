"""Run one job on every device at once (a thread per host); one host that is slow, down or fails
keeps its error in its own ``HostResult`` and does not lose the others' results."""

from __future__ import annotations

import sys
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from edgeres.errors import EdgeresError, RemoteError
from edgeres.remote.config import RemoteConfig
from edgeres.remote.device import ready
from edgeres.remote.ssh import Transport

_LOG_LOCK = threading.Lock()


@dataclass
class HostResult:
    """One device's outcome.

    Attributes:
        host: As given to ``--remote``.
        result: What the job returned (``None`` when it failed).
        error: One line saying why it failed, else ``None``.
        device: The device's edgeres version and ``doctor --json`` (versions, checks).
    """

    host: str
    result: Any = None
    error: str | None = None
    device: dict = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return self.error is None

    @property
    def name(self) -> str:
        return self.host.rsplit("@", 1)[-1]


def stderr_log(prefix: str) -> Callable[[str], None]:
    """A logger that writes whole lines to stderr, each with ``prefix`` (threads don't mix)."""

    def log(line: str) -> None:
        with _LOG_LOCK:
            print(f"{prefix}{line}", file=sys.stderr, flush=True)

    return log


def run_fleet(config: RemoteConfig, job: Callable[[Transport, dict], Any]) -> list[HostResult]:
    """Check each device's edgeres, then run ``job(transport, device_info)`` on all of them.

    Device log lines are prefixed ``[host]`` when there is more than one device. When this
    thread is interrupted (Ctrl-C, SIGTERM: ``KeyboardInterrupt``), every device's command is
    stopped and its ssh ended before the interruption goes on.
    """
    hosts = config.hosts
    many = len(hosts) > 1
    cancel = threading.Event()

    def one(host: str) -> HostResult:
        t = Transport(host, config, stderr_log(f"[{host}] " if many else ""), cancel)
        outcome = HostResult(host)
        try:
            outcome.device = ready(t)
            outcome.result = job(t, outcome.device)
        except EdgeresError as e:
            outcome.error = str(e)
        except Exception as e:  # one host's bug must not lose the others' results
            outcome.error = f"{type(e).__name__}: {e}"
        return outcome

    pool = ThreadPoolExecutor(max_workers=min(len(hosts), 16))
    try:
        futures = [pool.submit(one, host) for host in hosts]
        return [f.result() for f in futures]
    except BaseException:
        cancel.set()  # each Transport stops its command within a poll and STOP_GRACE_S
        raise
    finally:
        pool.shutdown(wait=True, cancel_futures=True)


def raise_failures(results: list[HostResult]) -> None:
    """One ``RemoteError`` (exit 2) naming every device that failed, if any did."""
    failed = [r for r in results if not r.ok]
    if len(results) == 1 and failed:
        raise RemoteError(failed[0].error)
    if failed:
        names = "; ".join(f"{r.host}: {r.error}" for r in failed)
        raise RemoteError(f"{len(failed)} of {len(results)} devices failed ({names})")
