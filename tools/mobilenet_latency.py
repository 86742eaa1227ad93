#!/usr/bin/env python
"""MobileNetV2 INT8 against ResNet-18s INT8 at 224 px, batch 1, and where MobileNetV2's time goes.

1. ``tools/peers.py --sizes resnet18s-224,mobilenet_v2-224`` (or ``--sizes``): every edgeres
   file on every engine, PyTorch eager, ONNX Runtime's default INT8 and OpenVINO + NNCF's own
   INT8 of the same network, each in a fresh process, in interleaved rounds, with
   ``tools/quietcheck.py`` refusing a busy machine; its table names the engine ``tune``'s rule
   picks per size. The MobileNetV2 / ResNet-18s ratio of the picked rows is printed at the end.
2. The depthwise layers' share: each INT8 file of mobilenet_v2-224 profiled by its engine's own
   profiler (what ``edgeres benchmark --ops`` shows), the depthwise convolutions summed (TFLite's
   ``DEPTHWISE_CONV_2D``; in ONNX the Conv nodes with ``group > 1``, by name), beside their share
   of the MACs: depthwise layers are ~3% of MobileNetV2's MACs, memory-bound, so their share of
   the time says what limits the 6x MACs ratio.

Run it quiet (the lead does, for the record):

    .venv/bin/python tools/mobilenet_latency.py --out runs/mbv2-latency --threads 2
    .venv/bin/python tools/mobilenet_latency.py --out /tmp/l --sizes mobilenet_v2-96 --rounds 1 --allow-busy
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent


def parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--out", type=Path, default=Path("runs/mbv2-latency"))
    p.add_argument("--sizes", default="resnet18s-224,mobilenet_v2-224")
    p.add_argument("--threads", default="2")
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--ops-runs", type=int, default=30)
    p.add_argument("--allow-busy", action="store_true")
    return p.parse_args()


def depthwise_names(onnx_path: Path) -> set[str]:
    import onnx

    graph = onnx.load(str(onnx_path), load_external_data=False).graph
    return {
        n.name
        for n in graph.node
        if n.op_type == "Conv" and any(a.name == "group" and a.i > 1 for a in n.attribute)
    }


def depthwise_share(path: Path, engine: str | None, runs: int, names: set[str]) -> dict:
    from edgeres import runtime

    with runtime.load(path, engine=engine) as backend:
        shape = backend.input_shape if hasattr(backend, "input_shape") else None
        x = np.random.default_rng(0).random(shape or (1, 3, 224, 224), dtype=np.float32)
        ops = backend.op_profile(x, runs=runs)
        used = backend.engine
    total = sum(o.ms for o in ops)
    dw = sum(
        o.ms
        for o in ops
        if "DEPTHWISE" in o.op_type.upper() or any(n and n in o.name for n in names)
    )
    return {"file": path.name, "engine": used, "total_ms": total, "depthwise_ms": dw}


def macs_share(size: int) -> float:
    import torch

    from edgeres.models import count_macs, create_model

    model = create_model("mobilenet_v2", 10).eval()
    dw = [m for m in model.modules() if isinstance(m, torch.nn.Conv2d) and m.groups > 1]
    full = count_macs(model, (1, 3, size, size))
    # a 3x3 depthwise output element is 9 MACs (one input channel per filter)
    return sum(o * 9 for o in _dw_outputs(model, dw, size)) / full


def _dw_outputs(model, layers, size: int) -> list[int]:
    import torch

    sizes = []
    hooks = [m.register_forward_hook(lambda _m, _i, out: sizes.append(out.numel())) for m in layers]
    with torch.no_grad():
        model(torch.zeros(1, 3, size, size))
    for h in hooks:
        h.remove()
    return sizes


def main() -> None:
    args = parse_args()
    cmd = [sys.executable, str(HERE / "peers.py"), "--sizes", args.sizes, "--out", str(args.out),
           "--threads", args.threads, "--rounds", str(args.rounds)]  # fmt: skip
    if args.allow_busy:
        cmd.append("--allow-busy")
    peers = subprocess.run(cmd, text=True, capture_output=True)
    print(peers.stdout)
    if peers.returncode:
        sys.exit(peers.stderr.strip().splitlines()[-1] if peers.stderr.strip() else 1)
    results = json.loads((args.out / "peers.json").read_text())
    picked = {}
    for size in dict.fromkeys(r["size"] for r in results):
        ours = [r for r in results if r["size"] == size and r["p50_ms"] and "int8" in r["config"]]
        if ours:
            picked[size] = min(ours, key=lambda r: r["p50_ms"])
    if "resnet18s-224" in picked and "mobilenet_v2-224" in picked:
        r, m = picked["resnet18s-224"], picked["mobilenet_v2-224"]
        print(f"\nfastest INT8 rows: resnet18s {r['p50_ms']:.4g} ms ({r['config']}), mobilenet_v2 "
              f"{m['p50_ms']:.4g} ms ({m['config']}): MobileNetV2 {r['p50_ms'] / m['p50_ms']:.2f}x "
              "faster (MACs ratio 6.1x)")  # fmt: skip
    for size in (s for s in args.sizes.split(",") if s.startswith("mobilenet_v2")):
        folder, px = args.out / size, int(size.rsplit("-", 1)[1])
        names = depthwise_names(folder / "model_int8.onnx")
        print(f"\n### {size}: depthwise layers' share (engine profilers, {args.ops_runs} runs, "
              f"{args.threads} threads not pinned); {100 * macs_share(px):.1f}% of the MACs\n")  # fmt: skip
        print(
            "| file | engine | total ms (profiled) | depthwise ms | share |\n|---|---|---:|---:|---:|"
        )
        for path, engine in ((folder / "model_int8.onnx", "onnxruntime"),
                             (folder / "model_int8.onnx", "openvino"),
                             (folder / "model_int8.tflite", None)):  # fmt: skip
            try:
                row = depthwise_share(path, engine, args.ops_runs, names)
            except Exception as e:  # noqa: BLE001 - one engine without a profiler keeps the rest
                print(f"| {path.name} | {engine} | failed: {e} | | |")
                continue
            share = row["depthwise_ms"] / row["total_ms"] if row["total_ms"] else 0.0
            print(f"| {row['file']} | {row['engine']} | {row['total_ms']:.3f} | "
                  f"{row['depthwise_ms']:.3f} | {100 * share:.1f}% |")  # fmt: skip


if __name__ == "__main__":
    main()
