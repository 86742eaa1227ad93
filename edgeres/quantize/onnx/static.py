"""ONNX INT8: ONNX Runtime static quantization (QDQ), calibrated on a stream of samples."""

from __future__ import annotations

import logging
import tempfile
from pathlib import Path

from edgeres.convert.common import quiet_converters
from edgeres.convert.onnx import strip_node_metadata
from edgeres.errors import ModelFileError, UsageError
from edgeres.fileio import atomic_path, check_space, disk_errors
from edgeres.quantize.calib import CHUNK, calibration_batches, rebatch, streaming_reader
from edgeres.quantize.onnx.compact import compact_qdq
from edgeres.quantize.options import QuantOptions, QuantSource, int8_info


def _ort_enums(opts: QuantOptions):
    from onnxruntime.quantization import CalibrationMethod, QuantType

    method = {
        "minmax": CalibrationMethod.MinMax,
        "entropy": CalibrationMethod.Entropy,
        "percentile": CalibrationMethod.Percentile,
    }[opts.method]
    act = QuantType.QUInt8 if opts.activations == "uint8" else QuantType.QInt8
    return method, act, QuantType.QInt8


def _input_batch(path: Path) -> tuple[str, int | None]:
    import onnx

    inp = onnx.load(str(path), load_external_data=False).graph.input[0]
    dim = inp.type.tensor_type.shape.dim[0]
    return inp.name, (dim.dim_value if dim.HasField("dim_value") else None)


def preprocess(fp32: Path, out: Path) -> Path:
    """ONNX Runtime's quantization pre-processing (shape inference, graph fusions) into ``out``.

    Falls back to ``fp32`` unchanged when the pre-processor cannot handle the graph: it only
    improves speed and ranges, the quantizer works without it.
    """
    from onnxruntime.quantization.shape_inference import quant_pre_process

    # Its optimisation step logs a full traceback at ERROR level when it fails (a full disk, a
    # graph it cannot fuse) and carries on: it is optional, so that is not the user's business.
    inner = logging.getLogger("onnxruntime.quantization.shape_inference")
    was_disabled, inner.disabled = inner.disabled, True
    try:
        with quiet_converters():
            quant_pre_process(str(fp32), str(out), skip_symbolic_shape=True)
        return out
    except Exception as e:  # noqa: BLE001 - optional step
        logging.getLogger(__name__).info("quantization pre-processing skipped: %s", e)
        return fp32
    finally:
        inner.disabled = was_disabled


def quantize_onnx(source: QuantSource, out_path: str | Path, opts: QuantOptions) -> Path:
    """Write a QDQ INT8 ONNX file of ``source.fp32_onnx`` with edgeres metadata.

    Weights are int8 (per channel unless ``opts.per_channel`` is false; 7-bit values when
    ``opts.weight_bits`` is 7, see ``QuantizeConfig.weight_bits``); activations are
    ``opts.activations``; ranges come from ``opts.samples`` samples of ``opts.calib`` streamed
    through ONNX Runtime in chunks.

    Raises:
        DataError: Calibration data missing or too small.
        ModelFileError: ONNX Runtime cannot quantize this graph.
    """
    import onnx

    from edgeres.formats.onnx import embed_onnx

    if source.fp32_onnx is None:
        raise UsageError("ONNX quantization needs an FP32 ONNX model")
    out_path = Path(out_path)
    with tempfile.TemporaryDirectory(prefix=".edgeres-q-", dir=out_path.parent) as tmp:
        model_in = preprocess(source.fp32_onnx, Path(tmp) / "pre.onnx")
        proto = _calibrate(source, model_in, Path(tmp) / "int8.onnx", opts)
        if opts.exclude:
            fp32_graph = onnx.load(str(model_in), load_external_data=False).graph
            float_inputs(proto.graph, set(excluded_nodes(model_in, opts.exclude)), fp32_graph)
    # ONNX QDQ keeps float input/output: the io option does not apply.
    info = int8_info(source, "onnx", {k: v for k, v in opts.to_dict().items() if k != "io"})
    # Q/DQ bookkeeping (names, value_info, repeated zero points) is ~10% of a small model's file.
    embed_onnx(compact_qdq(strip_node_metadata(proto, keep=())), info)
    with atomic_path(out_path) as tmp_file:
        onnx.save_model(proto, str(tmp_file), save_as_external_data=False)
    return out_path


def excluded_nodes(model_in: Path, tensors: tuple[str, ...]) -> list[str]:
    """Names of the nodes that compute the layer outputs ``tensors`` in ``model_in``.

    A layer tensor is a Conv/Gemm output, or the output of the ReLU right behind it (see
    ``layers.layer_tensors``): then both nodes stay float, else the quantizer would fold them.
    """
    import onnx

    graph = onnx.load(str(model_in), load_external_data=False).graph
    producer = {o: n for n in graph.node for o in n.output}
    names = []
    for tensor in tensors:
        node = producer.get(tensor)
        if node is None:
            raise UsageError(f"no node computes '{tensor}' in the ONNX graph to keep in float")
        names.append(node.name)
        if node.op_type == "Relu" and node.input[0] in producer:
            names.append(producer[node.input[0]].name)
    return names


def float_inputs(graph, nodes: set[str], fp32_graph) -> None:
    """Feed the float nodes ``nodes`` the float tensors behind their QuantizeLinear/DequantizeLinear
    pairs (in place), and drop the pairs nobody reads any more.

    ``nodes_to_exclude`` keeps a node's weights float, but a tensor it shares with a quantized
    node still reaches it through the shared pair: the float layer would see int8 values. The
    float tensor behind a pair is not always the FP32 graph's: the quantizer removes a ReLU whose
    range the next QuantizeLinear clips anyway and names its input after it (``Conv -> relu``
    holds the pre-ReLU value), so that activation is put back in front of the float node.
    """
    fp32_producer = {o: n for n in fp32_graph.node for o in n.output}
    producer = {o: n for n in graph.node for o in n.output}
    restored: dict[str, object] = {}  # tensor -> the activation put back behind it
    for node in graph.node:
        if node.name not in nodes:
            continue
        for i, name in enumerate(node.input):
            dq = producer.get(name)
            q = (
                producer.get(dq.input[0])
                if dq is not None and dq.op_type == "DequantizeLinear"
                else None
            )
            if q is None or q.op_type != "QuantizeLinear":
                continue
            tensor = q.input[0]
            want, have = fp32_producer.get(tensor), producer.get(tensor)
            folded = want is not None and want.op_type in _FOLDED
            if folded and have is not None and have.op_type != want.op_type:
                restored.setdefault(tensor, _activation(want, tensor))
                tensor = restored[tensor].output[0]
            node.input[i] = tensor
    _insert_after(graph, restored, fp32_graph)
    _drop_unread(graph, ("QuantizeLinear", "DequantizeLinear"))


# Activations ONNX Runtime's QDQ quantizer removes when the next QuantizeLinear's range covers them.
_FOLDED = ("Relu", "Clip")


def _activation(fp32_node, tensor: str):
    """A copy of ``fp32_node`` (an activation the quantizer removed) reading ``tensor``."""
    import onnx

    node = onnx.NodeProto()
    node.CopyFrom(fp32_node)
    node.name = f"{fp32_node.name}_float"
    node.input[0] = tensor
    del node.output[:]
    node.output.append(f"{tensor}_float")
    return node


def _insert_after(graph, restored: dict, fp32_graph) -> None:
    """Put each node of ``restored`` right behind the producer of the tensor it reads (with the
    initializers it reads, e.g. Clip's bounds), keeping the graph in topological order."""
    if not restored:
        return
    inits = {i.name: i for i in fp32_graph.initializer}
    have = {i.name for i in graph.initializer}
    nodes = []
    for node in graph.node:
        nodes.append(node)
        for tensor in node.output:
            if tensor in restored:
                new = restored[tensor]
                nodes.append(new)
                graph.initializer.extend(
                    inits[n] for n in new.input[1:] if n in inits and n not in have
                )
    # Built from copies: protobuf's extend copies the messages, so nothing above is edited later.
    del graph.node[:]
    graph.node.extend(nodes)


def _drop_unread(graph, ops: tuple[str, ...]) -> None:
    outputs = {o.name for o in graph.output}
    while True:
        read = {i for n in graph.node for i in n.input} | outputs
        dead = [n for n in graph.node if n.op_type in ops and not set(n.output) & read]
        if not dead:
            return
        for n in dead:
            graph.node.remove(n)


def _calibrate(source: QuantSource, model_in: Path, out: Path, opts: QuantOptions):
    """Stream calibration batches through ``quantize_static`` into ``out``; return its proto."""
    import onnx
    from google.protobuf.message import DecodeError
    from onnxruntime.quantization import QuantFormat, quantize_static

    method, act_type, weight_type = _ort_enums(opts)
    name, fixed = _input_batch(model_in)
    batches = calibration_batches(
        opts.calib, source.info.spec, opts.samples, quiet=opts.quiet, desc="calibrate onnx"
    )
    # Model runs: one per fixed-size piece, or one per streamed batch for a free batch.
    runs = -(-opts.samples // CHUNK) if fixed is None else opts.samples // fixed
    try:
        with quiet_converters():
            quantize_static(
                str(model_in),
                str(out),
                streaming_reader(rebatch(batches, fixed), name, runs),
                quant_format=QuantFormat.QDQ,
                per_channel=opts.per_channel,
                activation_type=act_type,
                weight_type=weight_type,
                reduce_range=opts.weight_bits == 7,
                calibrate_method=method,
                nodes_to_exclude=excluded_nodes(model_in, opts.exclude),
                extra_options={"CalibStridedMinMax": CHUNK},
            )
    except (ValueError, RuntimeError, KeyError) as e:
        first = (str(e).strip().splitlines() or [type(e).__name__])[0][:200]
        raise ModelFileError(f"ONNX Runtime could not quantize '{source.path}': {first}") from None
    except DecodeError:
        # ONNX Runtime writes models to temp files with C++ code that does not report a failed
        # write, then fails to parse them: on a full disk that is the only symptom.
        size = 2 * model_in.stat().st_size
        for folder in (out.parent, Path(tempfile.gettempdir())):
            check_space(folder, size)
        raise
    with disk_errors(out):
        return onnx.load(str(out))
