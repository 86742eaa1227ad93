"""Does the `edgeres run` pipeline keep up? Pipeline FPS vs decoding alone vs inference alone vs a
naive one-thread read->infer loop, side by side in one run, on a video file.

Target (issue 6): the pipeline sustains at least 90% of min(decode alone, inference alone).

    .venv/bin/python tools/stream_throughput.py                       # resnet8 + resnet18s, 640x480
    .venv/bin/python tools/stream_throughput.py --model m.tflite --video clip.mp4 --threads 1

"Inference alone" is everything the pipeline does to a decoded frame (preprocess with the model's
InputSpec, infer, top-k) on frames already in memory; "decode alone" reads the file with nothing
else running. The modes run interleaved in `--trials` rounds; the table shows each mode's best
round (on a shared machine, the one least disturbed by other processes) and the pipeline's ratio
to min(decode, inference) within each round (same conditions), median and best. The load average
printed above the tables says how shared the machine was.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import cv2
from quietcheck import QuietCheck, add_arguments

from edgeres.runtime import load
from edgeres.runtime.base import Backend, topk_predictions
from edgeres.spec import InputSpec, ModelInfo
from edgeres.stream import StreamConfig, open_source, run_stream
from edgeres.stream.demo import DemoSource

DEFAULT_MODELS = (("resnet8", {}, 32), ("resnet18s", {"width": 0.5}, 128))


def make_video(path: Path, frames: int, width: int, height: int, fps: float = 30.0) -> Path:
    """Write the demo scene as an mp4 (mp4v), the format `--save` writes."""
    src = DemoSource(width, height, fps, seed=0, paced=False)
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), fps, (width, height))
    for i in range(frames):
        writer.write(src.render(i))
    writer.release()
    return path


def export_model(name: str, kwargs: dict, size: int, out: Path) -> Path:
    """An ONNX file of a registered model (untrained: speed does not depend on the weights)."""
    from edgeres.convert.onnx import export_onnx
    from edgeres.data.shapes import CLASSES
    from edgeres.models import create_model, model_config

    cfg = model_config(name)
    spec = InputSpec(size, size, mean=cfg.mean, std=cfg.std)
    model = create_model(name, num_classes=len(CLASSES), **kwargs)
    return export_onnx(model, ModelInfo(name, CLASSES, spec), out / f"{name}_{size}.onnx")


class Clock:
    """Wall time and this process's CPU time (every thread, FFmpeg's decoder threads included)."""

    def __enter__(self) -> Clock:
        self.wall, self.cpu = time.perf_counter(), time.process_time()
        return self

    def __exit__(self, *exc: object) -> None:
        self.wall = time.perf_counter() - self.wall
        self.cpu = time.process_time() - self.cpu


def decode_alone(video: Path) -> tuple[int, Clock]:
    with open_source(str(video)) as src, Clock() as c:
        n = 0
        while src.read()[0]:
            n += 1
    return n, c


def infer_alone(backend: Backend, frames: list, n: int) -> tuple[int, Clock]:
    with Clock() as c:
        for i in range(n):
            _infer(backend, frames[i % len(frames)])
    return n, c


def _infer(backend: Backend, frame) -> None:
    logits = backend.infer(backend.spec.preprocess(frame))
    topk_predictions(logits, backend.info.classes, 5)


def naive_loop(backend: Backend, video: Path) -> tuple[int, Clock]:
    with open_source(str(video)) as src, Clock() as c:
        n = 0
        while True:
            ok, frame, _ = src.read()
            if not ok:
                break
            _infer(backend, frame)
            n += 1
    return n, c


LAST_THREADS: dict[str, float] = {}  # per-thread CPU ms/frame of the last pipeline run


def pipeline(backend: Backend, video: Path) -> tuple[int, Clock]:
    src = open_source(str(video))
    with Clock() as c:
        summary = run_stream(backend, src, [], StreamConfig())
    LAST_THREADS.clear()
    LAST_THREADS.update(summary.thread_cpu_ms)
    return summary.frames, c


PIPE, DEC, INF = "edgeres pipeline (threaded)", "decode alone", "inference alone"


def measure(backend: Backend, video: Path, trials: int) -> list[dict[str, tuple[float, float]]]:
    """``(FPS, CPU ms per frame)`` of every mode in each round (modes interleaved in a round)."""
    with open_source(str(video)) as src:
        frames = [src.read()[1] for _ in range(60)]
    frames = [f for f in frames if f is not None]
    n_video = decode_alone(video)[0]
    for f in frames[:10]:  # warm-up: first-run allocations and kernel selection
        _infer(backend, f)
    modes: dict[str, Callable[[], tuple[int, Clock]]] = {
        DEC: lambda: decode_alone(video),
        INF: lambda: infer_alone(backend, frames, n_video),
        "naive read->infer loop (1 thread)": lambda: naive_loop(backend, video),
        PIPE: lambda: pipeline(backend, video),
    }
    rounds = []
    for _ in range(trials):
        r = {}
        for name, fn in modes.items():
            n, c = fn()
            r[name] = (n / c.wall, 1000 * c.cpu / n)
        rounds.append(r)
    return rounds


def _ratio(r: dict[str, tuple[float, float]]) -> float:
    return r[PIPE][0] / min(r[DEC][0], r[INF][0])


def table(title: str, rounds: list[dict[str, tuple[float, float]]]) -> str:
    """Each mode's best round, and the pipeline's ratio per round (median and best)."""
    best = {k: max((r[k] for r in rounds), key=lambda v: v[0]) for k in rounds[0]}
    bound = min(best[DEC][0], best[INF][0])
    lines = [f"**{title}**", "",
             "| mode | FPS | ms/frame | % of min(decode, inference) | CPU ms/frame |",
             "| --- | ---: | ---: | ---: | ---: |"]  # fmt: skip
    for name, (fps, cpu) in best.items():
        lines.append(
            f"| {name} | {fps:.1f} | {1000 / fps:.2f} | {100 * fps / bound:.0f}% | {cpu:.2f} |"
        )
    ratios = sorted(_ratio(r) for r in rounds)
    median = ratios[len(ratios) // 2]
    verdict = "PASS" if median >= 0.9 else "FAIL"
    threads = ", ".join(f"{k} {v:.2f}" for k, v in LAST_THREADS.items())
    busiest = max(LAST_THREADS[k] for k in ("capture", "inference"))
    projected = max(best[DEC][1], best[INF][1]) / busiest
    lines += [
        "",
        f"- wall clock, pipeline / min(decode, inference) within a round: median "
        f"{100 * median:.0f}%, best {100 * ratios[-1]:.0f}% (target: median >= 90%: {verdict})",
        f"- CPU ms/frame by pipeline thread (last round): {threads}; projected with a free core "
        f"per thread, the busiest thread ({busiest:.2f} ms) vs the slower of decode/inference "
        f"alone ({max(best[DEC][1], best[INF][1]):.2f} ms CPU): {100 * projected:.0f}%",
    ]
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--model", type=Path, help="model file (default: export resnet8 and resnet18s)")
    ap.add_argument("--video", type=Path, help="video file (default: 300 frames of the demo scene)")
    ap.add_argument("--size", default="640x480", help="size of the generated video (WxH)")
    ap.add_argument("--frames", type=int, default=300, help="frames of the generated video")
    ap.add_argument(
        "--threads", type=int, default=1, help="engine threads (1 leaves a core for decoding)"
    )
    ap.add_argument("--trials", type=int, default=7, help="rounds")
    add_arguments(ap)
    args = ap.parse_args()
    check = QuietCheck.from_args(args)
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        w, h = (int(v) for v in args.size.lower().split("x"))
        video = args.video or make_video(work / "demo.mp4", args.frames, w, h)
        if args.model:
            models = [args.model]
        else:
            models = [export_model(n, kw, s, work) for n, kw, s in DEFAULT_MODELS]
        print(f"video {video.name} ({w}x{h} mp4v unless --video); engine "
              f"threads {args.threads}; {args.trials} rounds, table = best round of each mode\n")  # fmt: skip
        for path in models:
            with load(path, threads=args.threads) as backend:
                rounds = measure(backend, video, args.trials)
                spec = backend.spec
                title = f"{path.name} ({backend.format}, {spec.width}x{spec.height} input)"
                check.measure()
                print(table(check.heading(title), rounds) + "\n")
        check.finish()


if __name__ == "__main__":
    main()
