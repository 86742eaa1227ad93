"""Open the FP32 model to quantize: any PyTorch source (checkpoint, state dict, .pt2) or FP32 ONNX."""

from __future__ import annotations

import copy
from pathlib import Path

from edgeres.convert.common import export_info
from edgeres.errors import ModelFileError
from edgeres.formats import FORMATS, Format, format_for_path, resolve
from edgeres.formats.onnx import DEFAULT_OPSET
from edgeres.formats.source_options import SourceOptions
from edgeres.quantize.options import QuantSource
from edgeres.spec import ModelInfo
from edgeres.text import shown


def quantize_sources() -> dict[str, Format]:
    """The formats a quantization can start from, by name."""
    return {name: f for name, f in FORMATS.items() if f.quant_source}


def describe_sources() -> str:
    """``pytorch (.pt) or onnx (.onnx) files``, from the format table."""
    return " or ".join(f"{n} ({f.suffix})" for n, f in quantize_sources().items()) + " files"


def load_source(
    path: str | Path,
    work_dir: Path,
    source: SourceOptions | None = None,
    *,
    opset: int = DEFAULT_OPSET,
    prepare=None,
) -> QuantSource:
    """Open ``path`` for quantization; a PyTorch source is exported to FP32 ONNX in ``work_dir``.

    ``source`` (``--model``, ``--labels``, ``--img-size/--mean/--std``) describes a file that
    carries no edgeres metadata; on an edgeres file only ``--labels`` applies.
    ``prepare(model, info)`` changes a PyTorch network before it is exported
    (``quantize.prepare``) and returns what it did.

    Raises:
        ModelFileError: Not a format quantization starts from, or unreadable.
        UsageError: A third-party ONNX without a usable input size and no ``--img-size``.
    """
    path = Path(path)
    fmt = format_for_path(path)
    if fmt.quant_source is None:
        raise ModelFileError(
            f"'{shown(path)}' is a {fmt.name} file; quantize takes {describe_sources()}"
        )
    opener = resolve(fmt.quant_source)
    return opener(path, work_dir, source=source or SourceOptions(), opset=opset, prepare=prepare)


def from_checkpoint(
    path: Path, work_dir: Path, *, opset: int, source: SourceOptions, prepare=None
) -> QuantSource:
    """A PyTorch source (checkpoint, state dict + --model, .pt2), prepared first, exported to
    FP32 ONNX in ``work_dir``."""
    from edgeres.convert.onnx import export_onnx
    from edgeres.formats.torch_source import load_torch_source

    ckpt = load_torch_source(path, source)
    info = export_info(ckpt.info, path, model_args=ckpt.model_args)
    # The network as the user gave it stays the FP32 reference: bias correction moves it.
    reference = copy.deepcopy(ckpt.model) if prepare is not None else None
    prepared = prepare(ckpt.model, info) if prepare is not None else {}
    fp32 = export_onnx(ckpt.model, info, work_dir / f"{path.stem}.fp32.onnx", opset=opset)
    own = "source_kind" not in ckpt.info.extra  # an edgeres checkpoint, not a file from elsewhere
    return QuantSource(
        path=path,
        info=info,
        model=ckpt.model,
        fp32_onnx=fp32,
        metrics=ckpt.metrics,
        has_metadata=own,
        prepared=prepared,
        reference=reference,
    )


def from_onnx(path: Path, work_dir: Path, *, source: SourceOptions, **_: object) -> QuantSource:
    """An FP32 ONNX file: edgeres' own (its metadata) or a third party's (described by flags)."""
    import onnx

    from edgeres.formats.onnx import read_onnx_metadata
    from edgeres.formats.onnx_module import third_party_info
    from edgeres.formats.onnx_normalize import load_onnx_proto, normalized, refuse_quantized

    proto = load_onnx_proto(path)
    props = {p.key: p.value for p in proto.metadata_props}
    info = read_onnx_metadata(props)
    if info is not None:
        if info.precision != "fp32":
            raise ModelFileError(
                f"'{shown(path)}' is already {info.precision}; quantize its FP32 source instead"
            )
        info = source.applied(info)
        return QuantSource(path=path, info=info, fp32_onnx=path, read_network=_reader(path, info))
    refuse_quantized(proto, path)
    # A third party's graph (old opsets, weights as inputs, ConstantOfShape weights) is
    # normalised once; the quantizer, its layer report and the reader all read that file.
    proto = normalized(proto, path)
    info = third_party_info(path, proto, source)
    fp32 = work_dir / f"{path.stem}.normalized.onnx"
    onnx.save_model(proto, str(fp32), save_as_external_data=False)
    return QuantSource(
        path=path, info=info, fp32_onnx=fp32, has_metadata=False, read_network=_reader(path, info)
    )


def _reader(path: Path, info: ModelInfo):
    def read():
        from edgeres.formats.onnx_module import read_back

        return read_back(path, info)

    return read
