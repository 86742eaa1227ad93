"""``--serve HOST:PORT``: a small web page with the annotated MJPEG stream and live statistics.

Standard library only (``http.server.ThreadingHTTPServer``), for a headless device. Routes:
``/`` the page, ``/stream.mjpg`` the annotated frames as ``multipart/x-mixed-replace``,
``/frame.jpg`` the newest frame, ``/stats.json`` the live statistics the page polls.

Bound to 127.0.0.1 unless another host is given. The page is hardened for a network it does not
control (the checks live in ``serve_guard``): requests whose ``Host`` header is not the bound
address are refused (DNS rebinding), every answer carries ``nosniff``, a restrictive
Content-Security-Policy and ``X-Frame-Options: DENY``, idle connections close after
``IDLE_TIMEOUT_S``, at most ``MAX_VIEWERS`` streams run at once, and beyond localhost a viewer
key (``--serve-token``) is required unless ``--serve-public`` says otherwise.
"""

from __future__ import annotations

import secrets
import sys
import threading
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TYPE_CHECKING

import cv2

from edgeres.errors import UsageError
from edgeres.stream.serve_guard import Guard, check_exposure, make_token, security_headers
from edgeres.stream.sinks import FrameResult, Sink
from edgeres.text import json_text, redact, shown

if TYPE_CHECKING:
    from edgeres.stream.stats import StreamStats

DEFAULT_HOST = "127.0.0.1"
_BOUNDARY = "edgeresframe"
IDLE_TIMEOUT_S = 10.0  # a connection that sends nothing (or reads nothing) this long is closed
MAX_VIEWERS = 4  # concurrent /stream.mjpg clients; each costs a JPEG write per frame

PAGE = """<!doctype html>
<html><head><meta charset="utf-8"><title>edgeres run</title>
<style nonce="__NONCE__">
body{font-family:sans-serif;background:#1d1f21;color:#e0e0e0;margin:16px}
img{max-width:100%;border:1px solid #444;display:block}
table{border-collapse:collapse;margin-top:8px}td,th{padding:2px 10px;text-align:right}
#label{font-size:1.4em;margin:8px 0}
</style></head><body>
<h3>edgeres run &mdash; __SOURCE__</h3>
<img id="video" src="/stream.mjpg__QUERY__" alt="annotated camera stream">
<div id="label">waiting for frames...</div>
<table id="stages"></table>
<script nonce="__NONCE__">
function render(s){
  if (!s || !s.frames) return;
  document.getElementById('label').textContent =
    `${s.label} ${(100*s.score).toFixed(1)}% | ${s.fps_now.toFixed(1)} FPS | ${s.frames} frames`;
  let rows = '<tr><th>stage</th><th>mean ms</th><th>p90 ms</th></tr>';
  for (const [k,v] of Object.entries(s.stages))
    rows += `<tr><td>${k}</td><td>${v.mean_ms.toFixed(2)}</td><td>${v.p90_ms.toFixed(2)}</td></tr>`;
  document.getElementById('stages').innerHTML = rows;
}
async function poll(){
  try{ render(await (await fetch('/stats.json__QUERY__',{cache:'no-store'})).json()); }catch(e){}
  setTimeout(poll, 1000);
}
render(__STATS__);  // the statistics at page load, so the page is complete without waiting
setTimeout(poll, 1000);
</script></body></html>
"""


def parse_host_port(text: str) -> tuple[str, int]:
    """``HOST:PORT``, ``:PORT`` or ``PORT`` -> ``(host, port)``; the host defaults to 127.0.0.1."""
    host, sep, port = str(text).rpartition(":")
    if not sep:
        host = ""
    host = host.strip("[]") or DEFAULT_HOST
    try:
        number = int(port)
    except ValueError:
        number = -1
    if not 0 <= number <= 65535:
        raise UsageError(f"--serve expects HOST:PORT or PORT (e.g. 127.0.0.1:8080), got '{text}'")
    return host, number


class _Hub:
    """The newest JPEG and a condition that wakes the streaming clients."""

    def __init__(self) -> None:
        self.cond = threading.Condition()
        self.jpeg: bytes | None = None
        self.seq = 0
        self.clients = 0
        self.closed = False
        self.stats: StreamStats | None = None
        self.source = ""
        self.quality = 80
        self.max_viewers = MAX_VIEWERS
        self.pending = None  # newest annotated frame not yet encoded (nobody was streaming)

    def latest_jpeg(self) -> bytes | None:
        """The newest frame as JPEG, encoding it now if no streaming client needed it yet."""
        with self.cond:
            if self.pending is not None:
                self.jpeg = encode_jpeg(self.pending, self.quality) or self.jpeg
                self.pending = None
                self.seq += 1
            return self.jpeg


def encode_jpeg(image, quality: int) -> bytes | None:
    ok, buf = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, quality])
    return buf.tobytes() if ok else None


class _Handler(BaseHTTPRequestHandler):
    hub: _Hub  # set on the subclass made per server
    guard: Guard
    timeout = IDLE_TIMEOUT_S  # socket timeout: idle or stalled connections are closed

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - stdlib name
        pass  # no per-request lines on stderr; the run prints its own summary

    def __getattr__(self, name: str):
        # Any other method (POST, PUT, FOO...) passes the same checks as GET, then gets 501
        # with the security headers (the standard library answers 501 before any check).
        if name.startswith("do_"):
            return self._unsupported
        raise AttributeError(name)

    def _allowed(self, query: str) -> bool:
        """The Host and viewer-key checks; answers 403/401 when one fails."""
        if not self.guard.host_ok(self.headers.get("Host")):
            self._send(HTTPStatus.FORBIDDEN, "text/plain", b"unknown host name\n")
        elif not self.guard.token_ok(query, self.headers.get("Authorization")):
            self._send(HTTPStatus.UNAUTHORIZED, "text/plain", b"viewer key missing or wrong\n")
        else:
            return True
        return False

    def _unsupported(self) -> None:
        if self._allowed(self.path.partition("?")[2]):
            self._send(HTTPStatus.NOT_IMPLEMENTED, "text/plain", b"only GET is served\n")

    def send_error(self, code: int, message: str | None = None, explain: str | None = None) -> None:
        """The standard library's own errors (a bad request line, headers too long) with the
        security headers too; the connection is closed after them."""
        self.close_connection = True
        try:
            status = HTTPStatus(code)
        except ValueError:
            status = HTTPStatus.BAD_REQUEST
        self._send(status, "text/plain", f"{status.phrase}\n".encode())

    def do_GET(self) -> None:
        path, _, query = self.path.partition("?")
        if not self._allowed(query):
            return
        if path in ("/", "/index.html"):
            self._page()
        elif path == "/stats.json":
            stats = self.hub.stats.live() if self.hub.stats else {}
            self._send(HTTPStatus.OK, "application/json", json_text(stats).encode())
        elif path == "/frame.jpg":
            jpeg = self.hub.latest_jpeg()
            if jpeg is None:
                self._send(HTTPStatus.SERVICE_UNAVAILABLE, "text/plain", b"no frame yet\n")
            else:
                self._send(HTTPStatus.OK, "image/jpeg", jpeg)
        elif path == "/stream.mjpg":
            self._stream()
        else:
            self._send(HTTPStatus.NOT_FOUND, "text/plain", b"not found\n")

    def _page(self) -> None:
        stats = self.hub.stats.live() if self.hub.stats else {}
        # "</" cannot end the script early: JSON escapes it as "<\/".
        stats_js = json_text(stats).replace("</", "<\\/")
        nonce = secrets.token_urlsafe(16)
        page = PAGE.replace("__SOURCE__", _html_escape(self.hub.source))
        page = page.replace("__NONCE__", nonce).replace("__QUERY__", self.guard.query())
        page = page.replace("__STATS__", stats_js)
        self._send(HTTPStatus.OK, "text/html; charset=utf-8", page.encode(), nonce)

    def _headers(self, status: HTTPStatus, ctype: str, nonce: str | None = None) -> None:
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        for key, value in security_headers(nonce).items():
            self.send_header(key, value)

    def _send(self, status: HTTPStatus, ctype: str, body: bytes, nonce: str | None = None) -> None:
        self._headers(status, ctype, nonce)
        self.send_header("Content-Length", str(len(body)))
        if self.close_connection:
            self.send_header("Connection", "close")
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def _stream(self) -> None:
        hub = self.hub
        with hub.cond:
            full = hub.clients >= hub.max_viewers
            if not full:
                hub.clients += 1
        if full:
            msg = f"{hub.max_viewers} viewers already watch this stream; try again later\n"
            self._send(HTTPStatus.SERVICE_UNAVAILABLE, "text/plain", msg.encode())
            return
        seen = -1
        try:
            self._headers(HTTPStatus.OK, f"multipart/x-mixed-replace; boundary={_BOUNDARY}")
            self.end_headers()
            hub.latest_jpeg()  # the frame kept while nobody streamed, so the page is never blank
            while True:
                with hub.cond:
                    # Time out now and then to notice a server that is shutting down.
                    hub.cond.wait_for(lambda s=seen: hub.closed or (hub.seq != s and hub.jpeg), 0.5)
                    if hub.closed:
                        return
                    if hub.seq == seen or hub.jpeg is None:
                        continue
                    jpeg, seen = hub.jpeg, hub.seq
                head = (
                    f"--{_BOUNDARY}\r\nContent-Type: image/jpeg\r\n"
                    f"Content-Length: {len(jpeg)}\r\n\r\n"
                ).encode()
                self.wfile.write(head + jpeg + b"\r\n")
                self.wfile.flush()
        except OSError:  # TimeoutError included
            pass  # the viewer closed the page, or stopped reading for IDLE_TIMEOUT_S
        finally:
            with hub.cond:
                hub.clients -= 1


class _Server(ThreadingHTTPServer):
    """A viewer that resets or drops its connection mid-request is not an error of the run:
    nothing is printed for it; any other error in a request is one line on stderr."""

    daemon_threads = True

    def handle_error(self, request: object, client_address: object) -> None:
        error = sys.exc_info()[1]
        if isinstance(error, OSError):  # reset, broken pipe, timeout: the viewer went away
            return
        print(f"edgeres serve: a request failed: {shown(repr(error))[:300]}", file=sys.stderr)


def _html_escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


class ServeSink(Sink):
    """Serves the annotated stream and statistics over HTTP while the run lasts.

    Args:
        address: ``HOST:PORT`` (``PORT`` alone binds 127.0.0.1); port 0 picks a free port.
        quality: JPEG quality of the stream.
        source: Shown in the page title (credentials redacted).
        token: Viewer key every request must carry (``auto``: a random one).
        public: Allow a bind beyond localhost without a key.
        max_viewers: Streams served at once; more get "503, try later".
        idle_timeout: Seconds a connection may send (or read) nothing before it is closed.

    Raises:
        UsageError: A bind beyond localhost with neither ``token`` nor ``public``, a bad key, or
            an address that cannot be bound.
    """

    wants_overlay = True

    def __init__(
        self,
        address: str,
        quality: int = 80,
        source: str = "",
        *,
        token: str | None = None,
        public: bool = False,
        max_viewers: int = MAX_VIEWERS,
        idle_timeout: float = IDLE_TIMEOUT_S,
    ) -> None:
        host, port = parse_host_port(address)
        token = make_token(token)
        check_exposure(host, port, token, public)
        self.hub = _Hub()
        self.hub.source = redact(source)
        self.hub.quality = self.quality = quality
        self.hub.max_viewers = max_viewers
        self.token = token
        handler = type("Handler", (_Handler,), {"hub": self.hub, "timeout": idle_timeout})
        try:
            self.server = _Server((host, port), handler)
        except OSError as e:
            raise UsageError(
                f"--serve could not listen on {host}:{port} ({e.strerror or e}); pick another port "
                "or stop the program using it"
            ) from None
        self.server.daemon_threads = True
        self.host, self.port = self.server.server_address[:2]
        handler.guard = Guard(host, self.port, token)
        self._thread = threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.2}, daemon=True,
            name="edgeres-serve",
        )  # fmt: skip
        self._thread.start()

    @property
    def url(self) -> str:
        """The page's address, with the viewer key when there is one."""
        return f"http://{self.host}:{self.port}/" + (f"?token={self.token}" if self.token else "")

    def start(self, stats: StreamStats, fps: float) -> None:
        self.hub.stats = stats

    def write(self, result: FrameResult) -> None:
        hub = self.hub
        with hub.cond:
            streaming = hub.clients > 0
            if not streaming:
                # Nobody watches the stream: keep the frame and encode only if /frame.jpg asks.
                hub.pending = result.annotated
                return
        jpeg = encode_jpeg(result.annotated, self.quality)
        if jpeg is None:
            return
        with hub.cond:
            hub.jpeg, hub.pending = jpeg, None
            hub.seq += 1
            hub.cond.notify_all()

    def close(self, ok: bool = True) -> None:
        with self.hub.cond:
            self.hub.closed = True
            self.hub.cond.notify_all()
        self.server.shutdown()
        self.server.server_close()
        self._thread.join(2.0)
