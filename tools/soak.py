"""Soak `edgeres run --serve` for an hour: memory, descriptors and threads stay flat, FPS steady.

    .venv/bin/python tools/soak.py                      # 60 minutes, resnet-sized test model
    nice -n 15 .venv/bin/python tools/soak.py --minutes 15 --out soak15

Everything stays on 127.0.0.1 and ends by itself (also on Ctrl-C or SIGTERM: the run it started
is stopped and killed). The tool writes a real video with OpenCV (moving shapes) and plays it to
`edgeres run` as an IP camera would: an MJPEG stream (`http://127.0.0.1:P/cam.mjpg`) read from
that file and looped, paced at its frame rate. The file is renamed away every `--vanish-every`
seconds for `--vanish-for` seconds: the stream then ends and new connections get 404, so the run
loses its source and reconnects when the file is back. (A plain `--source clip.mp4` ends the run
at the end of the file and never notices a rename of a file it has open, so it cannot be soaked
for an hour nor lose its source.) Page clients fetch what the page fetches (`/`, `/stats.json`,
`/stream.mjpg`, `/frame.jpg`), many dropping mid-stream or right after connecting.

Every `--every` seconds the run's RSS, open descriptors and threads (from /proc) and its frame
count and FPS (from `/stats.json`) are written to `soak.csv`; `soak.md` gets the targets and
`soak.png` the plot. Targets: the median RSS and descriptor count of the last window (10 minutes
of 60, scaled with --minutes) within 5% of the first window's, the median thread count not above
the first window's, the mean FPS of the last window within `--fps-tolerance` of the first (samples while
the source is away, and the few after it came back, excluded). Exit 1 when one is missed; 2 on a bad flag.
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import math
import os
import re
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from soak_parts import CameraServer, Clients, proc_sample, write_clip

WINDOW_SHARE = 10 / 60  # the first/last ten minutes of an hour
COLUMNS = ("t_s", "rss_mb", "fds", "threads", "frames", "fps_now", "sent", "source_away",
           "client_cycles")  # fmt: skip


class Stop(Exception):
    """SIGTERM, raised in the main thread so the finally blocks kill what was started."""


def _on_term(signum, frame) -> None:
    raise Stop


def export_model(out: Path) -> Path:
    """The registry's test_resnet (untrained, 32 px) as ONNX, exported in a child process so
    this process imports no torch."""
    path = out / "soak_model.onnx"
    code = (
        "import sys; from edgeres.convert.onnx import export_onnx; "
        "from edgeres.data.shapes import CLASSES; from edgeres.models import create_model; "
        "from edgeres.spec import InputSpec, ModelInfo; "
        "info = ModelInfo('test_resnet', CLASSES, InputSpec(32, 32)); "
        "export_onnx(create_model('test_resnet', num_classes=len(CLASSES)), info, sys.argv[1])"
    )
    subprocess.run([sys.executable, "-c", code, str(path)], check=True, capture_output=True)
    return path


def start_run(model: Path, source: str, log: Path, nice: int) -> tuple[subprocess.Popen, str]:
    """``edgeres run MODEL --source URL --serve 127.0.0.1:0``; returns it and its page address."""
    cmd = [sys.executable, "-m", "edgeres", "run", str(model), "--source", source,
           "--serve", "127.0.0.1:0", "--threads", "1"]  # fmt: skip
    if nice:
        cmd = ["nice", "-n", str(nice), *cmd]
    err = log.open("w")
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=err, start_new_session=True)
    err.close()
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and proc.poll() is None:
        found = re.search(r"web page: (http://127\.0\.0\.1:\d+/)", log.read_text())
        if found:
            return proc, found.group(1)
        time.sleep(0.2)
    stop_run(proc)
    raise RuntimeError(f"edgeres run did not start; its log:\n{log.read_text()[-2000:]}")


def stop_run(proc: subprocess.Popen, grace: float = 20.0) -> None:
    """SIGINT (the run's clean stop: summary printed), then SIGKILL of its process group."""
    try:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGINT)
            proc.wait(grace)
    except subprocess.TimeoutExpired:
        pass
    finally:  # also when a second Ctrl-C cuts the grace short
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()


def sample_loop(args, proc, camera: CameraServer, clients: Clients, out_csv: Path) -> list[dict]:
    """Sample until the deadline (or the run dies), one CSV row per sample, flushed at once."""
    rows: list[dict] = []
    t0 = time.monotonic()
    end = t0 + args.minutes * 60
    with out_csv.open("w", newline="") as f:
        writer = csv.DictWriter(f, COLUMNS)
        writer.writeheader()
        while time.monotonic() < end and proc.poll() is None:
            time.sleep(min(args.every, max(0.0, end - time.monotonic())))
            row = proc_sample(proc.pid, clients.stats())
            if row is None:
                break
            row.update(t_s=round(time.monotonic() - t0, 1), sent=camera.sent,
                       source_away=int(camera.away), client_cycles=clients.cycles)  # fmt: skip
            rows.append(row)
            writer.writerow(row)
            f.flush()
    return rows


def vanish_loop(camera: CameraServer, every: float, away_for: float, stop: threading.Event):
    """Rename the clip away every ``every`` seconds for ``away_for`` seconds, then back."""
    while not stop.wait(every):
        camera.vanish()
        stop.wait(away_for)
        camera.come_back()


def _median(values: list[float]) -> float:
    s = sorted(values)
    return s[len(s) // 2] if s else float("nan")


def mark_settling(rows: list[dict], every: float, fps: float) -> None:
    """``settling`` = the source is away or came back so lately that the page's FPS (a rate over
    its last 30 frames) still spans the gap."""
    lag = int(math.ceil((30 / fps + 2) / every))
    for i, row in enumerate(rows):
        row["settling"] = any(r["source_away"] for r in rows[max(0, i - lag) : i + 1])


def _mean(values: list[float]) -> float:
    return sum(values) / len(values) if values else float("nan")


def judge(rows: list[dict], minutes: float, fps_tol: float) -> list[dict]:
    """The targets, each ``{metric, first, last, change, target, ok}``."""
    span = minutes * 60 * WINDOW_SHARE
    end = rows[-1]["t_s"] if rows else 0.0
    first = [r for r in rows if r["t_s"] <= span]
    last = [r for r in rows if r["t_s"] >= end - span]
    checks = []

    def add(metric: str, key: str, target: str, ok_fn, present_only: bool = False) -> None:
        # Sizes by the median (a client connected at the moment of a sample is not growth);
        # FPS by the mean of the samples with a source, so a sustained slowdown shows.
        agg = _mean if present_only else _median
        pick = [r for r in first if not present_only or not r["settling"]]
        pick_last = [r for r in last if not present_only or not r["settling"]]
        a = agg([r[key] for r in pick if r[key] is not None])
        b = agg([r[key] for r in pick_last if r[key] is not None])
        change = (b - a) / a if a else float("nan")
        checks.append({"metric": metric, "first": a, "last": b, "change": change,
                       "target": target, "ok": bool(a == a and b == b and ok_fn(a, b))})  # fmt: skip

    add("RSS MB", "rss_mb", "last within 5% of first", lambda a, b: b <= a * 1.05)
    add("open descriptors", "fds", "last within 5% of first", lambda a, b: b <= a * 1.05)
    add("threads", "threads", "last not above first", lambda a, b: b <= a)
    tol = f"last within {fps_tol:.0%} of first"
    add("FPS (source present)", "fps_now", tol, lambda a, b: abs(b - a) <= fps_tol * a, True)
    return checks


def parse_summary(log_text: str) -> dict:
    """Frames, FPS, dropped frames and reconnects from the run's closing summary."""
    out: dict = {}
    m = re.search(r"(\d+) frames in ([\d.]+) s = ([\d.]+) FPS", log_text)
    if m:
        out.update(frames=int(m.group(1)), seconds=float(m.group(2)), fps=float(m.group(3)))
    m = re.search(r"dropped (\d+) frames, (\d+) reconnects \(([\d.]+) s", log_text)
    if m:
        out.update(dropped=int(m.group(1)), reconnects=int(m.group(2)), gap_s=float(m.group(3)))
    return out


def write_report(out: Path, args, rows, checks, summary, clients, camera, exit_code) -> None:
    from soak_parts import plot

    lines = [
        f"# edgeres run --serve soak, {args.minutes:g} minutes",
        "",
        f"Command: `tools/soak.py {' '.join(sys.argv[1:])}`; {len(rows)} samples every "
        f"{args.every:g} s; windows of {args.minutes * WINDOW_SHARE:g} minutes.",
        f"Source: MJPEG from an OpenCV-written clip at {args.fps:g} fps, looped; renamed away "
        f"{camera.vanishes} times for {args.vanish_for:g} s.",
        f"Clients: {clients.cycles} connect/drop cycles ({clients.describe()}).",
        f"Run's summary: {summary or 'none (the run did not print one)'}; exit code {exit_code}.",
        f"Frames sent by the camera: {camera.sent}; not processed (dropped or lost in a "
        f"reconnect): {max(0, camera.sent - summary.get('frames', 0))}.",
        "",
        "| metric | first window | last window | change | target | met |",
        "| --- | ---: | ---: | ---: | --- | --- |",
    ]
    for c in checks:
        lines.append(f"| {c['metric']} | {c['first']:.1f} | {c['last']:.1f} | "
                     f"{c['change']:+.1%} | {c['target']} | {'yes' if c['ok'] else 'NO'} |")  # fmt: skip
    (out / "soak.md").write_text("\n".join(lines) + "\n")
    plot(rows, out / "soak.png", args.minutes * 60 * WINDOW_SHARE)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--minutes", type=float, default=60.0, help="how long (default 60)")
    ap.add_argument("--every", type=float, default=5.0, help="seconds between samples")
    ap.add_argument("--fps", type=float, default=15.0, help="the camera's frame rate")
    ap.add_argument("--vanish-every", type=float, help="seconds (default: 3 min, <= run/5)")
    ap.add_argument("--vanish-for", type=float, default=15.0, help="seconds the clip is away")
    ap.add_argument("--clients", type=int, default=2, help="page clients at once")
    ap.add_argument("--fps-tolerance", type=float, default=0.2)
    ap.add_argument("--model", type=Path, help="model file (default: test_resnet ONNX)")
    ap.add_argument("--nice", type=int, default=0, help="niceness of the run it starts")
    ap.add_argument("--out", type=Path, default=Path("soak_out"))
    args = ap.parse_args(argv)
    if not 0 < args.minutes <= 24 * 60 or args.every <= 0 or args.fps <= 0:
        ap.error("--minutes must be in (0, 1440], --every and --fps above 0")
    if args.vanish_every is None:
        args.vanish_every = min(180.0, args.minutes * 60 / 5)
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    signal.signal(signal.SIGTERM, _on_term)
    stop = threading.Event()
    with tempfile.TemporaryDirectory(prefix="edgeres-soak-") as tmp:
        work = Path(tmp)
        model = args.model or export_model(work)
        camera = CameraServer(write_clip(work / "clip.mp4", args.fps), args.fps)
        proc = None
        try:
            proc, page = start_run(model, camera.url, args.out / "run.log", args.nice)
            clients = Clients(page, args.clients, stop)
            threading.Thread(target=vanish_loop, daemon=True,
                             args=(camera, args.vanish_every, args.vanish_for, stop)).start()  # fmt: skip
            rows = sample_loop(args, proc, camera, clients, args.out / "soak.csv")
            died = proc.poll()
        finally:
            stop.set()
            if proc is not None:
                stop_run(proc)
            camera.close()
        summary = parse_summary((args.out / "run.log").read_text())
        mark_settling(rows, args.every, args.fps)
        checks = judge(rows, args.minutes, args.fps_tolerance)
        write_report(args.out, args, rows, checks, summary, clients, camera, proc.returncode)
    print((args.out / "soak.md").read_text())
    if died is not None:
        print(f"soak: the run ended early with exit code {died}", file=sys.stderr)
        return 1
    return 0 if checks and all(c["ok"] for c in checks) else 1


if __name__ == "__main__":
    sys.exit(main())
