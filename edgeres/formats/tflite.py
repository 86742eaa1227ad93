"""The TFLite format: ``.tflite`` flatbuffers, NHWC, run by LiteRT (or the legacy tflite-runtime).

Metadata is a named ``Metadata`` entry pointing at a ``Buffer`` that holds the ``ModelInfo`` JSON.
Every read goes through the structural verifier (``tflite_verify``) first, so malformed input is a
``ModelFileError`` rather than a crash in the interpreter. Importing this imports no engine;
embedding uses the flatbuffer schema that ships with ``ai-edge-litert``, imported when called.
"""

from __future__ import annotations

import functools
import math
from pathlib import Path
from typing import Any

import numpy as np

from edgeres.errors import UsageError, missing_dependency
from edgeres.formats.base import METADATA_KEY, Engine, Format, Quantization, parse_info
from edgeres.formats.tflite_graph import Graph
from edgeres.formats.tflite_support import SUPPORT_KEY, SupportMetadata, read_support
from edgeres.formats.tflite_verify import TFLiteSummary, read_graph, verify_tflite
from edgeres.spec import InputSpec, ModelInfo
from edgeres.text import shown

IDENTIFIER = b"TFL3"
# Weight buffers are aligned so kernels (and mmap) can read them in place, as the converter does.
_BUFFER_ALIGN = 16
_BACKEND = "edgeres.runtime.tflite:TFLiteBackend"

LITERT = Engine(
    name="litert",
    backend=_BACKEND,
    modules=("ai_edge_litert",),
    install="pip install ai-edge-litert (part of the core install)",
    profile_option="delegates",
    options={"engine": "ai_edge_litert.interpreter"},
    distributions=("ai-edge-litert",),
    probe="edgeres.runtime.tflite:probe",
    accelerators=("gpu",),
    core=True,
)
TFLITE_RUNTIME = Engine(
    name="tflite-runtime",
    backend=_BACKEND,
    modules=("tflite_runtime",),
    install="pip install 'edgeres[tflite-legacy]' (numpy < 2)",
    profile_option="delegates",
    options={"engine": "tflite_runtime.interpreter"},
    distributions=("tflite-runtime",),
    probe="edgeres.runtime.tflite:probe",
    accelerators=("gpu",),
    note="optional fallback for numpy<2 images",
    repair="pip uninstall tflite-runtime (ai-edge-litert replaces it; it needs numpy<2)",
)
TENSORFLOW = Engine(
    name="tensorflow",
    backend=_BACKEND,
    modules=("tensorflow",),
    install="pip install tensorflow",
    profile_option="delegates",
    options={"engine": "tensorflow.lite"},
    distributions=("tensorflow",),
    probe="edgeres.runtime.tflite:probe",
    accelerators=("gpu",),
    note="optional; a full TensorFlow only for its TFLite interpreter",
)


def magic(head: bytes, strict: bool = False) -> bool:
    """Whether bytes start like a TFLite flatbuffer (its file identifier at offset 4)."""
    return len(head) >= 8 and head[4:8] == IDENTIFIER


def read_tflite_metadata(data: bytes, path: str | Path = "<bytes>") -> ModelInfo | None:
    """Read a ``ModelInfo`` from a TFLite flatbuffer: its edgeres entry, else what its TFLite
    Support metadata says (``tflite_support``), else None.

    The file is verified structurally first, so malformed input raises ``ModelFileError``
    (naming ``path``, the file the bytes came from).
    """
    return embedded_info(data, verify_tflite(data, path), path)


def embedded_info(data: bytes, summary: TFLiteSummary, path: str | Path) -> ModelInfo | None:
    """The ``ModelInfo`` a verified file carries (see ``read_tflite_metadata``)."""
    raw = summary.metadata.get(METADATA_KEY)
    if raw is not None:
        return parse_info(raw.rstrip(b"\x00").decode("utf-8", errors="replace"), "TFLite")
    raw = summary.metadata.get(SUPPORT_KEY)
    if raw is None:
        return None
    return _support_info(read_support(data, raw, shown(path)), summary.graph, Path(path))


def _support_info(meta: SupportMetadata, graph: Graph, path: Path) -> ModelInfo | None:
    """A ``ModelInfo`` from TFLite Support metadata, for a one-image-input classifier (None for
    any other graph: the runtime then refuses it or assumes its defaults, and says so)."""
    if len(graph.inputs) != 1 or not graph.outputs:
        return None
    shape, inp = graph.input_tensors()[0].shape, graph.input_tensors()[0]
    layout = {(True, False): "NHWC", (False, True): "NCHW"}.get(
        (len(shape) == 4 and shape[3] == 3, len(shape) == 4 and shape[1] == 3)
    )
    if layout is None or min(shape) < 1:
        return None
    h, w = (shape[1], shape[2]) if layout == "NHWC" else (shape[2], shape[3])
    n_out = graph.output_tensors()[0].shape[-1] if graph.output_tensors()[0].shape else 0
    said, assumed = [], []
    fields: dict[str, Any] = {}
    if meta.mean is not None and meta.std is not None:
        fields = {"scale": 1.0, "mean": _three(meta.mean), "std": _three(meta.std)}
        said.append(f"mean {_listed(meta.mean)} std {_listed(meta.std)} on 0..255 pixels")
    else:
        assumed.append("pixels scaled to [0, 1] with no mean/std (no normalisation given)")
    classes = tuple(str(i) for i in range(n_out))
    if meta.labels is not None and len(meta.labels) == n_out:
        classes = meta.labels
        said.append(f"{n_out} labels from {meta.label_file}")
    elif meta.labels is not None:
        assumed.append(f"classes 0..{n_out - 1} ({meta.label_file} has {len(meta.labels)} lines)")
    else:
        assumed.append(f"classes 0..{n_out - 1}")
    assumed.append(f"RGB, {layout} {h}x{w}")
    note = (
        f"'{path.name}' has TFLite Support metadata ({'; '.join(said) or 'no normalisation'}); "
        f"assuming {', '.join(assumed)}"
    )
    precision = "fp32" if inp.is_float else "int8"
    spec = InputSpec(height=h, width=w, layout=layout, **fields)
    extra = {"metadata": "TFLite Support", "assumed": note}
    return ModelInfo(name=meta.name or path.stem, classes=classes, spec=spec,
                     precision=precision, extra=extra)  # fmt: skip


def _three(values: tuple[float, ...]) -> tuple[float, float, float]:
    return (values[0],) * 3 if len(values) == 1 else (values[0], values[1], values[2])


def _listed(values: tuple[float, ...]) -> str:
    return "/".join(f"{v:g}" for v in values)


def read_metadata(path: Path) -> ModelInfo | None:
    """The embedded ``ModelInfo`` of a ``.tflite`` file (None if absent)."""
    return read_tflite_metadata(Path(path).read_bytes(), path)


def embed_tflite(data: bytes, info: ModelInfo) -> bytes:
    """Return a copy of a TFLite flatbuffer with the edgeres metadata entry added or replaced."""
    schema = _schema()
    import flatbuffers

    verify_tflite(data)
    model = schema.ModelT.InitFromPackedBuf(bytearray(data), 0)
    model.buffers = [_aligned(schema, b) for b in model.buffers or []]
    model.metadata = model.metadata or []
    entry = next((m for m in model.metadata if _name(m) == METADATA_KEY), None)
    if entry is None:  # a new entry and buffer; re-embedding reuses them so files do not grow
        entry = schema.MetadataT()
        entry.name = METADATA_KEY
        entry.buffer = len(model.buffers)
        model.buffers.append(_aligned(schema, schema.BufferT()))
        model.metadata.append(entry)
    payload = info.to_json().encode("utf-8")
    model.buffers[entry.buffer].data = np.frombuffer(payload, dtype=np.uint8)
    builder = flatbuffers.Builder(len(data) + len(payload) + 1024)
    builder.Finish(model.Pack(builder), file_identifier=IDENTIFIER)
    return bytes(builder.Output())


def _name(entry: Any) -> str:
    name = entry.name
    return name.decode("utf-8", errors="replace") if isinstance(name, bytes) else str(name or "")


def _schema() -> Any:
    try:
        from ai_edge_litert import schema_py_generated
    except ImportError:
        raise missing_dependency(
            "ai_edge_litert", "train", "writing metadata into a TFLite file"
        ) from None
    return schema_py_generated


def _aligned(schema: Any, buffer: Any) -> Any:
    """Copy a ``BufferT`` into one whose bytes are packed at a 16-byte boundary."""
    if buffer.offset and buffer.offset > 1:
        raise UsageError(
            "TFLite files with weights stored outside the flatbuffer (over 2 GB) are not supported"
        )
    out = _aligned_buffer_class(schema)()
    out.data, out.offset, out.size = buffer.data, buffer.offset, buffer.size
    return out


@functools.cache
def _aligned_buffer_class(schema: Any) -> type:
    class AlignedBufferT(schema.BufferT):
        def Pack(self, builder: Any) -> int:  # noqa: N802 - flatbuffers' object API name
            data = None
            if self.data is not None and len(self.data):
                raw = np.asarray(self.data, dtype=np.uint8).tobytes()
                builder.StartVector(1, len(raw), _BUFFER_ALIGN)
                builder.head -= len(raw)
                builder.Bytes[builder.head : builder.head + len(raw)] = raw
                builder.vectorNumElems = len(raw)
                data = builder.EndVector()
            schema.BufferStart(builder)
            if data is not None:
                schema.BufferAddData(builder, data)
            schema.BufferAddOffset(builder, self.offset)
            schema.BufferAddSize(builder, self.size)
            return schema.BufferEnd(builder)

    return AlignedBufferT


_CONV_OPS = {"CONV_2D", "DEPTHWISE_CONV_2D", "FULLY_CONNECTED", "TRANSPOSE_CONV", "CONV_3D"}


def count_macs(path: Path) -> tuple[int | None, str]:
    """MACs per image counted from the graph the file declares (``tflite_graph``)."""
    graph = read_graph(path)
    shapes = [t.shape for t in graph.tensors]
    total = 0
    for op in graph.operators:
        if op.name not in _CONV_OPS or len(op.inputs) < 2 or min(op.outputs[0], op.inputs[1]) < 0:
            continue
        out, weight = shapes[op.outputs[0]], shapes[op.inputs[1]]
        if not out or not weight:
            continue
        per_image = math.prod(out[1:])
        if op.name == "DEPTHWISE_CONV_2D":  # filter [1, KH, KW, C]: one input channel per output
            total += per_image * weight[1] * weight[2]
        elif op.name == "FULLY_CONNECTED":  # weights [out, in]
            total += per_image * weight[-1]
        else:  # filter [O, KH, KW, I]
            total += per_image * math.prod(weight[1:])
    return total, "counted from the TFLite graph"


FORMAT = Format(
    name="tflite",
    suffixes=(".tflite",),
    layout="NHWC",
    engines=(LITERT, TFLITE_RUNTIME, TENSORFLOW),
    magic=magic,
    read_metadata=read_metadata,
    count_macs=count_macs,
    exporter="edgeres.convert.tflite:export_tflite",
    quantization=Quantization(
        quantizer="edgeres.quantize.tflite.pt2e:quantize_tflite",
        sources=("pytorch", "pt2", "safetensors", "onnx"),
        asked_sources=("onnx",),  # read back into PyTorch (formats.onnx_module)
        checker="edgeres.quantize.checks:check_tflite",
        layer_errors="edgeres.quantize.tflite.float_layers:tflite_layer_errors",
        # PT2E cannot keep one layer in float (litert-torch re-quantizes it); with layers to
        # exclude the quantizer switches to the AI Edge Quantizer, which can.
        float_layers=True,
    ),
)
