"""The pieces of tools/soak.py: the clip, the camera that serves it, the page clients, /proc
samples and the plot."""

from __future__ import annotations

import http.client
import json
import os
import random
import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import cv2
import numpy as np

BOUNDARY = b"soakframe"


def write_clip(path: Path, fps: float, seconds: float = 20.0, size=(160, 120)) -> Path:
    """A real video (mp4v, through OpenCV): shapes moving over a gradient."""
    w, h = size
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), fps, size)
    if not writer.isOpened():
        raise RuntimeError(f"OpenCV cannot write {path}")
    ramp = np.tile(np.linspace(0, 255, w, dtype=np.uint8), (h, 1))
    for i in range(int(seconds * fps)):
        img = cv2.merge([ramp, np.roll(ramp, i, axis=1), np.full_like(ramp, 60)])
        cv2.circle(img, (int(w / 2 + w / 3 * np.sin(i / 9)), h // 2), 18, (0, 0, 255), -1)
        cv2.rectangle(img, (i % w, 10), (i % w + 25, 35), (255, 255, 0), -1)
        writer.write(img)
    writer.release()
    return path


class CameraServer:
    """An MJPEG camera on 127.0.0.1 playing ``clip`` in a loop at ``fps``; while the clip is
    renamed away the stream ends and new requests get 404, as a camera that went offline."""

    def __init__(self, clip: Path, fps: float) -> None:
        self.clip, self.away_path, self.fps = clip, clip.with_suffix(".away"), fps
        self.sent = 0
        self.away = False
        self.vanishes = 0
        self._lock = threading.Lock()
        handler = type("CamHandler", (_CamHandler,), {"camera": self})
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/cam.mjpg"
        threading.Thread(target=self.server.serve_forever, args=(0.2,), daemon=True).start()

    def vanish(self) -> None:
        with self._lock:
            os.rename(self.clip, self.away_path)
            self.away = True
            self.vanishes += 1

    def come_back(self) -> None:
        with self._lock:
            if self.away:
                os.rename(self.away_path, self.clip)
                self.away = False

    def count(self) -> None:
        with self._lock:
            self.sent += 1

    def close(self) -> None:
        self.come_back()
        self.server.shutdown()
        self.server.server_close()


class _CamHandler(BaseHTTPRequestHandler):
    camera: CameraServer

    def log_message(self, format, *args) -> None:  # noqa: A002 - stdlib name
        pass

    def do_GET(self) -> None:
        cam = self.camera
        cap = cv2.VideoCapture(str(cam.clip)) if cam.clip.exists() else None
        if cap is None or not cap.isOpened():
            self.send_error(404, "the camera is offline")
            return
        self.send_response(200)
        self.send_header("Content-Type", f"multipart/x-mixed-replace; boundary={BOUNDARY.decode()}")
        self.end_headers()
        period, due = 1.0 / cam.fps, time.monotonic()
        try:
            while cam.clip.exists():  # renamed away: the stream ends, as an unplugged camera
                ok, frame = cap.read()
                if not ok:  # the end of the clip: loop
                    cap.set(cv2.CAP_PROP_POS_FRAMES, 0)
                    continue
                jpeg = cv2.imencode(".jpg", frame)[1].tobytes()
                due += period
                time.sleep(max(0.0, due - time.monotonic()))
                head = b"--%s\r\nContent-Type: image/jpeg\r\nContent-Length: %d\r\n\r\n"
                self.wfile.write(head % (BOUNDARY, len(jpeg)) + jpeg + b"\r\n")
                cam.count()
        except OSError:
            pass  # the reader went away (the run reconnects, or it stopped)
        finally:
            cap.release()


class Clients:
    """``n`` threads that each loop over one page-client cycle until ``stop``: load the page,
    poll the statistics, take a frame, watch the stream for a while and drop it mid-frame, or
    connect and hang up at once."""

    KINDS = ("page", "stats", "frame", "stream_drop", "connect_drop")

    def __init__(self, page: str, n: int, stop: threading.Event, seed: int = 0) -> None:
        host_port = page.split("//", 1)[1].rstrip("/")
        self.host, port = host_port.rsplit(":", 1)
        self.port = int(port)
        self.stop = stop
        self.cycles = 0
        self.by_kind = dict.fromkeys(self.KINDS, 0)
        self.failures: dict[str, int] = {}
        self.last_stats: dict = {}
        self._lock = threading.Lock()
        for i in range(n):
            threading.Thread(
                target=self._loop, args=(random.Random(seed + i),), daemon=True
            ).start()

    def describe(self) -> str:
        kinds = ", ".join(f"{k} {v}" for k, v in self.by_kind.items())
        fails = ", ".join(f"{k} {v}" for k, v in sorted(self.failures.items())) or "none"
        return f"{kinds}; failed requests: {fails}"

    def stats(self) -> dict:
        """The newest /stats.json, fetched now (``{}`` when the page does not answer)."""
        try:
            return json.loads(self._get("/stats.json"))
        except (OSError, ValueError, http.client.HTTPException):
            return {}

    def _loop(self, rng: random.Random) -> None:
        while not self.stop.is_set():
            kind = rng.choice(self.KINDS)
            try:
                getattr(self, f"_{kind}")(rng)
            except (OSError, http.client.HTTPException, ValueError) as e:
                with self._lock:
                    key = f"{kind}: {type(e).__name__}"
                    self.failures[key] = self.failures.get(key, 0) + 1
            with self._lock:
                self.cycles += 1
                self.by_kind[kind] += 1
            self.stop.wait(rng.uniform(0.2, 1.5))

    def _get(self, path: str) -> bytes:
        conn = http.client.HTTPConnection(self.host, self.port, timeout=10)
        try:
            conn.request("GET", path)
            resp = conn.getresponse()
            body = resp.read()
            if resp.status != 200:
                raise http.client.HTTPException(f"{path}: {resp.status}")
            return body
        finally:
            conn.close()

    def _page(self, rng) -> None:
        if b"/stream.mjpg" not in self._get("/"):
            raise ValueError("the page does not name its stream")

    def _stats(self, rng) -> None:
        json.loads(self._get("/stats.json"))

    def _frame(self, rng) -> None:
        try:
            self._get("/frame.jpg")
        except http.client.HTTPException as e:
            if "503" not in str(e):  # 503 = no frame yet (the source is away): fine
                raise

    def _stream_drop(self, rng) -> None:
        """Read the stream for a random number of bytes (often mid-frame), then hang up."""
        with socket.create_connection((self.host, self.port), timeout=10) as s:
            s.sendall(
                f"GET /stream.mjpg HTTP/1.1\r\nHost: {self.host}:{self.port}\r\n\r\n".encode()
            )
            want, got = rng.randint(100, 200_000), 0
            deadline = time.monotonic() + rng.uniform(0.5, 8.0)
            while got < want and time.monotonic() < deadline and not self.stop.is_set():
                s.settimeout(max(0.05, deadline - time.monotonic()))
                try:
                    chunk = s.recv(65536)
                except TimeoutError:  # no frame meanwhile (the source is away): hang up now
                    break
                if not chunk:
                    break
                got += len(chunk)

    def _connect_drop(self, rng) -> None:
        """Connect and hang up, sometimes half-way through a request line."""
        with socket.create_connection((self.host, self.port), timeout=10) as s:
            if rng.random() < 0.5:
                s.sendall(b"GET /stream.mj")


def proc_sample(pid: int, stats: dict) -> dict | None:
    """RSS (MB), open descriptors and threads of ``pid`` from /proc, with the page's frame count
    and FPS; ``None`` once the process is gone."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
        fds = len(os.listdir(f"/proc/{pid}/fd"))
    except (FileNotFoundError, ProcessLookupError):
        return None
    fields = dict(line.split(":", 1) for line in status.splitlines() if ":" in line)
    return {
        "rss_mb": round(int(fields["VmRSS"].split()[0]) / 1024, 2),
        "fds": fds,
        "threads": int(fields["Threads"]),
        "frames": stats.get("frames"),
        "fps_now": stats.get("fps_now"),
    }


def plot(rows: list[dict], path: Path, window_s: float) -> None:
    """RSS, descriptors, threads and FPS against time; the compared windows shaded."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    t = [r["t_s"] / 60 for r in rows]
    fig, axes = plt.subplots(4, 1, figsize=(9, 9), sharex=True)
    for ax, key, label in zip(
        axes, ("rss_mb", "fds", "threads", "fps_now"),
        ("RSS (MB)", "open descriptors", "threads", "FPS (page)"), strict=True,
    ):  # fmt: skip
        ax.plot(t, [r[key] if r[key] is not None else np.nan for r in rows], lw=1)
        ax.set_ylabel(label)
        away = [r["t_s"] / 60 for r in rows if r["source_away"]]
        ax.plot(away, [ax.get_ylim()[0]] * len(away), "r|", ms=8)
        if t:
            ax.axvspan(0, window_s / 60, color="0.9")
            ax.axvspan(t[-1] - window_s / 60, t[-1], color="0.9")
    axes[-1].set_xlabel("minutes (shaded: compared windows; red ticks: source away)")
    fig.suptitle("edgeres run --serve soak")
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)
