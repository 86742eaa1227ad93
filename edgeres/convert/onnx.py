"""FP32 ONNX export through ``torch.onnx.export`` (dynamo), one self-contained file."""

from __future__ import annotations

from pathlib import Path

from edgeres.convert.common import converter_error, quiet_converters
from edgeres.errors import ModelFileError, UsageError, missing_dependency
from edgeres.fileio import atomic_path
from edgeres.formats.onnx import DEFAULT_OPSET
from edgeres.spec import ModelInfo

# Opset 18 is what ONNX Runtime 1.14+ runs, so a device with an older runtime still loads the file,
# and everything edgeres models use (Conv, Gemm, ReduceMean, QDQ per-channel) exists in it.
# The exporter writes IR version 10, which ONNX Runtime < 1.18 rejects ("Unsupported model IR
# version"); IR 8 is the newest that opset 18 needs (ONNX 1.13), and ORT 1.15/1.17 load such files.
IR_FOR_OPSET = ((18, 8), (20, 9))
MIN_OPSET, MAX_OPSET = 13, 23
INPUT_NAME, OUTPUT_NAME = "input", "logits"
# Per-node facts worth shipping: the PyTorch module path (layer names in reports). The exporter
# also stores stack traces with absolute source paths and FX dumps: a third of a small file.
KEEP_NODE_METADATA = ("pkg.torch.onnx.name_scopes", "pkg.onnxscript.rewriter.rule_name")


def strip_node_metadata(proto, keep: tuple[str, ...] = KEEP_NODE_METADATA):
    """Drop per-node ``metadata_props`` except ``keep`` (in place); returns ``proto``."""
    for node in proto.graph.node:
        drop = [p for p in node.metadata_props if p.key not in keep]
        for entry in drop:
            node.metadata_props.remove(entry)
    return proto


def _check_opset(opset: int) -> None:
    if not MIN_OPSET <= opset <= MAX_OPSET:
        raise UsageError(
            f"--opset {opset} is not supported (valid: {MIN_OPSET}..{MAX_OPSET}); "
            f"the default {DEFAULT_OPSET} runs on ONNX Runtime 1.14 and newer"
        )


def export_proto(
    model, info: ModelInfo, *, opset: int = DEFAULT_OPSET, dynamic_batch: bool = False
):
    """Export ``model`` to an in-memory ``onnx.ModelProto`` taking ``info.spec``'s NCHW input.

    Raises:
        ModelFileError: The exporter cannot handle an op (the op and layer are named).
    """
    import torch

    try:
        import onnx  # noqa: F401
        import onnxscript  # noqa: F401
    except ImportError:
        raise missing_dependency("onnxscript", "train", "ONNX export") from None
    _check_opset(opset)
    spec = info.spec.with_layout("NCHW")
    # A batch of 2 keeps torch.export from specialising the batch dimension to the constant 1.
    sample = torch.randn(spec.shape(2 if dynamic_batch else 1))
    dynamic = ({0: torch.export.Dim("batch", min=1, max=4096)},) if dynamic_batch else None
    try:
        with quiet_converters(), torch.no_grad():
            program = torch.onnx.export(
                model.eval(),
                (sample,),
                dynamo=True,
                opset_version=opset,
                input_names=[INPUT_NAME],
                output_names=[OUTPUT_NAME],
                dynamic_shapes=dynamic,
                external_data=False,
                verbose=False,
            )
    except Exception as e:  # noqa: BLE001 - any exporter crash becomes one clear line
        raise converter_error(e, "ONNX", model, sample) from None
    proto = program.model_proto
    ir = next((ir for max_opset, ir in IR_FOR_OPSET if opset <= max_opset), proto.ir_version)
    proto.ir_version = min(proto.ir_version, ir)
    return proto


def export_onnx(
    model,
    info: ModelInfo,
    out_path: str | Path,
    *,
    opset: int = DEFAULT_OPSET,
    dynamic_batch: bool = False,
) -> Path:
    """Export a PyTorch model to one self-contained FP32 ONNX file with edgeres metadata.

    Args:
        model: The network (``nn.Module``), put in eval mode.
        info: Embedded as metadata; its spec says the input size (the file takes NCHW).
        out_path: Where to write; written atomically (temp file, then rename).
        opset: ONNX opset version.
        dynamic_batch: Leave the batch dimension free (default: fixed at 1).

    Returns:
        ``out_path``.

    Raises:
        ModelFileError: The exporter cannot handle an op, or the result fails ``onnx.checker``.
    """
    import onnx

    from edgeres.formats.onnx import embed_onnx

    info = _onnx_info(info, opset, dynamic_batch)
    proto = export_proto(model, info, opset=opset, dynamic_batch=dynamic_batch)
    proto = embed_onnx(strip_node_metadata(proto), info) or proto
    try:
        onnx.checker.check_model(proto, full_check=True)
    except onnx.checker.ValidationError as e:
        first = str(e).strip().splitlines()[0][:200]
        raise ModelFileError(f"the exported ONNX graph failed onnx.checker: {first}") from None
    out_path = Path(out_path)
    with atomic_path(out_path) as tmp:
        onnx.save_model(proto, str(tmp), save_as_external_data=False)
    return out_path


def _onnx_info(info: ModelInfo, opset: int, dynamic_batch: bool) -> ModelInfo:
    from dataclasses import replace

    extra = dict(info.extra, opset=opset, batch="dynamic" if dynamic_batch else 1)
    return replace(info, spec=info.spec.with_layout("NCHW"), extra=extra)
