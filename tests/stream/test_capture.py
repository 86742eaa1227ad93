"""The capture thread: newest frame wins for live sources, nothing lost for files, reconnects."""

from __future__ import annotations

import threading

import pytest

from edgeres.errors import DataError
from edgeres.stream import StreamConfig, open_source, run_stream
from edgeres.stream.capture import END, FrameBuffer


def test_newest_wins_buffer_counts_what_it_drops():
    buf, stop = FrameBuffer(1, newest_wins=True), threading.Event()
    for i in range(5):
        assert buf.put(i, stop)
    assert buf.get(0.01) == 4 and buf.dropped == 4
    assert buf.get(0.01) is None  # empty: a timeout, not the end
    buf.close()
    assert buf.get(0.01) is END


def test_bounded_buffer_waits_instead_of_dropping():
    buf, stop = FrameBuffer(2, newest_wins=False), threading.Event()
    got = []

    def consume():
        while (item := buf.get(1.0)) is not END:
            if item is not None:
                got.append(item)

    t = threading.Thread(target=consume)
    t.start()
    for i in range(50):
        assert buf.put(i, stop)
    buf.close()
    t.join(5)
    assert got == list(range(50)) and buf.dropped == 0


def test_put_returns_false_once_stopped():
    buf, stop = FrameBuffer(1, newest_wins=False), threading.Event()
    assert buf.put(0, stop)
    stop.set()
    assert not buf.put(1, stop)  # full and stopped: gives up instead of waiting forever


def test_a_camera_that_disappears_is_reopened_and_the_gap_counted(backend, fake_camera):
    cam = fake_camera(first=5, down=2)
    source = open_source("0", 64, 48, 200, factory=cam.factory)
    summary = run_stream(backend, source, config=StreamConfig(max_frames=12))
    assert summary.frames == 12 and summary.stopped_by == "max-frames"
    assert summary.reconnects == 1
    assert summary.gap_seconds > 0
    assert cam.opens == 4  # the first open, two failed reopens, the one that worked


def test_a_camera_that_never_comes_back_fails_after_the_timeout(backend, fake_camera):
    cam = fake_camera(first=3, down=None)
    source = open_source("0", 64, 48, 200, factory=cam.factory)
    with pytest.raises(DataError, match="could not be reopened within 0.5 s"):
        run_stream(backend, source, config=StreamConfig(reconnect_timeout=0.5))
    assert not [t for t in threading.enumerate() if t.name.startswith("edgeres-")]
