"""Reading a device's output in a bounded way, and ending ssh: a device that sends one endless
line or an endless reply costs a fixed amount of memory here, never the size of what it sends."""

from __future__ import annotations

import contextlib
import subprocess
from collections.abc import Iterator
from typing import IO


def bounded_lines(pipe: IO[bytes], limit: int) -> Iterator[tuple[str, bool]]:
    """Each line of ``pipe`` as ``(text, cut)``, without its end; a line longer than ``limit``
    bytes is cut there (``cut``: its rest is skipped), so a device sending one endless line
    costs ``limit`` bytes here, not the line."""
    skipping = False
    for raw in iter(lambda: pipe.readline(limit), b""):
        long = len(raw) >= limit and not raw.endswith(b"\n")
        if not skipping:
            text = raw.decode("utf-8", "replace").rstrip("\r\n")
            yield (f"{text}... (cut at {limit} bytes)" if long else text), long
        skipping = long


class Reply:
    """A command's stdout, kept up to ``limit`` bytes; past it, ``overflow`` is set and the rest
    is read and dropped (the command is then stopped)."""

    def __init__(self, limit: int) -> None:
        self.limit, self.size, self.overflow = limit, 0, False
        self.chunks: list[bytes] = []

    def read(self, pipe: IO[bytes]) -> None:
        while chunk := pipe.read1(1 << 16):
            self.size += len(chunk)
            if self.size > self.limit:
                self.overflow, self.chunks = True, []
            elif not self.overflow:
                self.chunks.append(chunk)

    def data(self) -> bytes:
        return b"".join(self.chunks)


def stop_process(proc: subprocess.Popen, grace: float) -> None:
    """End ``proc`` (ssh): close its stdin first (a watched device command stops on that) and
    give it ``grace`` seconds to end by itself, then kill it."""
    if proc.stdin is not None:
        with contextlib.suppress(OSError):
            proc.stdin.close()
        try:
            proc.wait(timeout=grace)
            return
        except subprocess.TimeoutExpired:
            pass
    proc.kill()
    proc.wait()
