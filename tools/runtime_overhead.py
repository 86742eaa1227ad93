"""Measure what the edgeres runtime adds on top of the engines, side by side in one run.

1. Wrapper overhead at batch 1: the engine's own call (``session.run`` / ``set_tensor + invoke +
   get_tensor`` on the very same session/interpreter) against ``backend.infer``, alternating
   single calls, order flipped every pair (medians of 4000; "added" = median paired difference).
   Target: at most 5% or 20 us, whichever is larger.
2. Preprocessing one 640x480 BGR camera frame to the model input (``spec.preprocess``).
   Target: under 1 ms.
3. Format agreement: top-1 of ``.pt``, FP32 ``.onnx`` and FP32 ``.tflite`` on the shapes test
   split. Target: identical.

Models are exported here from a checkpoint (``--ckpt``) or, without one, from a briefly trained
model of each ``--models`` architecture. Prints markdown tables.

Usage:
    .venv/bin/python tools/runtime_overhead.py [--models test_resnet,resnet8] [--threads 1]
"""

from __future__ import annotations

import argparse
import contextlib
import io
import platform
import statistics
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np
from quietcheck import QuietCheck, add_arguments

PAIRS = 4000


def train_briefly(name: str, steps: int, out: Path) -> Path:
    """A checkpoint of ``name`` trained for ``steps`` SGD steps on shapes (real BN statistics)."""
    import torch

    from edgeres.data.shapes import generate
    from edgeres.models import create_model, model_config
    from edgeres.spec import InputSpec, ModelInfo
    from edgeres.train.checkpoint import save_checkpoint

    torch.manual_seed(0)
    cfg = model_config(name)
    spec = InputSpec(cfg.img_size, cfg.img_size, mean=cfg.mean, std=cfg.std)
    model = create_model(name, num_classes=10)
    images, labels = generate(steps * 32, cfg.img_size, split="train")
    x, y = torch.from_numpy(spec.normalize(images)), torch.from_numpy(labels)
    opt = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9, weight_decay=5e-4)
    model.train()
    for i in range(0, len(x), 32):
        loss = torch.nn.functional.cross_entropy(model(x[i : i + 32]), y[i : i + 32])
        opt.zero_grad()
        loss.backward()
        opt.step()
    info = ModelInfo(name, tuple(f"class{i}" for i in range(10)), spec)
    return save_checkpoint(out / f"{name}.pt", model.eval(), info, {"num_classes": 10})


def export_all(ckpt: Path, out: Path) -> dict[str, Path]:
    from edgeres.convert.onnx import export_onnx
    from edgeres.convert.tflite import export_tflite
    from edgeres.train.checkpoint import load_checkpoint

    c = load_checkpoint(ckpt)
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
        onnx_path = export_onnx(c.model, c.info, out / f"{ckpt.stem}.onnx")
        tflite_path = export_tflite(c.model, c.info, out / f"{ckpt.stem}.tflite")
    return {"pt": ckpt, "onnx": onnx_path, "tflite": tflite_path}


def engine_call(backend):
    """The engine's own batch-1 call on the backend's session/interpreter, without the wrapper."""
    if backend.format == "onnx":
        session, inp, out = backend.session, backend.input_name, backend.output_name
        return lambda x: session.run([out], {inp: x})[0]
    it, i_in, i_out = backend.interpreter, backend._in_index, backend._out_index

    def call(x):
        it.set_tensor(i_in, x)
        it.invoke()
        return it.get_tensor(i_out)

    return call


def time_pair(raw, wrapped, x, pairs: int = PAIRS) -> tuple[float, float, float]:
    """Median per-call seconds of ``raw(x)`` and ``wrapped(x)``, and the median paired difference.

    Single calls alternate (the order flips every pair) and medians are taken, which keeps
    scheduler preemption on a shared VM and slow drift out of a difference of a few microseconds.
    """
    for _ in range(100):
        raw(x), wrapped(x)
    raws, wraps = np.empty(pairs), np.empty(pairs)
    clock = time.perf_counter
    for i in range(pairs):
        first, second = (raw, wrapped) if i % 2 == 0 else (wrapped, raw)
        t0 = clock()
        first(x)
        t1 = clock()
        second(x)
        t2 = clock()
        a, b = t1 - t0, t2 - t1
        raws[i], wraps[i] = (a, b) if i % 2 == 0 else (b, a)
    return float(np.median(raws)), float(np.median(wraps)), float(np.median(wraps - raws))


def overhead_rows(name: str, paths: dict[str, Path], threads: int) -> list[str]:
    from edgeres import runtime

    rows = []
    for fmt in ("onnx", "tflite"):
        with runtime.load(paths[fmt], threads=threads) as b:
            x = np.random.default_rng(0).random(b.spec.shape(1), dtype=np.float32)
            raw, wrapped, added = time_pair(engine_call(b), b.infer, x)
            limit = max(0.05 * raw, 20e-6)
            verdict = "ok" if added <= limit else "over"
            rows.append(
                f"| {name} | {fmt} ({', '.join(b.providers)}) | {raw * 1e6:.1f} | {wrapped * 1e6:.1f} "
                f"| {added * 1e6:+.1f} ({added / raw:+.1%}) | {limit * 1e6:.1f} | {verdict} |"
            )
    return rows


def preprocess_rows(paths_by_model: dict[str, dict[str, Path]]) -> list[str]:
    from edgeres.formats import read_metadata

    frame = np.random.default_rng(0).integers(0, 256, (480, 640, 3), dtype=np.uint8)
    rows = []
    for name, paths in paths_by_model.items():
        for fmt in ("onnx", "tflite"):
            spec = read_metadata(paths[fmt]).spec
            for _ in range(50):
                spec.preprocess(frame)
            times = []
            for _ in range(1000):
                t = time.perf_counter()
                spec.preprocess(frame)
                times.append(time.perf_counter() - t)
            ms = statistics.median(times) * 1e3
            p99 = float(np.percentile(times, 99)) * 1e3
            verdict = "ok" if ms < 1.0 else "over"
            rows.append(
                f"| {name} ({fmt}) | {spec.layout} {spec.height}x{spec.width} | {ms:.3f} | {p99:.3f} | {verdict} |"
            )
    return rows


def agreement_rows(name: str, paths: dict[str, Path], n: int) -> list[str]:
    from edgeres import runtime
    from edgeres.data.shapes import generate

    preds = {}
    for fmt in ("pt", "onnx", "tflite"):
        with runtime.load(paths[fmt]) as b:
            images, labels = generate(n, b.spec.height, split="test")
            preds[fmt] = runtime.evaluate(b, _Set(images, labels), quiet=True).predictions
    acc = {k: float((v == labels).mean()) for k, v in preds.items()}
    same = {k: int((preds[k] == preds["pt"]).sum()) for k in ("onnx", "tflite")}
    distinct = len(np.unique(preds["pt"]))
    verdict = "ok" if all(v == n for v in same.values()) else "differ"
    return [
        f"| {name} | {n} | {acc['pt']:.2%} | {distinct} | {same['onnx']}/{n} | {same['tflite']}/{n} | {verdict} |"
    ]


class _Set:
    def __init__(self, images, labels) -> None:
        self.images, self.labels = images, labels


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument(
        "--models", default="test_resnet,resnet8", help="architectures to train briefly"
    )
    ap.add_argument("--ckpt", type=Path, nargs="*", default=[], help="checkpoints to measure too")
    ap.add_argument("--train-steps", type=int, default=60)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--images", type=int, default=1000, help="shapes test images for agreement")
    add_arguments(ap)
    args = ap.parse_args()
    check = QuietCheck.from_args(args)
    warnings.simplefilter("ignore")
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp)
        names = [m for m in args.models.split(",") if m]
        models = {m: export_all(train_briefly(m, args.train_steps, out), out) for m in names}
        for i, ckpt in enumerate(args.ckpt):
            sub = out / f"ckpt{i}"
            sub.mkdir()
            models[f"{ckpt.parent.name}/{ckpt.name}"] = export_all(ckpt, sub)
        print(
            f"machine: {platform.machine()}, {platform.processor() or 'cpu'}; threads={args.threads}\n"
        )
        print(
            "| model | engine | engine call (us) | backend.infer (us) | added | allowed (us) | verdict |"
        )
        print("| --- | --- | ---: | ---: | ---: | ---: | --- |")
        for name, paths in models.items():
            print("\n".join(overhead_rows(name, paths, args.threads)))
        print("\n| model | input | preprocess 640x480 median (ms) | p99 (ms) | verdict (< 1 ms) |")
        print("| --- | --- | ---: | ---: | --- |")
        print("\n".join(preprocess_rows(models)))
        print(
            "\n| model | images | .pt accuracy | classes predicted | .onnx same top-1 | .tflite same top-1 | verdict |"
        )
        print("| --- | ---: | ---: | ---: | ---: | ---: | --- |")
        for name, paths in models.items():
            print("\n".join(agreement_rows(name, paths, args.images)))
    check.finish()
    print(check.heading("\nmeasured above:") + " " + check.summary())


if __name__ == "__main__":
    main()
