"""TFLite INT8: PT2E quantization with litert-torch's quantizer, full-integer, NHWC input; with
layers kept in float (``opts.exclude``), the AI Edge Quantizer on the FP32 file (``tflite_float``).
"""

from __future__ import annotations

from pathlib import Path

from edgeres.convert.common import import_litert_torch, quiet_converters
from edgeres.convert.tflite import (
    compact_names,
    litert_convert,
    nhwc_module,
    nhwc_sample,
    tflite_info,
)
from edgeres.errors import ModelFileError, UsageError
from edgeres.fileio import atomic_write_bytes
from edgeres.quantize.calib import calibration_batches, rebatch
from edgeres.quantize.options import QuantOptions, QuantSource, int8_info
from edgeres.quantize.tflite.io import float_io
from edgeres.spec import ModelInfo


def tag_sources(graph_module) -> None:
    """Give ATen nodes without a ``source_fn_stack`` the one their op implies.

    litert-torch's quantizer finds adds and pools by the Python op that made them
    (``source_fn_stack``); a graph re-exported from a ``.pt2`` program has lost that record, so
    without this its residual adds and the global pool stay float (measured: 8 ADDs and a SUM).
    """
    import operator

    import torch

    aten = torch.ops.aten
    sources = {
        aten.add.Tensor: operator.add,
        aten.adaptive_avg_pool2d.default: torch.nn.AdaptiveAvgPool2d,
        aten.max_pool2d.default: torch.nn.functional.max_pool2d,
    }
    for node in graph_module.graph.nodes:
        source = sources.get(node.target) if node.op == "call_function" else None
        if source is not None and not node.meta.get("source_fn_stack"):
            node.meta["source_fn_stack"] = [(node.name, source)]


def _prepare(model, sample, per_channel: bool):
    """Export the NHWC-wrapped model and insert PT2E observers; returns (prepared, quantizer)."""
    import torch

    import_litert_torch()
    from litert_torch.quantize import pt2e_quantizer as pq
    from torchao.quantization.pt2e import quantize_pt2e

    try:
        with quiet_converters():
            exported = torch.export.export(nhwc_module(model), (sample,)).module()
    except Exception as e:  # noqa: BLE001 - export failing means the model has unsupported code
        first = (str(e).strip().splitlines() or [type(e).__name__])[0][:200]
        raise ModelFileError(
            f"torch.export could not trace the model for TFLite INT8: {first}"
        ) from None
    tag_sources(exported)
    quantizer = pq.PT2EQuantizer().set_global(
        pq.get_symmetric_quantization_config(is_per_channel=per_channel)
    )
    return quantize_pt2e.prepare_pt2e(exported, quantizer), quantizer


def quantize_tflite(source: QuantSource, out_path: str | Path, opts: QuantOptions) -> Path:
    """Write a full-integer INT8 ``.tflite`` (NHWC; int8 input and output unless ``opts.io``
    is ``"float"``) with edgeres metadata.

    The PT2E graph is batch-specialised, so calibration runs one sample at a time, as exported.

    Raises:
        UsageError: The source is not a PyTorch checkpoint (litert-torch converts PyTorch only).
        DataError: Calibration data missing or too small.
        ModelFileError: The converter cannot handle an op.
    """
    import torch

    if source.network() is None:
        raise UsageError(
            f"TFLite INT8 is made from a PyTorch network, and '{source.path}' has none; "
            "pass the .pt checkpoint or use --to onnx"
        )
    if opts.exclude:  # layers in float: PT2E cannot, the AI Edge Quantizer can
        from edgeres.quantize.tflite.float_layers import quantize_tflite_float

        return quantize_tflite_float(source, Path(out_path), opts)
    # PT2E observes histograms and picks its own activation type: those options do not apply.
    quant = {k: v for k, v in opts.to_dict().items() if k != "activations"}
    info = tflite_info(int8_info(source, "tflite", dict(quant, method="histogram")))
    sample = nhwc_sample(info)
    prepared, quantizer = _prepare(source.model, sample, opts.per_channel)
    stream = calibration_batches(
        opts.calib, info.spec, opts.samples, quiet=opts.quiet, desc="calibrate tflite"
    )
    with torch.no_grad():
        for x in rebatch(stream, 1):
            prepared(torch.from_numpy(x))
    return write_pt2e_tflite(prepared, quantizer, info, source.model, out_path, opts.io)


def write_pt2e_tflite(prepared, quantizer, info: ModelInfo, model, out_path, io: str) -> Path:
    """Convert a PT2E graph whose ranges are set (calibrated, or learned by QAT) to INT8 TFLite.

    Args:
        prepared: The NHWC graph at batch 1 with its observers or fake-quantizers filled.
        quantizer: The litert-torch ``PT2EQuantizer`` that prepared it.
        info: Embedded as metadata (NHWC, int8).
        model: The float network, to name a layer in converter errors.
        out_path: Written atomically.
        io: ``"int8"`` (full integer) or ``"float"`` input/output.
    """
    import_litert_torch()
    from litert_torch.quantize.quant_config import QuantConfig
    from torchao.quantization.pt2e import quantize_pt2e

    from edgeres.formats.tflite import embed_tflite

    with quiet_converters():
        converted = quantize_pt2e.convert_pt2e(prepared, fold_quantize=False)
    sample = nhwc_sample(info)
    data = litert_convert(
        converted, sample, "TFLite INT8", model, QuantConfig(pt2e_quantizer=quantizer)
    )
    data = compact_names(data)
    if io == "float":
        data = float_io(data)
    out_path = Path(out_path)
    atomic_write_bytes(out_path, embed_tflite(data, info))
    return out_path
