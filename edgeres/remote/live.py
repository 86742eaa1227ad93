"""``edgeres run --remote HOST``: a live run on the device itself, its output brought back as it
happens.

The model (and a local ``--source`` file or folder) goes into the device's cache; the device's own
``edgeres run`` streams its ``--json`` lines to this stdout and its log (the summary too) to this
stderr. Ctrl-C here stops the device's run as Ctrl-C there would. ``--serve`` on a loopback address
serves the page on the device's loopback and forwards it over the same SSH connection to this
machine's ``127.0.0.1:PORT``, so the viewer key never crosses the network; ``--serve 0.0.0.0:PORT``
serves it on the device's network instead. ``--save OUT.mp4`` is recorded on the device and copied
back under its final name only once the run has ended well.
"""

from __future__ import annotations

import json
import os
import secrets
import shlex
import sys
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from edgeres.errors import RemoteError, UsageError
from edgeres.fileio import atomic_path
from edgeres.remote.cache import place_file, place_folder, place_profile
from edgeres.remote.config import RemoteConfig
from edgeres.remote.device import ready
from edgeres.remote.fleet import stderr_log
from edgeres.remote.ssh import Transport, Word, last_line, raise_exit, shell_path, watched_script
from edgeres.stream.serve import parse_host_port
from edgeres.stream.serve_guard import is_loopback
from edgeres.stream.sinks import check_save_path
from edgeres.text import shown

# Sources that name something on the device itself, passed as they are.
_DEVICE_SOURCES = ("demo", "picamera")


@dataclass(frozen=True)
class LiveRun:
    """What ``edgeres run`` was asked to do, as the device will be asked.

    Attributes:
        model: The local model file.
        flags: The device's ``run`` flags other than the model, ``--source``, ``--profile``
            and ``--save`` (already CLI words).
        source: ``--source`` as given here (``None``: the device profile's camera).
        profile: ``--profile`` as given here.
        save: ``--save`` as given here: recorded on the device, copied back to this path.
        force: Replace an existing ``save`` here.
        serve: ``--serve`` as given.
    """

    model: Path
    flags: tuple[str, ...] = ()
    source: str | None = None
    profile: str | None = None
    save: Path | None = None
    force: bool = False
    serve: str | None = None


def remote_run(remote: RemoteConfig, job: LiveRun, stop: threading.Event) -> None:
    """Run ``job`` on the one device ``remote`` names until it ends or ``stop`` is set.

    Raises:
        UsageError: More than one device, a ``--save`` that exists, an unforwardable ``--serve``.
        RemoteError: Anything the device or the connection did wrong (one line).
    """
    if len(remote.hosts) != 1:
        raise UsageError(
            f"run --remote takes one device (got {len(remote.hosts)}): a live run streams one "
            "device's frames; start one edgeres run per device"
        )
    if job.save is not None:
        check_save_path(job.save, job.force)
    host = remote.hosts[0]
    forwards, rewrite = _forward(job.serve, host)
    t = Transport(host, remote, rewrite(stderr_log("")))
    ready(t)
    args: list[str | Word] = ["run", place_file(t, job.model).word, *job.flags]
    if job.source is not None:
        args += ["--source", device_source(t, job.source)]
    if job.profile is not None:
        args += ["--profile", place_profile(t, job.profile)]
    folder = recording = None
    if job.save is not None:
        folder = shell_path(f"{remote.remote_cache.rstrip('/')}/runs/{secrets.token_hex(8)}")
        recording = Word(f"{folder}/{shlex.quote(job.save.name)}")
        t.check(f"mkdir -p {folder}", "making a folder for --save")
        args += ["--save", recording]
    out = t.stream(watched_script(remote.remote_venv, args), _stdout_writer(stop), stop, forwards)
    if out.returncode != 0:
        kept = f"; the device keeps what it recorded in {folder}" if folder else ""
        raise_exit(out, f"'edgeres run' on {t.host}", kept)
    if recording is not None:
        fetch(t, recording, job.save)
        t.run(f"rm -rf {folder}")


def device_source(t: Transport, source: str) -> str | Word:
    """``--source`` as the device sees it: ``remote:/path`` is a device path, a local file or
    image folder is copied into the cache, anything else (a camera index, ``demo``, a URL,
    ``gst:...``) passes unchanged."""
    if source.startswith("remote:"):
        return source.removeprefix("remote:")
    if (
        source.isdigit()
        or source in _DEVICE_SOURCES
        or "://" in source
        or source.startswith("gst:")
    ):
        return source
    path = Path(source).expanduser()
    if path.is_file():
        return place_file(t, path, "files").word
    if path.is_dir():
        return place_folder(t, path).word
    return source


def fetch(t: Transport, word: Word, dest: Path) -> None:
    """Copy a device file to ``dest``: written beside it under a temporary name, renamed into
    place only when the whole file has arrived."""
    with atomic_path(dest) as tmp, open(tmp, "wb") as f:
        out = t.run(f"cat {word}", stdout=f)
        if out.returncode != 0:
            raise RemoteError(
                f"copying {dest.name} back from {t.name} failed: {last_line(out.stderr)}"
            )
    t.log(f"saved {dest} ({dest.stat().st_size / 1e6:.2f} MB, recorded on {t.name})")


def _forward(
    serve: str | None, host: str
) -> tuple[list[str], Callable[[Callable[[str], None]], Callable[[str], None]]]:
    """The ``-L`` forwards for ``--serve`` and a log wrapper that names the forwarded page."""
    same = lambda log: log  # noqa: E731
    if not serve:
        return [], same
    bind, port = parse_host_port(serve)
    if not is_loopback(bind):
        return [], same  # served on the device's network: its own addresses are printed
    if port == 0:
        raise UsageError(
            "--serve with --remote needs a port number: the page is forwarded to the same port "
            "here (e.g. --serve 8080)"
        )
    device_url = f"http://{bind}:{port}/"
    local_url = f"http://127.0.0.1:{port}/"

    def rewrite(log: Callable[[str], None]) -> Callable[[str], None]:
        def wrapped(line: str) -> None:
            if line.startswith("web page: ") and device_url in line:
                line = line.replace(device_url, local_url) + f" (forwarded over SSH from {host})"
            log(line)

        return wrapped

    return [f"127.0.0.1:{port}:{bind}:{port}"], rewrite


def _stdout_writer(stop: threading.Event) -> Callable[[str], None]:
    """Each device stdout line (a ``--json`` frame) to this stdout; a closed reader stops the run."""

    broken = threading.Event()

    def write(line: str) -> None:
        if broken.is_set():
            return
        try:  # re-encoded: a device's frame reaches this terminal with no raw control character
            line = json.dumps(json.loads(line), separators=(",", ":"))
        except (ValueError, RecursionError):
            line = shown(line)
        try:
            sys.stdout.write(line + "\n")
            sys.stdout.flush()
        except BrokenPipeError:  # `edgeres run --remote ... --json | head`: stop like Ctrl-C
            broken.set()
            stop.set()
            devnull = os.open(os.devnull, os.O_WRONLY)  # keep the exit-time flush from failing
            os.dup2(devnull, sys.stdout.fileno())

    return write
