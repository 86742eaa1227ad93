"""Sinks: the saved mp4, the window's missing-GUI message, the web page (also in headless Chromium)."""

from __future__ import annotations

import json
import os
import subprocess
import tempfile
import threading
import time
import urllib.request
from pathlib import Path

import cv2
import numpy as np
import pytest

from edgeres.errors import MissingDependencyError, OutputExistsError, UsageError
from edgeres.fileio import DiskFullError
from edgeres.stream import SaveSink, ShowSink, Sink, StreamConfig, open_source, run_stream
from edgeres.stream.overlay import annotate
from edgeres.stream.serve import ServeSink, parse_host_port
from edgeres.stream.sinks import gui_available

CHROMIUM = "/usr/bin/chromium"
BACKGROUND = np.array([0x21, 0x1F, 0x1D])  # the page's #1d1f21 in BGR


def _frame_count(path: Path) -> int:
    cap = cv2.VideoCapture(str(path))
    n = 0
    while cap.read()[0]:
        n += 1
    cap.release()
    return n


def test_save_writes_a_video_with_every_frame_and_no_temp_files(
    backend, video_file, tmp_path, video_frames
):
    out = tmp_path / "out" / "annotated.mp4"
    sink = SaveSink(out)
    run_stream(backend, open_source(str(video_file)), [sink])
    assert _frame_count(out) == video_frames
    cap = cv2.VideoCapture(str(out))
    assert cap.get(cv2.CAP_PROP_FPS) == pytest.approx(30.0)
    # The 160 px frames were enlarged to 320 px for a legible overlay.
    assert int(cap.get(cv2.CAP_PROP_FRAME_WIDTH)) == 320
    cap.release()
    assert [p.name for p in out.parent.iterdir()] == ["annotated.mp4"]


def test_save_refuses_to_overwrite_unless_forced(backend, video_file, tmp_path, video_frames):
    out = tmp_path / "a.mp4"
    out.write_bytes(b"precious")
    with pytest.raises(OutputExistsError, match="--force"):
        SaveSink(out)
    run_stream(backend, open_source(str(video_file)), [SaveSink(out, force=True)])
    assert _frame_count(out) == video_frames
    with pytest.raises(UsageError, match=".mp4"):
        SaveSink(tmp_path / "a.avi")


def test_a_failed_run_leaves_no_video(backend, tmp_path):
    out = tmp_path / "fail.mp4"
    sink = SaveSink(out)
    source = open_source("demo", 96, 64, 100)

    class Boom(Sink):
        def write(self, result):
            raise RuntimeError("boom")

    with pytest.raises(RuntimeError):
        run_stream(backend, source, [sink, Boom()], StreamConfig(max_frames=20))
    assert list(tmp_path.iterdir()) == []


def test_show_without_a_gui_says_how_to_get_one():
    if gui_available():
        pytest.skip("this OpenCV has a GUI")
    with pytest.raises(MissingDependencyError, match="pip install opencv-python"):
        ShowSink()


def test_overlay_draws_on_a_copy():
    img = np.full((240, 320, 3), 128, np.uint8)
    out = annotate(img, "circle", 0.93, 29.7, "square 3.0%")
    assert out.shape == img.shape and (img == 128).all() and not (out == 128).all()
    assert annotate(np.zeros((32, 32, 3), np.uint8), "x", 0.5, 1.0).shape == (320, 320, 3)


def test_parse_host_port_defaults_to_localhost():
    assert parse_host_port("8080") == ("127.0.0.1", 8080)
    assert parse_host_port(":8080") == ("127.0.0.1", 8080)
    assert parse_host_port("0.0.0.0:81") == ("0.0.0.0", 81)
    with pytest.raises(UsageError, match="HOST:PORT"):
        parse_host_port("localhost:http")


class _Serving:
    """A demo run with --serve in a background thread, until the block ends."""

    def __init__(self, backend):
        self.sink = ServeSink("127.0.0.1:0", source="demo")
        self.stop = threading.Event()
        src = open_source("demo", 320, 240, 30)
        self.thread = threading.Thread(
            target=run_stream, args=(backend, src, [self.sink], StreamConfig(), self.stop)
        )

    def __enter__(self):
        self.thread.start()
        deadline = time.monotonic() + 20
        # Frames are counted when inferred and written by the sink thread later: wait for both.
        while not self._ready() and time.monotonic() < deadline:
            time.sleep(0.1)
        return self

    def _ready(self) -> bool:
        stats = self._get("stats.json")[1]
        return stats.get("frames", 0) >= 3 and "sink" in stats.get("stages", {})

    def _get(self, path: str):
        with urllib.request.urlopen(self.sink.url + path, timeout=5) as r:
            body = r.read()
            ctype = r.headers["Content-Type"]
        return ctype, (json.loads(body) if ctype == "application/json" else body)

    def __exit__(self, *exc):
        self.stop.set()
        self.thread.join(10)


def test_serve_gives_page_frame_stats_and_mjpeg(backend):
    with _Serving(backend) as s:
        assert s.sink.host == "127.0.0.1"
        ctype, page = s._get("")
        assert ctype.startswith("text/html") and b"/stream.mjpg" in page
        ctype, stats = s._get("stats.json")
        assert stats["frames"] >= 3 and "infer" in stats["stages"]
        ctype, jpeg = s._get("frame.jpg")
        img = cv2.imdecode(np.frombuffer(jpeg, np.uint8), cv2.IMREAD_COLOR)
        assert ctype == "image/jpeg" and img.shape == (240, 320, 3)
        with urllib.request.urlopen(s.sink.url + "stream.mjpg", timeout=5) as r:
            assert r.headers["Content-Type"].startswith("multipart/x-mixed-replace")
            head = r.read(200)
        assert head.startswith(b"--edgeresframe\r\nContent-Type: image/jpeg")
    assert not s.thread.is_alive()


@pytest.mark.slow
@pytest.mark.skipif(
    not Path(CHROMIUM).exists(), reason="needs Debian's chromium: apt-get install -y chromium"
)
def test_web_page_shows_a_frame_in_headless_chromium(backend, tmp_path):
    shot = tmp_path / "page.png"
    with _Serving(backend) as s, tempfile.TemporaryDirectory() as profile:
        cmd = [
            CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
            "--no-first-run", "--disable-background-networking", "--disable-component-update",
            "--disable-sync", f"--user-data-dir={profile}", f"--screenshot={shot}",
            "--window-size=800,600", "--timeout=5000", s.sink.url,
        ]  # fmt: skip
        subprocess.run(cmd, capture_output=True, timeout=90, check=True)
    page = cv2.imread(str(shot))
    assert page is not None and page.shape[:2] == (600, 800)
    # The 320x240 stream sits below the title: everything there that is not the page background.
    differs = np.abs(page.astype(int) - BACKGROUND).max(axis=2) > 40
    ys, xs = np.nonzero(differs[50:])
    assert xs.max() - xs.min() >= 300 and ys.max() - ys.min() >= 230
    frame = page[50 + ys.min() + 60 : 50 + ys.max() - 10, xs.min() + 10 : xs.max() - 10]
    assert frame.std() > 5  # a real scene (gradient and shape), not a blank box


def test_folder_of_mixed_sizes_saves_one_video_size(backend, image_folder, tmp_path):
    out = tmp_path / "folder.mp4"
    summary = run_stream(backend, open_source(str(image_folder)), [SaveSink(out)])
    assert summary.frames == 5 and _frame_count(out) == 5


def test_show_window_stops_the_run_on_q(backend, monkeypatch):
    """The window logic with OpenCV's GUI calls stubbed (this build has no GUI)."""
    import edgeres.stream.sinks as sinks_mod

    keys = iter([-1, -1, ord("q")])
    calls = []
    monkeypatch.setattr(sinks_mod, "gui_available", lambda: True)
    monkeypatch.setenv("DISPLAY", ":0")
    monkeypatch.setattr(cv2, "imshow", lambda name, img: calls.append(img.shape), raising=False)
    monkeypatch.setattr(cv2, "waitKey", lambda ms: next(keys, -1), raising=False)
    monkeypatch.setattr(cv2, "getWindowProperty", lambda *a: 1.0, raising=False)
    monkeypatch.setattr(cv2, "destroyWindow", lambda name: calls.append("closed"), raising=False)
    s = run_stream(backend, open_source("demo", 96, 64, 100), [ShowSink()])
    assert s.stopped_by == "sink" and calls[-1] == "closed"
    assert calls[0] == (213, 320, 3)  # small frames are enlarged so the overlay is legible


def test_show_without_a_display_suggests_serve(monkeypatch):
    import edgeres.stream.sinks as sinks_mod

    monkeypatch.setattr(sinks_mod, "gui_available", lambda: True)
    monkeypatch.delenv("DISPLAY", raising=False)
    monkeypatch.delenv("WAYLAND_DISPLAY", raising=False)
    with pytest.raises(UsageError, match="--serve"):
        ShowSink()


def _raw_get(port: int, path: str = "/", host: str | None = None, headers=None, method="GET"):
    """One GET over 127.0.0.1 with the Host header we choose; (status, headers, body)."""
    import http.client

    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        conn.putrequest(method, path, skip_host=True)
        conn.putheader("Host", host if host is not None else f"127.0.0.1:{port}")
        for key, value in (headers or {}).items():
            conn.putheader(key, value)
        conn.endheaders()
        r = conn.getresponse()
        return r.status, r.headers, r.read()
    finally:
        conn.close()


@pytest.fixture
def serving():
    """ServeSinks made by the test, closed at its end."""
    made = []

    def make(address="127.0.0.1:0", **kw):
        made.append(ServeSink(address, **kw))
        return made[-1]

    yield make
    for sink in made:
        sink.close()


def test_serve_redacts_credentials_and_sends_security_headers(serving):
    import re

    sink = serving(source="rtsp://admin:hunter2@cam.local:554/live?password=pw1&x=1")
    status, headers, page = _raw_get(sink.port)
    assert status == 200
    assert b"hunter2" not in page and b"pw1" not in page
    assert b"rtsp://***@cam.local:554/live?password=***&amp;x=1" in page
    assert headers["X-Content-Type-Options"] == "nosniff"
    assert headers["X-Frame-Options"] == "DENY"
    csp = headers["Content-Security-Policy"]
    assert "default-src 'none'" in csp and "frame-ancestors 'none'" in csp
    nonce = re.search(r"'nonce-([^']+)'", csp).group(1)
    assert page.count(f'nonce="{nonce}"'.encode()) == 2  # the page's one script and one style
    status, headers, _ = _raw_get(sink.port, "/stats.json")
    assert status == 200 and headers["X-Content-Type-Options"] == "nosniff"


@pytest.mark.parametrize("method", ["POST", "FOO", "DELETE"])
def test_serve_other_methods_checked_first_and_answered_with_the_headers(serving, method):
    sink = serving("127.0.0.1:0", token="viewerkey1")
    port = sink.port
    status, _, _ = _raw_get(port, "/?token=viewerkey1", "evil.example", method=method)
    assert status == 403  # the Host check comes first, whatever the method
    assert _raw_get(port, "/", method=method)[0] == 401  # then the viewer key
    status, headers, _ = _raw_get(port, "/?token=viewerkey1", method=method)
    assert status == 501
    assert headers["X-Content-Type-Options"] == "nosniff" and headers["X-Frame-Options"] == "DENY"
    assert "default-src 'none'" in headers["Content-Security-Policy"]


def test_serve_quiet_when_a_viewer_resets(serving, capfd):
    import socket
    import struct

    sink = serving()
    for _ in range(5):  # a request, then a reset (SO_LINGER 0) before the page is read
        with socket.create_connection(("127.0.0.1", sink.port)) as s:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            s.sendall(f"GET / HTTP/1.1\r\nHost: 127.0.0.1:{sink.port}\r\n\r\n".encode())
    bad = b"GET /" + b"x" * 70000 + b" HTTP/1.1\r\n\r\n"  # too long: the library's own 414
    with socket.create_connection(("127.0.0.1", sink.port)) as s:
        s.sendall(bad)
        head = s.recv(65536).decode("latin-1")
    assert head.startswith("HTTP/1.0 414") or head.startswith("HTTP/1.1 414"), head[:200]
    assert "nosniff" in head and "Content-Security-Policy" in head
    time.sleep(0.5)
    err = capfd.readouterr().err
    assert "Traceback" not in err and "Error" not in err, err[-2000:]


@pytest.mark.parametrize(
    ("host", "status"),
    [("127.0.0.1:{port}", 200), ("localhost:{port}", 200), ("[::1]:{port}", 200),
     ("evil.example:{port}", 403), ("127.0.0.1.evil.example:{port}", 403),
     ("127.0.0.1:1", 403), ("", 403)],
)  # fmt: skip
def test_serve_refuses_other_host_names_dns_rebinding(serving, host, status):
    sink = serving()
    assert _raw_get(sink.port, "/stats.json", host=host.format(port=sink.port))[0] == status


def test_serve_beyond_localhost_needs_a_key(serving):
    with pytest.raises(UsageError, match="--serve-token"):
        serving("0.0.0.0:0")
    with pytest.raises(UsageError, match="8 to 128"):
        serving("127.0.0.1:0", token="short")
    public = serving("0.0.0.0:0", public=True)
    assert _raw_get(public.port, "/stats.json")[0] == 200
    assert _raw_get(public.port, "/stats.json", host=f"evil.example:{public.port}")[0] == 403
    sink = serving("0.0.0.0:0", token="correct-horse-battery")
    assert sink.url.endswith("/?token=correct-horse-battery")
    assert _raw_get(sink.port, "/")[0] == 401
    assert _raw_get(sink.port, "/stats.json?token=wrong-key-here")[0] == 401
    status, _, page = _raw_get(sink.port, "/?token=correct-horse-battery")
    assert status == 200
    assert b'src="/stream.mjpg?token=correct-horse-battery"' in page
    assert b"/stats.json?token=correct-horse-battery" in page
    bearer = {"Authorization": "Bearer correct-horse-battery"}
    assert _raw_get(sink.port, "/stats.json", headers=bearer)[0] == 200
    auto = serving("127.0.0.1:0", token="auto")
    assert len(auto.token) >= 16 and auto.url.endswith(f"?token={auto.token}")


def test_run_refuses_a_public_serve_without_a_key_before_loading(tmp_path):
    from click.testing import CliRunner

    from edgeres.cli import main

    args = ["run", str(tmp_path / "missing.onnx"), "--source", "demo", "--serve", "0.0.0.0:0"]
    res = CliRunner().invoke(main, args)
    assert res.exit_code == 2 and "--serve-token" in res.output and "missing" not in res.output


def test_serve_caps_viewers_and_closes_idle_connections(serving):
    import socket

    sink = serving(max_viewers=1, idle_timeout=0.5)
    first = socket.create_connection(("127.0.0.1", sink.port), timeout=30)
    try:
        first.sendall(f"GET /stream.mjpg HTTP/1.1\r\nHost: 127.0.0.1:{sink.port}\r\n\r\n".encode())
        assert first.recv(64).startswith(b"HTTP/1.0 200")
        status, _, body = _raw_get(sink.port, "/stream.mjpg")
        assert status == 503 and b"1 viewers already watch" in body
    finally:
        first.close()
    idle = socket.create_connection(("127.0.0.1", sink.port), timeout=30)
    try:
        idle.sendall(b"GET / HTTP/1.1\r\n")  # and then nothing: the server hangs up
        assert idle.recv(1024) == b""
    finally:
        idle.close()


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def test_segments_are_joined_into_one_video_with_every_frame(
    backend, video_file, tmp_path, video_frames
):
    out = tmp_path / "joined.mp4"
    sink = SaveSink(out, segment_seconds=0.2)  # 6 frames at 30 fps: 4 segments
    run_stream(backend, open_source(str(video_file)), [sink])
    assert len(sink.segments) == video_frames // 6
    assert _frame_count(out) == video_frames
    assert [p.name for p in tmp_path.iterdir()] == ["joined.mp4"]  # the segments are gone
    assert out.stat().st_mode & 0o777 == 0o666 & ~_umask()  # as every other output, not 0600


def test_join_copies_the_samples_of_opencv_segments(tmp_path):
    from edgeres.stream.mp4join import check_segment, join_segments

    segments, value = [], 0
    for i, n in enumerate([7, 5, 3]):
        path = tmp_path / f"s{i}.mp4"
        writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), 25.0, (64, 48))
        for _ in range(n):
            writer.write(np.full((48, 64, 3), value, np.uint8))
            value += 15
        writer.release()
        assert check_segment(path) == n
        segments.append(path)
    out = tmp_path / "all.mp4"
    assert join_segments(segments, out) == 15
    cap = cv2.VideoCapture(str(out))
    assert cap.get(cv2.CAP_PROP_FPS) == pytest.approx(25.0)
    means = []
    while (frame := cap.read())[0]:
        means.append(float(frame[1].mean()))
    assert len(means) == 15
    assert means == pytest.approx([15 * i for i in range(15)], abs=8)  # in order, none lost
    cut = tmp_path / "cut.mp4"
    cut.write_bytes(segments[0].read_bytes()[:-200])  # the index at the end is lost
    with pytest.raises(ValueError, match="cut off|truncated"):
        check_segment(cut)


@pytest.fixture
def tiny_disk(tmp_path):
    """A 256 kB tmpfs: a real full disk."""
    mount = tmp_path / "disk"
    mount.mkdir()
    r = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=256k", "tmpfs", str(mount)],
                       capture_output=True, text=True)  # fmt: skip
    if r.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here ({r.stderr.strip() or 'not root'})")
    yield mount
    subprocess.run(["umount", "-l", str(mount)], check=False)


def test_a_full_disk_is_one_error_and_keeps_only_whole_segments(backend, tiny_disk):
    out = tiny_disk / "full.mp4"
    sink = SaveSink(out, segment_seconds=0.1)
    source = open_source("demo", 640, 480, 30)
    with pytest.raises(DiskFullError, match="no space left on the device"):
        run_stream(backend, source, [sink], StreamConfig(max_frames=2000))
    assert not out.exists()
    parts = sorted((tiny_disk / "full.mp4.parts").glob("*.mp4"))
    assert parts == sink.segments  # the broken last one was removed
    from edgeres.stream.mp4join import check_segment

    for part in parts:
        assert check_segment(part) == 3
