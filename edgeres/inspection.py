"""``edgeres inspect``: what a model file is, for every format edgeres reads.

Format, input spec (or what to pass when the file has none), class names, parameters, MACs,
operator counts, precision and the full-integer check, and where it came from. The first command
to run on a file someone gave you. Torch-free at import: ONNX and TFLite files are inspected on a
device; PyTorch sources (``.pt``, ``.pt2``, ``.pth``, ``.safetensors``) import torch when asked.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

from edgeres.formats import FORMATS, format_for_path, resolve
from edgeres.formats.source_options import SourceOptions
from edgeres.spec import ModelInfo

_BUFFERS = ("running_mean", "running_var", "num_batches_tracked")  # BatchNorm state, not weights
PASS_FLAGS = "none: pass --img-size (and --mean/--std, --labels) to convert or quantize it"


def inspect_file(path: str | Path, source: SourceOptions | None = None) -> dict[str, Any]:
    """A JSON-ready description of a model file (see the module docstring).

    Raises:
        ModelFileError: Missing, misnamed, corrupted or unsafe file.
    """
    path = Path(path)
    fmt = format_for_path(path)
    report: dict[str, Any] = {"file": str(path), "bytes": path.stat().st_size, "format": fmt.name}
    if fmt.needs_torch:
        report.update(_torch_facts(path, fmt.name, source or SourceOptions()))
    else:
        report.update(_file_facts(path, fmt.name))
    return report


def _info_facts(info: ModelInfo | None) -> dict[str, Any]:
    if info is None:
        return {"input": PASS_FLAGS, "classes": None, "provenance": "no edgeres metadata"}
    extra = {k: v for k, v in info.extra.items() if k != "quantization"}
    return {
        "input": info.spec.to_dict(),
        "classes": list(info.classes),
        "precision": info.precision,
        "provenance": extra or "edgeres metadata without provenance",
    }


def _file_facts(path: Path, name: str) -> dict[str, Any]:
    """ONNX / TFLite: metadata, graph input, ops and the integer check, MACs."""
    fmt = FORMATS[name]
    info = fmt.read_metadata(path)
    facts = _info_facts(info)
    # First: it refuses weights whose dims disagree with their data.
    parameters = _file_parameters(path, name)
    check = resolve(fmt.quantization.checker)(path) if fmt.quantization else None
    if check is not None:
        facts["operators"] = dict(sorted(check.ops.items()))
        facts["input_dtype"], facts["output_dtype"] = check.input_dtype, check.output_dtype
        quantized = check.weights_int8 > 0 or "QuantizeLinear" in check.ops
        facts.setdefault("precision", "int8" if quantized else "fp32")
        facts["full_integer"] = check.full_integer if quantized else "no (a float model)"
        if quantized and check.float_ops:
            facts["left_in_float"] = check.float_ops[:10]
    facts["input_shape"] = _declared_input(path, name)
    if name == "tflite" and len(inputs := _tflite_inputs(path)) > 1:
        facts["inputs"] = inputs  # not one image: the classifier commands refuse it
    macs, how = fmt.count_macs(path)
    facts["macs"], facts["macs_how"] = macs, how
    facts["parameters"] = parameters
    if info is None and facts["input_shape"]:
        facts["input"] = _bare_input(facts["input_shape"])
        facts["assumed"] = _assumed(facts["input_shape"])
    return facts


def _bare_input(shape: list) -> str:
    """What to pass for a file without metadata: --img-size only where the size is free."""
    fixed = [d for d in shape[1:] if isinstance(d, int) and d > 0]
    if len(shape) == 4 and len(fixed) == 3:
        h, w = (shape[1], shape[2]) if shape[3] == 3 else (shape[2], shape[3])
        return (
            f"none: the size is fixed by the file at {h}x{w}; pass --mean/--std "
            f"(and --labels) to convert or quantize it (declared input {shape})"
        )
    return f"{PASS_FLAGS} (declared input {shape})"


def _declared_input(path: Path, name: str) -> list | None:
    if name == "onnx":
        from edgeres.formats.onnx import open_checked

        inputs = open_checked(path).inputs
        return list(next(iter(inputs.values()))) if inputs else None
    from edgeres.formats.tflite_verify import read_graph

    return list(read_graph(path).input_tensors()[0].shape)


def _assumed(shape: list) -> str:
    """What predict/eval/benchmark/tune assume for a file without metadata (runtime's defaults)."""
    nhwc, nchw = len(shape) == 4 and shape[3] == 3, len(shape) == 4 and shape[1] == 3
    if nhwc == nchw:
        return "no image input: predict/eval/benchmark/tune refuse this file"
    h, w = (shape[1], shape[2]) if nhwc else (shape[2], shape[3])
    return (
        f"predict/eval/benchmark/tune assume RGB pixels scaled to [0, 1], no mean/std, "
        f"{'NHWC' if nhwc else 'NCHW'} {h}x{w}, classes as output indices"
    )


def _tflite_inputs(path: Path) -> list[list[int]]:
    from edgeres.formats.tflite_verify import read_graph

    return [list(t.shape) for t in read_graph(path).input_tensors()]


def _file_parameters(path: Path, name: str) -> int | None:
    """Weight values stored in the file (ONNX initializers, TFLite constant tensors)."""
    if name == "onnx":
        from edgeres.formats.onnx import load_model

        try:
            from edgeres.formats.onnx_normalize import check_initializers, parameter_count

            graph = load_model(path, load_external_data=False).graph
        except ImportError:  # a device without the onnx package
            return None
        check_initializers(graph, path)  # dims that disagree with the data: refused, not counted
        return parameter_count(graph)
    from edgeres.formats.tflite_verify import read_graph

    return sum(_numel(t.shape) for t in read_graph(path).constants())


def _numel(dims) -> int:
    n = 1
    for d in dims:
        n *= int(d)
    return n


def _torch_facts(path: Path, name: str, source: SourceOptions) -> dict[str, Any]:
    from edgeres.formats.checkpoint import is_checkpoint, read_pickle

    if name == "pt2":
        return _program_facts(path, source)
    if source.model is None and (name != "pytorch" or not is_checkpoint(read_pickle(path))):
        return _state_dict_facts(path)
    from edgeres.formats.torch_source import load_torch_source

    ckpt = load_torch_source(path, source)
    kind = "state dict" if source.model else "edgeres checkpoint"
    return _module_facts(ckpt, kind)


def _module_facts(ckpt, kind: str) -> dict[str, Any]:
    from edgeres.models import count_macs

    facts = _info_facts(ckpt.info)
    facts["kind"] = kind
    facts["architecture"] = ckpt.model_name
    facts["parameters"] = sum(p.numel() for p in ckpt.model.parameters())
    leaves = [type(m).__name__ for m in ckpt.model.modules() if not list(m.children())]
    facts["operators"] = dict(sorted(Counter(leaves).items()))
    facts["macs"] = count_macs(ckpt.model, ckpt.info.spec.with_layout("NCHW").shape(1))
    facts["metrics"] = ckpt.metrics
    return facts


def _program_facts(path: Path, source: SourceOptions) -> dict[str, Any]:
    from edgeres.formats.program_load import (
        declared_outputs,
        input_shape,
        program_macs,
        read_program,
    )

    program = read_program(path)
    shape = input_shape(program)
    ops = Counter(
        str(n.target).removeprefix("aten.") for n in program.graph.nodes if n.op == "call_function"
    )
    free = [i for i, d in enumerate(shape) if d is None]
    return {
        "kind": "torch.export program",
        "input": PASS_FLAGS if free[1:] else "shape fixed by the program; pass --mean/--std",
        "input_shape": [d if d is not None else "free" for d in shape],
        "classes": list(source.class_names(declared_outputs(program) or 0))
        if source.labels
        else None,
        "parameters": sum(
            program.state_dict[n].numel() for n in program.graph_signature.parameters
        ),
        "macs": program_macs(program),
        "operators": dict(sorted(ops.items())),
        "precision": "fp32",
        "provenance": "no edgeres metadata (a .pt2 carries none; pass --labels and preprocessing)",
    }


def _state_dict_facts(path: Path) -> dict[str, Any]:
    from edgeres.formats.statedict import read_state_dict

    state = read_state_dict(path)
    return {
        "kind": "state dict (weights only)",
        "input": "none: pass --model NAME|pkg.module:function (and --img-size, --labels)",
        "architecture": guess_architecture(state),
        "tensors": len(state),
        "parameters": sum(t.numel() for k, t in state.items() if not k.endswith(_BUFFERS)),
        "classes": None,
        "first_keys": list(state)[:5],
        "provenance": "no edgeres metadata",
    }


def guess_architecture(state: dict) -> str:
    """``looks like resnet18 (torchvision/timm layout): pass --model resnet18``, or unknown."""
    from edgeres.models.mobilenet_layout import guess_mobilenet, is_timm

    mobilenet = guess_mobilenet(state)
    if mobilenet is not None:
        layout = "timm" if is_timm(state) else "torchvision"
        return f"looks like {mobilenet} ({layout} layout): pass --model {mobilenet}"
    blocks = [
        len({k.split(".")[1] for k in state if k.startswith(f"layer{i}.")}) for i in (1, 2, 3, 4)
    ]
    if "conv1.weight" not in state or "fc.weight" not in state or not all(blocks):
        return "unknown: pass --model pkg.module:function that builds it"
    bottleneck = any(".conv3." in k for k in state)
    name = {
        ((2, 2, 2, 2), False): "resnet18",
        ((3, 4, 6, 3), False): "resnet34",
        ((3, 4, 6, 3), True): "resnet50",
    }.get((tuple(blocks), bottleneck))
    if name is None:
        return f"a torchvision-layout ResNet with {blocks} blocks, not in the zoo"
    return f"looks like {name} (torchvision/timm layout): pass --model {name}"


def lines(report: dict[str, Any]) -> list[str]:
    """The report as ``key: value`` lines for the terminal (values from files shown safely)."""
    from edgeres.text import shown

    out = []
    for key, value in report.items():
        if key == "classes" and isinstance(value, list) and len(value) > 12:
            value = f"{len(value)}: {', '.join(map(str, value[:12]))}, ..."
        elif key == "classes" and value is None:
            value = "none (outputs are shown as indices; pass --labels to convert/quantize)"
        elif isinstance(value, list):
            value = ", ".join(map(str, value))
        elif isinstance(value, dict):
            value = ", ".join(f"{k} {v}" for k, v in value.items()) or "-"
        out.append(f"{key:14} {shown(str(value))}")
    return out
