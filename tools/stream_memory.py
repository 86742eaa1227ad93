"""Memory stays flat over a long `edgeres run`: 10,000 frames from `demo`, RSS growth < 5 MB.

    .venv/bin/python tools/stream_memory.py          # resnet8; json + save + serve sinks
    .venv/bin/python tools/stream_memory.py --model m.tflite --frames 20000 --sinks json

The demo scene is read unpaced (as fast as the pipeline takes it, through the live newest-wins
path, so drops are counted too). Resident memory is read from /proc/self/status (VmRSS) every
`--every` frames by a probe sink; growth is measured from the sample after `--warmup` frames
(engine arenas, codec buffers and the first JPEG are allocated by then) to the last one.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from edgeres.bench.memory import current_rss_mb
from edgeres.runtime import load
from edgeres.stream import JsonLinesSink, SaveSink, Sink, StreamConfig, run_stream
from edgeres.stream.demo import DemoSource
from edgeres.stream.serve import ServeSink

TARGET_MB = 5.0


def rss_mb() -> float:
    """Resident set size of this process in MB, as the benchmark reads it (VmRSS)."""
    mb = current_rss_mb()
    if mb is None:
        raise RuntimeError("no VmRSS in /proc/self/status (Linux only)")
    return mb


class RssProbe(Sink):
    """Samples RSS every ``every`` frames into a preallocated list (no growth of its own)."""

    def __init__(self, frames: int, every: int) -> None:
        self.every = every
        self.samples: list[tuple[int, float]] = [(0, 0.0)] * (frames // every + 1)
        self.n = 0

    def write(self, result) -> None:
        if result.frame % self.every == 0:
            self.samples[self.n] = (result.frame, rss_mb())
            self.n += 1


def export_resnet8(out: Path) -> Path:
    """Export resnet8 in a child process, so this one stays torch-free like a device install."""
    path = out / "r8.onnx"
    code = (
        "import sys; from edgeres.convert.onnx import export_onnx; "
        "from edgeres.data.shapes import CLASSES; from edgeres.models import create_model; "
        "from edgeres.spec import InputSpec, ModelInfo; "
        "info = ModelInfo('resnet8', CLASSES, InputSpec(32, 32)); "
        "export_onnx(create_model('resnet8', num_classes=len(CLASSES)), info, sys.argv[1])"
    )
    subprocess.run([sys.executable, "-c", code, str(path)], check=True, capture_output=True)
    return path


def make_sinks(names: list[str], work: Path, devnull) -> list[Sink]:
    table = {
        "json": lambda: JsonLinesSink(devnull),
        "save": lambda: SaveSink(work / "long.mp4"),
        "serve": lambda: ServeSink("127.0.0.1:0", source="demo"),
    }
    return [table[n]() for n in names if n]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--model", type=Path, help="model file (default: export resnet8 to ONNX)")
    ap.add_argument("--frames", type=int, default=10_000)
    ap.add_argument("--size", default="640x480", help="demo frame size WxH")
    ap.add_argument("--sinks", default="json,save,serve", help="comma list of json, save, serve")
    ap.add_argument("--every", type=int, default=500, help="frames between RSS samples")
    ap.add_argument("--warmup", type=int, default=1000, help="frames before the baseline sample")
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args()
    w, h = (int(v) for v in args.size.lower().split("x"))
    with tempfile.TemporaryDirectory() as tmp, open(os.devnull, "w") as devnull:
        work = Path(tmp)
        model = args.model or export_resnet8(work)
        probe = RssProbe(args.frames, args.every)
        sinks = [*make_sinks(args.sinks.split(","), work, devnull), probe]
        start = rss_mb()
        t0 = time.perf_counter()
        with load(model, threads=args.threads) as backend:
            source = DemoSource(w, h, 30.0, paced=False)
            source.open()
            summary = run_stream(backend, source, sinks, StreamConfig(max_frames=args.frames))
        seconds = time.perf_counter() - t0
    samples = probe.samples[: probe.n]
    base = next(mb for f, mb in samples if f >= args.warmup)
    end, peak = samples[-1][1], max(mb for _, mb in samples)
    growth = end - base
    print(f"model {model.name}, demo {w}x{h} unpaced, sinks {args.sinks}, {summary.frames} frames "
          f"in {seconds:.1f} s ({summary.fps:.0f} FPS, {summary.dropped} dropped); "
          f"RSS before loading the model {start:.1f} MB\n")  # fmt: skip
    print(
        "| frames | RSS after warm-up (MB) | RSS at end (MB) | peak (MB) | growth (MB) | target |"
    )
    print("| ---: | ---: | ---: | ---: | ---: | --- |")
    verdict = "PASS" if growth < TARGET_MB else "FAIL"
    print(f"| {summary.frames} | {base:.1f} | {end:.1f} | {peak:.1f} | {growth:+.2f} | "
          f"< {TARGET_MB:g} MB {verdict} |")  # fmt: skip
    print("\nsamples (frame: MB): " + ", ".join(f"{f}: {mb:.1f}" for f, mb in samples))


if __name__ == "__main__":
    main()
