"""The ONNX format: ``.onnx`` files, NCHW, run by ONNX Runtime.

Everything edgeres knows about ONNX files that is not an engine lives here: magic bytes, the
metadata entry (one ``metadata_props`` item holding the ``ModelInfo`` JSON, which ONNX Runtime
exposes as ``custom_metadata_map`` so a device needs no ``onnx`` package), MAC counting from the
graph, and where the exporter and the QDQ quantizer are. Importing it imports neither torch nor onnx.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from edgeres.errors import ModelFileError
from edgeres.formats.base import METADATA_KEY, Engine, Format, Quantization, parse_info
from edgeres.formats.onnx_check import (
    OnnxScan,
    check_external_data,
    check_input_sizes,
    scan_onnx,
)
from edgeres.spec import ModelInfo
from edgeres.text import shown

# The opset edgeres writes (convert, quantize's ONNX source, the peak probe): ONNX Runtime 1.14+.
DEFAULT_OPSET = 18
# Calibration methods the ONNX quantizer honours (``--method``).
CALIBRATION_METHODS = ("minmax", "entropy", "percentile")

ONNXRUNTIME = Engine(
    name="onnxruntime",
    backend="edgeres.runtime.onnx:OnnxBackend",
    modules=("onnxruntime",),
    install="pip install onnxruntime (part of the core install)",
    profile_option="providers",
    distributions=("onnxruntime", "onnxruntime-gpu"),
    probe="edgeres.runtime.onnx:probe",
    accelerators=("TensorrtExecutionProvider", "CUDAExecutionProvider"),
    core=True,
)
OPENVINO = Engine(
    name="openvino",
    backend="edgeres.runtime.openvino:OpenVINOBackend",
    modules=("openvino",),
    install="pip install 'edgeres[openvino]'",
    distributions=("openvino",),
    probe="edgeres.runtime.openvino:probe",
    # It ran edgeres' own INT8 ONNX 2.7x faster than ONNX Runtime on a VNNI/AMX Xeon.
    preferred_on=("x86_64", "amd64"),
    note="on x86 it ran edgeres' INT8 .onnx files 2.7x faster than ONNX Runtime "
    "(edgeres tune measures it here)",
)


def magic(head: bytes, strict: bool = False) -> bool:
    """Whether bytes look like an ONNX ``ModelProto``.

    Its first field is almost always ``ir_version`` (tag 0x08), which is what ``strict`` asks for.
    Other leading fields are legal, so otherwise any protobuf tag of field 1..14, wire 0/2 passes.
    """
    if strict:
        return head[:1] == b"\x08"
    return len(head) > 0 and (head[0] & 0x07) in (0, 2) and 1 <= (head[0] >> 3) <= 14


def embed_onnx(model_proto: Any, info: ModelInfo) -> Any:
    """Add (or replace) the edgeres entry in an ONNX ``ModelProto``'s ``metadata_props``.

    Works on the protobuf object alone; nothing is imported. Returns the same proto.
    """
    props = model_proto.metadata_props
    for entry in [p for p in props if p.key == METADATA_KEY]:
        props.remove(entry)
    entry = props.add()
    entry.key = METADATA_KEY
    entry.value = info.to_json()
    return model_proto


def read_onnx_metadata(custom_map: dict[str, str] | None) -> ModelInfo | None:
    """Read a ``ModelInfo`` from ONNX metadata, or None if the file has none.

    Args:
        custom_map: ONNX Runtime's ``session.get_modelmeta().custom_metadata_map`` (or any dict of
            the file's ``metadata_props``).

    Raises:
        ModelFileError: The entry exists but is not valid edgeres metadata.
    """
    if not custom_map or METADATA_KEY not in custom_map:
        return None
    return parse_info(custom_map[METADATA_KEY], "ONNX")


def open_checked(path: Path) -> OnnxScan:
    """Walk an ``.onnx`` file before any engine opens it: refuse corruption and escaping data.

    Every ONNX engine calls this first, so a truncated file or external data outside the model's
    folder is one clear error whichever engine runs it.
    """
    try:
        data = Path(path).read_bytes()
    except OSError as e:
        raise ModelFileError(f"cannot read '{shown(path)}': {e.strerror}") from None
    scan = scan_onnx(data, path)
    del data  # the engine reads the file itself; do not hold two copies
    check_external_data(Path(path), scan.external)
    check_input_sizes(Path(path), scan.inputs)
    return scan


def precision_of(scan: OnnxScan) -> str:
    """``int8`` for QDQ files (edgeres' INT8 ONNX), else ``fp32``."""
    return "int8" if "QuantizeLinear" in scan.op_types else "fp32"


def read_metadata(path: Path) -> ModelInfo | None:
    """The embedded ``ModelInfo`` of an ``.onnx`` file, after the checks every engine runs first
    (``open_checked``: structure, external data inside the folder, input sizes), so ``inspect``
    refuses what ``predict`` refuses with the same line instead of reaching ``onnx.checker``."""
    return read_onnx_metadata(open_checked(Path(path)).metadata)


_WEIGHT_INPUT = {
    "Conv": 1,
    "ConvInteger": 1,
    "QLinearConv": 3,
    "Gemm": 1,
    "MatMul": 1,
    "MatMulInteger": 1,
    "QLinearMatMul": 3,
    "QGemm": 3,
    "ConvTranspose": 1,
}


def load_model(path: Path, load_external_data: bool = True) -> Any:
    """``onnx.load`` of a file the structural check let by; protobuf's refusal is one line.

    Raises:
        ModelFileError: The bytes are not an ONNX ``ModelProto`` after all.
    """
    import onnx
    from google.protobuf.message import DecodeError

    try:
        return onnx.load(str(path), load_external_data=load_external_data)
    except (DecodeError, ValueError, RuntimeError) as e:
        text = str(e).strip()
        first = text.splitlines()[0][:300] if text else type(e).__name__
        raise ModelFileError(
            f"'{shown(path)}' is not a valid ONNX file ({shown(first)}); re-export or copy it again"
        ) from None


def count_macs(path: Path) -> tuple[int | None, str]:
    """MACs per image counted from the graph, through the ``onnx`` package when installed."""
    try:
        import onnx
    except ImportError:
        return None, "unknown: counting ONNX MACs needs the 'onnx' package (pip install onnx)"
    try:
        graph = onnx.shape_inference.infer_shapes(load_model(path)).graph
    except onnx.shape_inference.InferenceError as e:  # types or shapes that contradict the graph
        first = (str(e).strip().splitlines() or [type(e).__name__])[0][:160]
        return None, f"unknown: the graph's shapes cannot be inferred ({shown(first)})"
    dims = {
        v.name: tuple(
            d.dim_value if d.HasField("dim_value") else 0 for d in v.type.tensor_type.shape.dim
        )
        for v in [*graph.value_info, *graph.output, *graph.input]
    }
    for init in graph.initializer:
        dims[init.name] = tuple(init.dims)
    # QDQ models feed weights through DequantizeLinear: its output has the initializer's shape.
    for node in graph.node:
        if node.op_type == "DequantizeLinear" and node.input[0] in dims:
            dims.setdefault(node.output[0], dims[node.input[0]])
    return sum(_node_macs(node, dims) for node in graph.node), "counted from the ONNX graph"


def _node_macs(node: Any, dims: dict[str, tuple[int, ...]]) -> int:
    idx = _WEIGHT_INPUT.get(node.op_type)
    if idx is None or len(node.input) <= idx:
        return 0
    w = dims.get(node.input[idx], ())
    out = dims.get(node.output[0], ())
    if not w or not out or 0 in out[1:]:
        return 0
    per_image = math.prod(out[1:])
    if "Conv" in node.op_type:  # weight [O, I/groups, KH, KW]
        return per_image * math.prod(w[1:])
    trans_b = any(a.name == "transB" and a.i for a in node.attribute)
    return per_image * (w[-1] if trans_b else w[0])  # K of a [K, N] (or [N, K]) weight


FORMAT = Format(
    name="onnx",
    suffixes=(".onnx",),
    layout="NCHW",
    engines=(ONNXRUNTIME, OPENVINO),
    magic=magic,
    read_metadata=read_metadata,
    count_macs=count_macs,
    exporter="edgeres.convert.onnx:export_onnx",
    export_options=("opset", "dynamic_batch"),
    quantization=Quantization(
        quantizer="edgeres.quantize.onnx.static:quantize_onnx",
        sources=("pytorch", "pt2", "safetensors", "onnx"),
        checker="edgeres.quantize.checks:check_onnx",
        layer_errors="edgeres.quantize.evaluate:onnx_layer_errors",
        methods=CALIBRATION_METHODS,
        float_layers=True,
    ),
    quant_source="edgeres.quantize.source:from_onnx",
    torch_reader="edgeres.formats.onnx_module:onnx_source",
)
