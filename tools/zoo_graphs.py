"""The classic ONNX model-zoo classifiers through inspect, quantize and convert, as a user runs them.

The ``onnx`` package ships the zoo's classic graphs for its backend tests
(``onnx/backend/test/data/light/light_*.onnx``: opset 9, IR 3, Caffe2-era, their weights made by
``ConstantOfShape`` with one value each, so every class scores alike). Each graph is written
out with the weight of every Conv and Gemm drawn at random instead (He-normal, seed 0; biases
and BatchNorm statistics keep the file's constants), so top-1 means something; the graph is
otherwise the file's. Then, each in a fresh process, as from the command line:
``edgeres inspect``, ``edgeres quantize --to onnx``, ``edgeres convert --to tflite`` and
``edgeres quantize --to tflite`` (ImageNet mean/std, ``--calib`` the shipped calibration
images). Figures, on ``--images`` of the shipped calibration images at 224 px:

- read back: the PyTorch module the reader makes (what ``convert --to tflite`` and ``quantize
  --to tflite`` start from) against ONNX Runtime on the original file, largest absolute
  difference of the logits (``--read-only`` stops there);
- FP32 TFLite: the largest absolute difference of its logits from ONNX Runtime's on the
  original file (before the file's trailing Softmax, which edgeres' files leave out);
- INT8 (ONNX on ONNX Runtime, TFLite on LiteRT): top-1 agreement with ONNX Runtime on the
  original FP32 file.

No timings are taken: the figures do not depend on the machine's load. Prints a Markdown table
(docs/convert.md holds the last one).

Usage (the table):
    nice .venv/bin/python tools/zoo_graphs.py --out /tmp/zoo
Smallest settings (checks the tool works):
    .venv/bin/python tools/zoo_graphs.py --out /tmp/zoo_q --graphs squeezenet --images 4 --samples 8
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

LIGHT = Path(onnx.__file__).parent / "backend" / "test" / "data" / "light"
GRAPHS = ("squeezenet", "shufflenet", "inception_v1", "resnet50", "densenet121",
          "inception_v2", "bvlc_alexnet", "zfnet512", "vgg19")  # fmt: skip
MEAN, STD = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)
FLAGS = ("--mean", ",".join(map(str, MEAN)), "--std", ",".join(map(str, STD)))
CALIB = Path(__file__).resolve().parent.parent / "calibration_data"


def random_weights(model, seed: int = 0):
    """``model`` with each ConstantOfShape that makes a Conv/Gemm weight replaced by a random
    initializer of that shape (He-normal)."""
    rng = np.random.default_rng(seed)
    g = model.graph
    shapes = {t.name: numpy_helper.to_array(t) for t in g.initializer}
    weight_of = {}
    for n in g.node:
        if n.op_type in ("Conv", "Gemm") and len(n.input) > 1:
            trans_b = any(a.name == "transB" and a.i for a in n.attribute)
            weight_of[n.input[1]] = n.op_type == "Conv" or trans_b
    kept = []
    for n in g.node:
        if n.op_type == "ConstantOfShape" and n.output[0] in weight_of and n.input[0] in shapes:
            shape = [int(d) for d in shapes[n.input[0]]]
            fan_in = int(np.prod(shape[1:])) if weight_of[n.output[0]] else shape[0]
            w = (rng.standard_normal(shape) * np.sqrt(2.0 / fan_in)).astype(np.float32)
            g.initializer.append(numpy_helper.from_array(w, n.output[0]))
            # IR 3, as the file: every initializer is also a graph input
            g.input.append(helper.make_tensor_value_info(n.output[0], TensorProto.FLOAT, shape))
            continue
        kept.append(n)
    del g.node[:]
    g.node.extend(kept)
    return model


def edgeres(*argv) -> tuple[int, dict | None, str]:
    """Exit code, the --json document (or None) and the last stderr line of one command."""
    cmd = [sys.executable, "-m", "edgeres", *map(str, argv), "--json"]
    res = subprocess.run(cmd, capture_output=True, text=True, check=False)
    try:
        doc = json.loads(res.stdout) if res.stdout.strip() else None
    except json.JSONDecodeError:
        doc = None
    last = (res.stderr.strip().splitlines() or [""])[-1]
    return res.returncode, doc, last


def images(n: int, size: int = 224) -> np.ndarray:
    """``n`` of the shipped calibration images, NCHW, normalised with ImageNet's mean/std."""
    from PIL import Image

    files = sorted(CALIB.glob("*/*.png"))[:: max(1, len(sorted(CALIB.glob("*/*.png"))) // n)][:n]
    out = []
    for f in files:
        img = np.asarray(Image.open(f).convert("RGB").resize((size, size)), np.float32) / 255
        out.append(((img - MEAN) / STD).transpose(2, 0, 1))
    return np.stack(out).astype(np.float32)


def reference_logits(path: Path, x: np.ndarray) -> np.ndarray:
    """ONNX Runtime on the original file, one image at a time; before its trailing Softmax."""
    import onnxruntime as ort

    from edgeres.formats.onnx_normalize import classifier_io, trailing_softmax

    model = onnx.load(str(path))
    image, scores = classifier_io(model.graph, path)
    softmax = trailing_softmax(model)
    name = softmax.input[0] if softmax is not None else scores.name
    model.graph.output.append(helper.make_tensor_value_info(name, TensorProto.FLOAT, None))
    opts = ort.SessionOptions()
    opts.log_severity_level = 3
    session = ort.InferenceSession(
        model.SerializeToString(), opts, providers=["CPUExecutionProvider"]
    )
    return np.concatenate(
        [session.run([name], {image.name: x[i : i + 1]})[0].reshape(1, -1) for i in range(len(x))]
    )


def file_logits(path: Path, x: np.ndarray, engine: str | None = None) -> np.ndarray:
    from edgeres import runtime

    with runtime.load(path, engine=engine) as backend:
        batch = x.transpose(0, 2, 3, 1) if backend.spec.layout == "NHWC" else x
        return np.concatenate([backend.infer(batch[i : i + 1]) for i in range(len(x))])


def read_back(path: Path, x: np.ndarray, ref: np.ndarray) -> str:
    """The reader's module (what convert and quantize --to tflite start from) against ONNX
    Runtime on the original file."""
    import torch

    from edgeres.errors import EdgeresError
    from edgeres.formats.onnx_module import onnx_module

    try:
        module = onnx_module(path)
    except EdgeresError as e:
        return f"refused: {str(e)[:160]}"
    with torch.no_grad():
        got = module(torch.from_numpy(x)).numpy()
    return f"ok, max abs diff {np.abs(got - ref).max():.1e} (logits up to {np.abs(ref).max():.2g})"


def run_graph(name: str, args, x: np.ndarray) -> dict:
    out = args.out / name
    out.mkdir(parents=True, exist_ok=True)
    path = out / f"{name}.onnx"
    onnx.save(random_weights(onnx.load(str(LIGHT / f"light_{name}.onnx"))), str(path))
    ref = reference_logits(path, x)
    calib = ("--calib", CALIB, "--samples", args.samples)
    row = {"graph": f"light_{name}"}
    code, doc, last = edgeres("inspect", path)
    row["inspect"] = f"ok, {doc['parameters'] / 1e6:.1f} M parameters" if code == 0 else last
    row["read_back"] = read_back(path, x, ref)
    if args.read_only:
        return row
    steps = {
        "quantize_onnx": (("quantize", path, "--to", "onnx", *calib), f"{name}_int8.onnx"),
        "convert_tflite": (("convert", path, "--to", "tflite"), f"{name}.tflite"),
        "quantize_tflite": (("quantize", path, "--to", "tflite", *calib), f"{name}_int8.tflite"),
    }
    for key, (argv, made) in steps.items():
        folder = out / key
        code, _, last = edgeres(*argv, *FLAGS, "--out", folder)
        if code != 0:
            row[key] = f"exit {code}: {last[:160]}"
            continue
        engine = "onnxruntime" if made.endswith(".onnx") else None
        got = file_logits(folder / made, x, engine)
        if key == "convert_tflite":
            row[key] = (
                f"ok, max abs diff {np.abs(got - ref).max():.1e} (logits up to {np.abs(ref).max():.1f})"
            )
        else:
            agree = float(np.mean(got.argmax(1) == ref.argmax(1)))
            row[key] = f"ok, top-1 agreement {100 * agree:.0f}%"
    return row


def table(rows: list[dict], n_images: int) -> str:
    head = ("| graph | inspect | read back into PyTorch | quantize --to onnx | convert --to tflite "
            "| quantize --to tflite |\n| --- | --- | --- | --- | --- | --- |")  # fmt: skip
    lines = [head]
    for r in rows:
        cells = [r["graph"], r["inspect"], r["read_back"], r.get("quantize_onnx", "not run"),
                 r.get("convert_tflite", "not run"), r.get("quantize_tflite", "not run")]  # fmt: skip
        lines.append("| " + " | ".join(c.replace("|", "/") for c in cells) + " |")
    lines.append(f"\n({n_images} calibration images at 224 px; INT8 agreement is with ONNX Runtime "
                 "on the original FP32 file.)")  # fmt: skip
    return "\n".join(lines)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--out", type=Path, required=True)
    p.add_argument(
        "--graphs", default=",".join(GRAPHS), help="comma-separated; " + ", ".join(GRAPHS)
    )
    p.add_argument("--images", type=int, default=32, help="images for the figures")
    p.add_argument("--samples", type=int, default=64, help="calibration samples")
    p.add_argument("--read-only", action="store_true", help="inspect and the read-back only")
    args = p.parse_args()
    x = images(args.images)
    rows = []
    for name in args.graphs.split(","):
        rows.append(run_graph(name, args, x))
        print(json.dumps(rows[-1]), file=sys.stderr, flush=True)
    print(table(rows, len(x)))


if __name__ == "__main__":
    main()
