"""TFLite INT8 with chosen layers kept in float, and the per-layer error that chooses them.

litert-torch's PT2E path cannot leave one layer in float: its STATIC QDQ conversion quantizes a
layer left unannotated between quantized neighbours, weights included. So a file with float layers
is made from the FP32 ``.tflite`` by Google's AI Edge Quantizer (``ai-edge-quantizer``, static
int8 weights and activations, min/max calibration on the same samples), whose recipe keeps the
named ops in float: ``DEQUANTIZE`` -> the op with float weights -> ``QUANTIZE``.

A layer is a compute op (``CONV_2D``, ``DEPTHWISE_CONV_2D``, ``FULLY_CONNECTED``, with its fused
activation), named by its output tensor in the FP32 file. Every INT8 file made from one network
(PT2E's or the quantizer's) has the same compute ops in the same order, so the k-th compute op of
an INT8 file is compared with the k-th of the FP32 file.
"""

from __future__ import annotations

import io
import os
import re
import warnings
from contextlib import redirect_stderr, redirect_stdout
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from edgeres.errors import ModelFileError, UsageError, missing_dependency
from edgeres.fileio import atomic_write_bytes
from edgeres.formats.tflite_graph import Operator
from edgeres.formats.tflite_verify import read_graph
from edgeres.quantize.calib import calibration_batches, rebatch
from edgeres.quantize.evaluate import LAYER_SAMPLES
from edgeres.quantize.options import QuantOptions, QuantSource, int8_info
from edgeres.quantize.sensitivity import WORST_LAYERS, LayerError

COMPUTE_OPS = ("CONV_2D", "DEPTHWISE_CONV_2D", "FULLY_CONNECTED")
_SUFFIX = re.compile(r"[#;]\d+$")


def fp32_tflite(source: QuantSource) -> Path:
    """The FP32 ``.tflite`` of the source network, exported once beside its FP32 ONNX export
    (a temporary folder: TFLite INT8 is always made from a checkpoint)."""
    from edgeres.convert.tflite import export_tflite

    if source.network() is None or source.fp32_onnx is None:
        raise UsageError("TFLite layers in float need the PyTorch checkpoint as the source")
    path = source.fp32_onnx.with_name(f"{source.fp32_onnx.stem}-fp32.tflite")
    if not path.exists():
        export_tflite(source.model, source.info, path)
    return path


def quantize_tflite_float(source: QuantSource, out_path: Path, opts: QuantOptions) -> Path:
    """Full-integer INT8 ``.tflite`` with the layers in ``opts.exclude`` (FP32 output tensor
    names) kept in float; int8 input and output unless ``opts.io`` is ``"float"``."""
    from edgeres.convert.common import quiet_converters
    from edgeres.convert.tflite import tflite_info
    from edgeres.formats.tflite import embed_tflite
    from edgeres.quantize.tflite.io import float_io

    aeq = _import_quantizer()
    fp32 = fp32_tflite(source)
    float_ops = with_float_inputs(fp32, opts.exclude)
    quant = {k: v for k, v in opts.to_dict().items() if k != "activations"}
    quant.update(quantizer="ai-edge-quantizer", float_ops=float_ops)
    info = tflite_info(int8_info(source, "tflite", quant))
    inputs = _signature_input(fp32)
    stream = calibration_batches(
        opts.calib, info.spec, opts.samples, quiet=opts.quiet, desc="calibrate tflite"
    )
    samples = [{inputs: x} for x in rebatch(stream, 1)]
    # Its calibration bar and report print to stdout/stderr: edgeres keeps stdout for results.
    hush = io.StringIO()
    try:
        with quiet_converters(), redirect_stdout(hush), redirect_stderr(hush):
            data = _run_quantizer(aeq, fp32, samples, float_ops, opts.per_channel)
    except Exception as e:  # noqa: BLE001 - its errors are about the graph, not about edgeres
        first = (str(e).strip().splitlines() or [type(e).__name__])[0][:200]
        raise ModelFileError(
            f"the AI Edge Quantizer could not keep {', '.join(opts.exclude)} in float: {first}"
        ) from None
    if opts.io == "float":
        data = float_io(data)
    out_path = Path(out_path)
    atomic_write_bytes(out_path, embed_tflite(data, info))
    return out_path


def _run_quantizer(aeq: Any, fp32: Path, samples: list, float_ops: list[str], per_channel: bool):
    """Static INT8 of every supported op but ``float_ops``, calibrated on ``samples``."""
    granularity = aeq.qtyping.QuantGranularity
    qt = aeq.quantizer.Quantizer(str(fp32))
    qt.add_static_config(
        regex=".*",
        operation_name=aeq.qtyping.TFLOperationName.ALL_SUPPORTED,
        activation_num_bits=8,
        weight_num_bits=8,
        weight_granularity=(granularity.CHANNELWISE if per_channel else granularity.TENSORWISE),
    )
    for tensor in float_ops:
        qt.update_quantization_recipe(
            regex=f"^{re.escape(tensor)};$",  # the scope: its output names, each ";"-ended
            operation_name=aeq.qtyping.TFLOperationName.ALL_SUPPORTED,
            algorithm_key=aeq.algorithm_manager.AlgorithmName.NO_QUANTIZE,
        )
    calibration = qt.calibrate({"serving_default": samples}, num_threads=os.cpu_count() or 1)
    result = qt.quantize(calibration, enable_progress_bar=False, enable_progress_report=False)
    return bytes(result.quantized_model)


def with_float_inputs(fp32: Path, layers: tuple[str, ...]) -> list[str]:
    """``layers`` and the op producing each one's input: a float layer also reads a float input,
    as in ONNX, so an activation with an outlier is not rounded to int8 on its way in. (The
    quantizer would otherwise feed it ``DEQUANTIZE`` of the int8 tensor.)"""
    graph = read_graph(fp32)
    names = [t.name for t in graph.tensors]
    producer = {t: op for op in graph.operators for t in op.outputs}
    chosen = list(dict.fromkeys(layers))
    for op in graph.operators:
        if names[op.outputs[0]] in layers and op.inputs[0] in producer:
            up = names[producer[op.inputs[0]].outputs[0]]
            chosen.append(up)
    return list(dict.fromkeys(chosen))


@dataclass
class _Graph:
    """One ``.tflite`` read with every tensor kept: its tensors' details (read once), its
    compute ops and their output names, and every op (``tflite_graph``)."""

    interp: Any
    tensors: list[dict]
    ops: list[Operator]
    names: list[str]
    all_ops: tuple[Operator, ...]


def _compute_ops(path: Path) -> _Graph:
    from ai_edge_litert.interpreter import Interpreter

    with warnings.catch_warnings():  # "for debugging purposes only": reading them is the point
        warnings.simplefilter("ignore")
        interp = Interpreter(str(path), experimental_preserve_all_tensors=True, num_threads=1)
    interp.allocate_tensors()
    tensors = interp.get_tensor_details()
    every = read_graph(path).operators
    ops = [o for o in every if o.name in COMPUTE_OPS]
    names = [tensors[o.outputs[0]]["name"] for o in ops]
    return _Graph(interp, tensors, ops, names, every)


def tflite_layer_errors(
    source: QuantSource, path: Path, opts: QuantOptions, worst: int = WORST_LAYERS
) -> list[LayerError]:
    """SQNR of every compute op of the INT8 ``path`` against the FP32 ``.tflite``, on a few
    calibration samples: the ``worst`` worst, worst first; all, in graph order, when 0."""
    from edgeres.convert.tflite import tflite_info

    fp = _compute_ops(fp32_tflite(source))
    q = _compute_ops(path)
    if len(fp.ops) != len(q.ops):
        return []  # not made from this network: nothing to compare op by op
    spec = tflite_info(source.info).spec
    batches = list(rebatch(calibration_batches(opts.calib, spec, LAYER_SAMPLES, quiet=True), 1))
    signal = np.zeros(len(fp.ops))
    noise = np.zeros(len(fp.ops))
    for x in batches:
        ref = _outputs(fp, x)
        got = _outputs(q, x)
        signal += [float(np.sum(r**2)) for r in ref]
        noise += [float(np.sum((r - g) ** 2)) for r, g in zip(ref, got, strict=True)]
    upstream = _upstream(fp)
    sqnr_of = [
        10 * np.log10(s / n) if n > 0 and s > 0 else 99.0
        for s, n in zip(signal, noise, strict=True)
    ]
    modules = dict(source.model.named_modules()) if source.model is not None else {}
    errors = []
    for i, (op, name) in enumerate(zip(fp.ops, fp.names, strict=True)):
        if signal[i] == 0.0:  # a layer that outputs zeros says nothing
            continue
        sqnr = 10 * np.log10(signal[i] / noise[i]) if noise[i] > 0 else 99.0
        errors.append(
            LayerError(
                tensor=name,
                layer=_layer_name(fp, op, name, modules),
                op=op.name,
                sqnr_db=round(float(sqnr), 2),
                rel_error=round(float(np.sqrt(noise[i] / signal[i])), 5),
                # The noisiest input sets the baseline: a layer's own harm is the drop from it.
                after=fp.names[min(upstream[i], key=lambda j: sqnr_of[j])] if upstream[i] else None,
            )
        )
    if not worst:
        return errors
    return sorted(errors, key=lambda e: e.sqnr_db)[:worst]


def _outputs(graph: _Graph, x: np.ndarray) -> list[np.ndarray]:
    """Run one sample; every compute op's output as float (int8 tensors dequantized)."""
    interp = graph.interp
    detail = interp.get_input_details()[0]
    if detail["dtype"] != np.float32:
        scale, zero = detail["quantization"]
        info = np.iinfo(detail["dtype"])
        x = np.clip(np.round(x / scale + zero), info.min, info.max).astype(detail["dtype"])
    interp.set_tensor(detail["index"], x.astype(detail["dtype"], copy=False))
    interp.invoke()
    tensors = graph.tensors
    out = []
    for op in graph.ops:
        index = op.outputs[0]
        value = interp.get_tensor(index).astype(np.float32)
        scale, zero = tensors[index]["quantization"]
        if tensors[index]["dtype"] != np.float32 and scale:
            value = (value - zero) * scale
        out.append(value)
    return out


def _upstream(graph: _Graph) -> dict[int, list[int]]:
    """For each compute op, the compute ops its input comes from through pads, adds and the
    like (all of them: an add has two); empty for ops fed by the graph input."""
    producer = {t: op for op in graph.all_ops for t in op.outputs}
    compute = {o.outputs[0]: i for i, o in enumerate(graph.ops)}
    found: dict[int, list[int]] = {}
    for i, op in enumerate(graph.ops):
        todo, seen, hits = [op.inputs[0]], set(), []
        while todo and len(seen) < 64:
            tensor = todo.pop()
            if tensor in seen:
                continue
            seen.add(tensor)
            if tensor in compute:
                hits.append(compute[tensor])
            elif tensor in producer:
                todo += [t for t in producer[tensor].inputs if t in producer]
        found[i] = hits
    return found


def _layer_name(graph: _Graph, op: Operator, output: str, modules: dict[str, Any]) -> str:
    """The PyTorch module path of a compute op, read from its weight tensor's name (a folded
    BatchNorm names its conv's parent), else its output name."""
    tensors = graph.tensors
    weight = _SUFFIX.sub("", tensors[op.inputs[1]]["name"]) if len(op.inputs) > 1 else ""
    if weight in modules:
        if type(modules[weight]).__name__.startswith("BatchNorm") and "." in weight:
            return weight.rsplit(".", 1)[0]
        return weight
    return _SUFFIX.sub("", output)


def _signature_input(path: Path) -> str:
    from ai_edge_litert.interpreter import Interpreter

    signature = Interpreter(str(path)).get_signature_list()["serving_default"]
    return signature["inputs"][0]


def _import_quantizer() -> Any:
    try:
        import ai_edge_quantizer
        from ai_edge_quantizer import algorithm_manager, qtyping, quantizer  # noqa: F401
    except ImportError:
        raise missing_dependency(
            "ai_edge_quantizer", "train", "keeping TFLite layers in float"
        ) from None
    return ai_edge_quantizer
