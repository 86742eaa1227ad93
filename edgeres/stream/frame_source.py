"""The interface every frame source implements: ``open``, ``read -> (ok, frame, timestamp)``,
``close``.

Its own module so that sources defined elsewhere (``demo``) subclass it without importing
``sources``, which opens them by name.
"""

from __future__ import annotations

from abc import ABC, abstractmethod

import numpy as np


class FrameSource(ABC):
    """A stream of BGR ``uint8`` frames.

    Attributes:
        name: The source as the user gave it.
        kind: ``camera``, ``file``, ``url``, ``gstreamer``, ``picamera``, ``folder`` or ``demo``.
        live: Frames arrive in real time whether or not anyone reads them (the newest one wins);
            a failed read means the device went away (reconnect), not the end of the stream.
        fps: Nominal frames per second (from the device/file, else the requested value).
        paced: The capture thread must pace reads at ``fps`` (a synthetic live source that would
            otherwise produce frames as fast as it is read).
    """

    name: str = ""
    kind: str = ""
    live: bool = False
    fps: float = 30.0
    paced: bool = False

    @abstractmethod
    def open(self) -> None:
        """Open (or reopen) the source; raise ``DataError`` if it cannot be opened."""

    @abstractmethod
    def read(self) -> tuple[bool, np.ndarray | None, float]:
        """Return ``(ok, frame, timestamp)``; ``ok`` is ``False`` at the end or on failure.

        ``timestamp`` is media time in seconds for files and folders, Unix time for live sources.
        """

    @abstractmethod
    def close(self) -> None:
        """Release the device or file; safe to call twice."""

    def __enter__(self) -> FrameSource:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
