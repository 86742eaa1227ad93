"""Per-layer error of a QDQ ONNX model: where does accuracy go?

Every Conv/Gemm output of the FP32 graph is compared with the same tensor in the INT8 graph
(ONNX Runtime's QDQ quantizer keeps tensor names) on a few calibration samples. The error
accumulates along the network, so the SQNR of a layer includes everything before it; a sharp
drop from one layer to the next marks the layer that hurts.
"""

from __future__ import annotations

import ast
from pathlib import Path

import numpy as np

from edgeres.quantize.sensitivity import WORST_LAYERS, LayerError

_LAYER_OPS = ("Conv", "Gemm", "MatMul")


def _layer_name(node) -> str:
    props = {p.key: p.value for p in node.metadata_props}
    try:
        scopes = ast.literal_eval(props.get("pkg.torch.onnx.name_scopes", "[]"))
    except (ValueError, SyntaxError):
        scopes = []
    # The last scope is the traced op; a BatchNorm folded into the Conv names the Conv-BN pair.
    depth = (
        3 if "FuseBatchNormIntoConv" in props.get("pkg.onnxscript.rewriter.rule_name", "") else 2
    )
    return scopes[-depth] if len(scopes) >= depth and scopes[-depth] else node.name


def layer_tensors(graph) -> list[tuple[object, str, bool]]:
    """(node, tensor) per Conv/Gemm: its output, or the ReLU's when a ReLU alone consumes it.

    The QDQ quantizer folds such a ReLU into the Conv and gives the Conv the ReLU's output name;
    that tensor then holds the pre-ReLU value (the next QuantizeLinear clips), so the caller
    applies the ReLU before comparing.
    """
    consumers: dict[str, list] = {}
    for n in graph.node:
        for i in n.input:
            consumers.setdefault(i, []).append(n)
    out = []
    for n in graph.node:
        if n.op_type not in _LAYER_OPS:
            continue
        tensor, relu = n.output[0], False
        users = consumers.get(tensor, [])
        if len(users) == 1 and users[0].op_type == "Relu":
            tensor, relu = users[0].output[0], True
        out.append((n, tensor, relu))
    return out


def _measured_inputs(graph, found) -> dict[str, str | None]:
    """Layer tensor -> the measured layer tensor its data input comes from, walking back through
    the first input of the ops in between (ReLU, Add, pooling)."""
    producer = {o: n for n in graph.node for o in n.output}
    measured = {t for _, t, _ in found}
    out: dict[str, str | None] = {}
    for node, tensor, _ in found:
        current, source = node.input[0], None
        for _ in range(len(graph.node)):
            if current in measured:
                source = current
                break
            feeder = producer.get(current)
            if feeder is None or not feeder.input:
                break
            current = feeder.input[0]
        out[tensor] = source
    return out


def _with_outputs(path: Path, names: list[str]):
    import onnx

    model = onnx.load(str(path))
    present = {o.name for o in model.graph.output}
    for name in names:
        if name not in present:
            model.graph.output.append(
                onnx.helper.make_tensor_value_info(name, onnx.TensorProto.FLOAT, None)
            )
    return model


def _run(model, names: list[str], batches: list[np.ndarray]) -> dict[str, np.ndarray]:
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.log_severity_level = 3
    sess = ort.InferenceSession(model.SerializeToString(), opts, providers=["CPUExecutionProvider"])
    inp = sess.get_inputs()[0].name
    outs = [sess.run(names, {inp: b}) for b in batches]
    return {n: np.concatenate([o[i] for o in outs]) for i, n in enumerate(names)}


def layer_errors(
    fp32: str | Path, int8: str | Path, batches: list[np.ndarray], worst: int = WORST_LAYERS
) -> list[LayerError]:
    """SQNR of every Conv/Gemm output: the ``worst`` worst, worst first; all, in graph order,
    when ``worst`` is 0."""
    import onnx

    fp_graph = onnx.load(str(fp32), load_external_data=False).graph
    q_names = {o for n in onnx.load(str(int8)).graph.node for o in n.output}
    found = [f for f in layer_tensors(fp_graph) if f[1] in q_names]
    if not found or not batches:
        return []
    names = [t for _, t, _ in found]
    after = _measured_inputs(fp_graph, found)
    ref = _run(_with_outputs(Path(fp32), names), names, batches)
    got = _run(_with_outputs(Path(int8), names), names, batches)
    errors = []
    for node, name, relu in found:
        q = np.maximum(got[name], 0) if relu else got[name]
        noise = float(np.sum((ref[name] - q) ** 2))
        signal = float(np.sum(ref[name] ** 2))
        if (
            signal == 0.0
        ):  # a layer that outputs zeros (e.g. zero-initialised residual) says nothing
            continue
        sqnr = 10 * np.log10(signal / noise) if noise > 0 else 99.0
        rel = float(np.sqrt(noise / signal))
        errors.append(
            LayerError(
                name,
                _layer_name(node),
                node.op_type,
                round(float(sqnr), 2),
                round(rel, 5),
                after.get(name),
            )
        )
    if not worst:
        return errors
    return sorted(errors, key=lambda e: e.sqnr_db)[:worst]
