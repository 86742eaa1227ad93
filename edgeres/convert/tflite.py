"""FP32 TFLite export through litert-torch, with NHWC input (what a camera frame is)."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

from edgeres.convert.common import converter_error, import_litert_torch, quiet_converters
from edgeres.fileio import atomic_write_bytes
from edgeres.spec import ModelInfo


def nhwc_module(model):
    """Wrap ``model`` so it takes NHWC input; litert-torch folds the permute into the first conv.

    The converted graph then starts with ``CONV_2D`` on the input, with no ``TRANSPOSE``.
    """
    litert_torch = import_litert_torch()
    return litert_torch.to_channel_last_io(model.eval(), args=[0]).eval()


def nhwc_sample(info: ModelInfo, batch: int = 1):
    """A random NHWC float tensor shaped like the model input."""
    import torch

    return torch.randn(info.spec.with_layout("NHWC").shape(batch))


def litert_convert(module, sample, fmt: str, model: Any, quant_config: Any = None) -> bytes:
    """Run litert-torch on ``module`` and return the flatbuffer bytes.

    Raises:
        ModelFileError: The converter cannot handle an op (named with its layer in ``model``).
    """
    litert_torch = import_litert_torch()
    try:
        with quiet_converters():
            edge = litert_torch.convert(module, (sample,), quant_config=quant_config)
            return bytes(edge.model_content())
    except Exception as e:  # noqa: BLE001 - any converter crash becomes one clear line
        raise converter_error(e, fmt, model, sample.permute(0, 3, 1, 2)) from None


def _short_name(name: str) -> str:
    """``wrapper/pkg.ResNet_wrapped/pkg.Sequential_stages/pkg.Sequential_2/pkg.Conv2d_0;1`` -> ``stages.2.0;1``."""
    part, _, suffix = next((p for p in name.split(";;") if p), name).partition(";")
    attrs = []
    for segment in part.split("/"):
        cls_attr = segment.rsplit(".", 1)[-1]
        if "_" in cls_attr and not cls_attr.endswith("_wrapped"):
            attrs.append(cls_attr.split("_", 1)[1])
    short = ".".join(attrs) or part.rsplit("/", 1)[-1]
    return f"{short};{suffix}" if suffix else short


def compact_names(data: bytes) -> bytes:
    """Shorten litert-torch's tensor names (full Python class paths, ~30% of a small int8 file).

    Names become PyTorch module paths (``stages.2.0.conv1``); graph inputs/outputs and the
    signature keep theirs. Names are for people and debuggers only; kernels never read them.
    """
    import flatbuffers
    from ai_edge_litert import schema_py_generated as schema

    model = schema.ModelT.InitFromPackedBuf(bytearray(data), 0)
    for graph in model.subgraphs:
        keep = set(graph.inputs) | set(graph.outputs)
        seen: set[str] = set()
        for i, tensor in enumerate(graph.tensors):
            name = (
                tensor.name.decode("utf-8", "replace")
                if isinstance(tensor.name, bytes)
                else str(tensor.name or "")
            )
            if i in keep or "/" not in name:
                continue
            short = _short_name(name)
            short = short if short not in seen else f"{short}#{i}"
            seen.add(short)
            tensor.name = short
    builder = flatbuffers.Builder(len(data) + 1024)
    builder.Finish(model.Pack(builder), file_identifier=b"TFL3")
    return bytes(builder.Output())


def tflite_info(info: ModelInfo, **extra: Any) -> ModelInfo:
    """``info`` for a TFLite file: NHWC layout, batch fixed at 1."""
    return replace(
        info, spec=info.spec.with_layout("NHWC"), extra=dict(info.extra, batch=1, **extra)
    )


def export_tflite(model, info: ModelInfo, out_path: str | Path) -> Path:
    """Export a PyTorch model to an FP32 ``.tflite`` taking NHWC input, with edgeres metadata.

    Args:
        model: The network (``nn.Module``, NCHW); wrapped so the file takes NHWC.
        info: Embedded as metadata with its spec's layout set to NHWC.
        out_path: Where to write; written atomically.

    Returns:
        ``out_path``.

    Raises:
        ModelFileError: The converter cannot handle an op (the op and layer are named).
    """
    import torch

    from edgeres.formats.tflite import embed_tflite

    info = tflite_info(info)
    with torch.no_grad():
        data = litert_convert(nhwc_module(model), nhwc_sample(info), "TFLite", model)
    out_path = Path(out_path)
    atomic_write_bytes(out_path, embed_tflite(compact_names(data), info))
    return out_path
