"""Open the FP32 model to quantize: an edgeres checkpoint or any FP32 ONNX file."""

from __future__ import annotations

import copy
from pathlib import Path

from edgeres.convert.common import export_info
from edgeres.errors import ModelFileError, UsageError
from edgeres.formats import FORMATS, Format, format_for_path, resolve
from edgeres.formats.onnx import DEFAULT_OPSET
from edgeres.quantize.options import QuantSource
from edgeres.spec import DEFAULT_MEAN, DEFAULT_STD, InputSpec, ModelInfo
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
    *,
    img_size: int | None = None,
    mean: tuple[float, float, float] | None = None,
    std: tuple[float, float, float] | None = None,
    opset: int = DEFAULT_OPSET,
    prepare=None,
) -> QuantSource:
    """Open ``path`` for quantization; a checkpoint is exported to FP32 ONNX inside ``work_dir``.

    ``img_size``/``mean``/``std`` describe the preprocessing of an ONNX file that carries no
    edgeres metadata (they override nothing when the metadata exists). ``prepare(model, info)``
    changes a checkpoint's network before it is exported (``quantize.prepare``) and returns
    what it did.

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
    return opener(
        path, work_dir, img_size=img_size, mean=mean, std=std, opset=opset, prepare=prepare
    )


def from_checkpoint(
    path: Path, work_dir: Path, *, opset: int, prepare=None, **_: object
) -> QuantSource:
    """An edgeres checkpoint, with an FP32 ONNX export of it (prepared first) in ``work_dir``."""
    from edgeres.convert.onnx import export_onnx
    from edgeres.formats.checkpoint import load_checkpoint

    ckpt = load_checkpoint(path)
    info = export_info(ckpt.info, path, model_args=ckpt.model_args)
    # The network as the user gave it stays the FP32 reference: bias correction moves it.
    reference = copy.deepcopy(ckpt.model) if prepare is not None else None
    prepared = prepare(ckpt.model, info) if prepare is not None else {}
    fp32 = export_onnx(ckpt.model, info, work_dir / f"{path.stem}.fp32.onnx", opset=opset)
    return QuantSource(
        path=path,
        info=info,
        model=ckpt.model,
        fp32_onnx=fp32,
        metrics=ckpt.metrics,
        prepared=prepared,
        reference=reference,
    )


def _load_onnx(path: Path):
    import onnx

    try:
        proto = onnx.load(str(path), load_external_data=False)
    except Exception as e:  # noqa: BLE001 - protobuf raises several types for garbage
        raise ModelFileError(
            f"'{shown(path)}' is not a readable ONNX model ({type(e).__name__})"
        ) from None
    if any(init.data_location == onnx.TensorProto.EXTERNAL for init in proto.graph.initializer):
        raise ModelFileError(
            f"'{shown(path)}' keeps its weights in external data files; re-save it as one file "
            "(onnx.save_model(model, path, save_as_external_data=False))"
        )
    return proto


def from_onnx(path: Path, work_dir: Path, *, img_size, mean, std, **_: object) -> QuantSource:
    """An FP32 ONNX file: edgeres' own (its metadata) or a third party's (described by flags)."""
    from edgeres.formats.onnx import read_onnx_metadata

    proto = _load_onnx(path)
    props = {p.key: p.value for p in proto.metadata_props}
    info = read_onnx_metadata(props)
    if info is not None:
        if info.precision != "fp32":
            raise ModelFileError(
                f"'{shown(path)}' is already {info.precision}; quantize its FP32 source instead"
            )
        return QuantSource(path=path, info=info, fp32_onnx=path)
    return QuantSource(
        path=path,
        info=_third_party_info(path, proto, img_size, mean, std),
        fp32_onnx=path,
        has_metadata=False,
    )


def _third_party_info(path: Path, proto, img_size, mean, std) -> ModelInfo:
    """Describe an ONNX file without edgeres metadata from its input shape and the flags."""
    dims = [
        d.dim_value if d.HasField("dim_value") else None
        for d in proto.graph.input[0].type.tensor_type.shape.dim
    ]
    if len(dims) != 4:
        raise ModelFileError(
            f"'{shown(path)}' input has {len(dims)} dimensions; edgeres quantizes image models (N,3,H,W or N,H,W,3)"
        )
    layout = "NHWC" if dims[3] == 3 and dims[1] != 3 else "NCHW"
    h, w = (dims[1], dims[2]) if layout == "NHWC" else (dims[2], dims[3])
    if img_size is not None:
        if h and w and (h, w) != (img_size, img_size):
            raise UsageError(
                f"--img-size {img_size} does not match the model's fixed input {h}x{w}"
            )
        h = w = img_size
    if not h or not w:
        raise UsageError(
            f"'{shown(path)}' has no edgeres metadata and a free input size; pass --img-size (and --mean/--std)"
        )
    out_dims = proto.graph.output[0].type.tensor_type.shape.dim
    n_classes = out_dims[-1].dim_value if out_dims and out_dims[-1].HasField("dim_value") else 0
    if n_classes < 1:
        raise ModelFileError(
            f"'{shown(path)}' output has no fixed class dimension; edgeres quantizes classifiers"
        )
    spec = InputSpec(h, w, layout=layout, mean=mean or DEFAULT_MEAN, std=std or DEFAULT_STD)
    classes = tuple(str(i) for i in range(n_classes))
    return ModelInfo(name=path.stem, classes=classes, spec=spec, extra={"third_party": True})
