"""An FP32 ONNX image classifier read back as a PyTorch module, so ``convert`` and ``quantize``
can make TFLite from an ONNX file someone else exported.

The module walks the ONNX graph node by node with the PyTorch function of each operator; the
weights become buffers, every value computable before the first input arrives (shapes,
``Constant`` nodes, folded shape arithmetic) is computed once when the module is built. What it
reads: the operators of convolutional classifiers (``onnx_ops.OPS``); anything else is refused in one line
naming the operators. Nothing in the file is executed: an ONNX graph is data, and each of its
operators maps to a fixed PyTorch function here.

The module is checked against ONNX Runtime on the file itself before it is used
(``check_against_file``): a reader that got an operator's semantics wrong never reaches a
converter.
"""

from __future__ import annotations

import math
import re
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from edgeres.errors import ModelFileError, UsageError
from edgeres.formats.onnx_normalize import (
    MAX_TENSOR_VALUES,
    classifier_io,
    dims_of,
    graph_io,
    load_onnx_proto,
    normalized,
    refuse_quantized,
    trailing_softmax,
)
from edgeres.formats.onnx_ops import FOLD_ONLY, OPS, attributes, constant
from edgeres.formats.source_options import SourceOptions
from edgeres.spec import ModelInfo
from edgeres.text import shown

# How far the module's logits may be from ONNX Runtime's on the same file (relative to their
# scale): float32 rounding in a different order of operations, nothing more.
TOLERANCE = 1e-3


class OnnxModule(nn.Module):
    """The ONNX graph of an FP32 image classifier as a PyTorch module (see the module docstring)."""

    def __init__(self, proto, path: Path, size: tuple[int, int] | None = None) -> None:
        super().__init__()
        import onnx
        from onnx import numpy_helper

        try:
            graph = onnx.shape_inference.infer_shapes(_fixed_input(proto, size)).graph
        except Exception as e:  # noqa: BLE001 - onnx raises its own types for a bad graph
            raise ModelFileError(f"'{shown(path)}' has an invalid graph: {str(e)[:200]}") from None
        image, scores = graph_io(graph, path)
        self.input_name, self.output_name = image.name, scores.name
        shapes = {
            v.name: [
                d.dim_value if d.HasField("dim_value") else None
                for d in v.type.tensor_type.shape.dim
            ]  # fmt: skip
            for v in (*graph.value_info, *graph.input, *graph.output)
        }
        consts: dict[str, np.ndarray] = {
            i.name: numpy_helper.to_array(i) for i in graph.initializer
        }
        unknown = sorted(
            {n.op_type for n in graph.node if n.domain not in ("", "ai.onnx")}
            | {
                n.op_type
                for n in graph.node
                if n.op_type not in OPS and n.op_type not in FOLD_ONLY and n.op_type != "Constant"
            }  # fmt: skip
        )
        if unknown:
            raise ModelFileError(
                f"'{shown(path)}' uses ONNX operator(s) {', '.join(unknown)[:200]}, which edgeres "
                "cannot read back into PyTorch (it reads the operators of convolutional "
                "classifiers: Conv, BatchNormalization, pooling, Gemm, activations...); "
                "convert the model from its PyTorch source instead"
            )
        self.steps: list[tuple[str, list[str], list[str], dict]] = []
        names: list[str] = []
        for node in graph.node:
            a = attributes(node)
            if node.op_type == "Constant":
                consts[node.output[0]] = constant(a)
                continue
            if (
                node.op_type == "Shape"
                and shapes.get(node.input[0])
                and None not in shapes[node.input[0]]
            ):
                consts[node.output[0]] = FOLD_ONLY["Shape"](shapes[node.input[0]], a=a)
                continue
            ins = [i for i in node.input]
            if all(i == "" or i in consts for i in ins) and node.op_type in (*FOLD_ONLY, *OPS):
                folded = self._fold(node, a, consts, path)
                if folded is not None:
                    consts[node.output[0]] = folded
                    continue
            if node.op_type in FOLD_ONLY:
                raise ModelFileError(
                    f"'{shown(path)}' applies {node.op_type} to run-time values; edgeres reads "
                    f"{node.op_type} only as shape arithmetic on a fixed input size"
                )
            self.steps.append((node.op_type, ins, list(node.output), a))
            names.append(_module_name(node.name or node.op_type, len(names), names))
        # Float tensors read at run time (weights) become buffers; integer constants (shapes,
        # axes, pads) and float scalars (Clip bounds, a Mul by 0.5) stay Python values, which
        # torch.export keeps as constants.
        # One child module per node, named after it: converters name layers by module path, so
        # TFLite's per-layer report reads "stages_2_0_conv1_Conv", not the wrapper's class.
        self.nodes = nn.ModuleDict(
            {n: _Node(op, a) for n, (op, _, _, a) in zip(names, self.steps, strict=True)}
        )
        used = {i for _, ins, _, _ in self.steps for i in ins if i in consts}
        self._names: dict[str, str] = {}
        self._consts: dict[str, Any] = {}
        for name in sorted(used):
            value = consts[name]
            if np.issubdtype(value.dtype, np.floating) and value.ndim > 0:
                self._names[name] = f"c{len(self._names)}"
                tensor = torch.from_numpy(np.array(value, np.float32))
                self.register_buffer(self._names[name], tensor)
            elif np.issubdtype(value.dtype, np.floating):
                self._consts[name] = float(value)
            else:
                self._consts[name] = value

    @staticmethod
    def _fold(node, a: dict, consts: dict[str, np.ndarray], path: Path) -> np.ndarray | None:
        fn = FOLD_ONLY.get(node.op_type) or OPS[node.op_type]
        args = [None if i == "" else consts[i] for i in node.input]
        _bound_fold(node, args, path)
        if node.op_type in FOLD_ONLY:
            return fn(*args, a=a)
        if not all(np.issubdtype(np.asarray(v).dtype, np.integer) for v in args if v is not None):
            return None  # float arithmetic on weights: left to run time, in torch
        with torch.no_grad():
            out = fn(*[None if v is None else torch.from_numpy(np.asarray(v)) for v in args], a=a)
        return out.numpy() if isinstance(out, torch.Tensor) else np.asarray(out)

    def _value(self, name: str, values: dict[str, Any]) -> Any:
        if name == "":
            return None
        if name in values:
            return values[name]
        if name in self._names:
            return getattr(self, self._names[name])
        return self._consts[name]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.shape[0] != 1:
            # The graph's shape arithmetic was folded at batch 1 (a Reshape to [1, 512]...):
            # a batch runs one image at a time. torch.export traces batch 1 and never sees this.
            return torch.cat([self._run(x[i : i + 1]) for i in range(x.shape[0])])
        return self._run(x)

    def _run(self, x: torch.Tensor) -> torch.Tensor:
        values: dict[str, Any] = {self.input_name: x}
        for node, (_, ins, outs, _) in zip(self.nodes.values(), self.steps, strict=True):
            args = [self._value(i, values) for i in ins]
            while args and args[-1] is None:
                args.pop()
            values[outs[0]] = node(*args)
        return values[self.output_name]


class _Node(nn.Module):
    """One ONNX node: its operator's function and attributes."""

    def __init__(self, op: str, attrs: dict) -> None:
        super().__init__()
        self.op, self.attrs = op, attrs

    def forward(self, *args: Any) -> Any:
        return OPS[self.op](*args, a=self.attrs)


def _module_name(name: str, index: int, taken: list[str]) -> str:
    """A module name from an ONNX node name; the legacy exporter's scopes
    '/stages/stages.2/stages.2.0/conv1/Conv' -> 'stages_2_0_conv1_Conv'."""
    scopes = [p for p in name.split("/") if p]
    kept = [
        p for p, nxt in zip(scopes, [*scopes[1:], ""], strict=True) if not nxt.startswith(p + ".")
    ]
    text = "_".join(w for p in kept for w in re.split(r"[^0-9A-Za-z]+", p) if w)[:80] or "node"
    if text[0].isdigit():
        text = f"n{text}"
    return text if text not in taken else f"{text}_{index}"


def _fixed_input(proto, size: tuple[int, int] | None, path: Path = Path("<graph>")):
    """A copy of ``proto`` whose free image-input dimensions are fixed: batch 1, H x W ``size``,
    so shape arithmetic folds (TFLite files have a fixed batch of 1)."""
    fixed = _copy(proto)
    image, _ = graph_io(fixed.graph, path)
    dims = image.type.tensor_type.shape.dim
    nchw = len(dims) == 4 and dims[1].dim_value == 3
    spatial = (2, 3) if nchw else (1, 2)
    for k, d in enumerate(dims):
        if not d.HasField("dim_value"):
            if k == 0:
                d.dim_value = 1
            elif size is not None and k in spatial:
                d.dim_value = size[spatial.index(k)]
    return fixed


def _copy(proto):
    import onnx

    out = onnx.ModelProto()
    out.CopyFrom(proto)
    return out


def _bound_fold(node, args: list, path: Path) -> None:
    """Refuse folding a node whose output would exceed ``MAX_TENSOR_VALUES``, before computing
    it: elementwise broadcasting ([n, 1] + [1, n] is n^2 values) and ConstantOfShape are sized
    from their inputs' shapes and values; other folded ops make no more than they read."""
    shapes = [np.shape(v) for v in args if v is not None]
    if node.op_type == "ConstantOfShape" and args:
        values = math.prod(max(int(d), 0) for d in np.asarray(args[0]).reshape(-1))
    elif node.op_type in ("Add", "Sub", "Mul", "Div") and len(shapes) == 2:
        try:
            values = math.prod(np.broadcast_shapes(*shapes))
        except ValueError:
            return  # the op itself reports the mismatch
    else:
        values = max((math.prod(s) for s in shapes), default=0)
    if values > MAX_TENSOR_VALUES:
        raise ModelFileError(
            f"'{shown(path)}' folds a {node.op_type} into {values} values, over the limit of "
            f"{MAX_TENSOR_VALUES}; refusing it before anything is allocated"
        )


def onnx_module(path: Path, proto=None, size: tuple[int, int] | None = None) -> OnnxModule:
    """The FP32 ONNX file at ``path`` as a PyTorch module in eval mode, checked against ONNX
    Runtime on the file itself (``check_against_file``).

    ``proto`` is the file's graph already normalised (``onnx_normalize.normalized``); without it
    the file is read and normalised here.

    Raises:
        ModelFileError: An operator it does not read, quantized (Q/DQ) nodes, or a module that
            does not compute what ONNX Runtime computes on the file.
    """
    original = load_onnx_proto(path)
    refuse_quantized(original, path)
    if proto is None:
        proto = normalized(original, path)
    module = OnnxModule(proto, path, size).eval()
    check_against_file(module, path, _fixed_input(original, size, path))
    return module


def check_against_file(module: nn.Module, path: Path, proto) -> float:
    """Run the module and ONNX Runtime (on ``proto``, the file's graph with a fixed input) on the
    same random input; their largest difference relative to the logits' scale.

    Raises:
        ModelFileError: Above ``TOLERANCE``, or either side cannot run the graph.
    """
    image, scores = graph_io(proto.graph, path)
    x = np.random.default_rng(0).standard_normal([d or 1 for d in dims_of(image)])
    x = x.astype(np.float32)
    softmax = trailing_softmax(proto)
    # The normalised graph ends in the logits: compared before the file's Softmax, which would
    # hide a difference in logits.
    want = _run_onnxruntime(
        proto, path, image.name, softmax.input[0] if softmax else scores.name, x
    )
    try:
        with torch.no_grad():
            got = module(torch.from_numpy(x)).numpy()
    except (RuntimeError, ValueError, TypeError, IndexError) as e:
        first = (str(e).strip().splitlines() or [type(e).__name__])[0][:200]
        raise ModelFileError(
            f"reading '{shown(path)}' into PyTorch failed ({first}); convert the model from its "
            "PyTorch source instead"
        ) from None
    if got.size == want.size and got.shape[0] == want.shape[0]:
        want = want.reshape(got.shape)  # N x C x 1 x 1 in the file, N x C read back
    if got.shape != want.shape:
        raise ModelFileError(
            f"reading '{shown(path)}' into PyTorch gave outputs of shape {got.shape}, ONNX "
            f"Runtime {want.shape}; convert the model from its PyTorch source instead"
        )
    error = float(np.abs(got - want).max() / max(float(np.abs(want).max()), 1e-6))
    if not error <= TOLERANCE:
        raise ModelFileError(
            f"reading '{shown(path)}' into PyTorch does not reproduce ONNX Runtime's outputs "
            f"(relative difference {error:.1e}); convert the model from its PyTorch source instead"
        )
    return error


def _run_onnxruntime(proto, path: Path, image: str, scores: str, x: np.ndarray) -> np.ndarray:
    """ONNX Runtime's scores for ``x``; the file's own errors (a Gemm of mismatched dims, a
    Reshape to 10^12 values...) as one line."""
    import onnxruntime as ort
    from onnx import TensorProto, helper

    if scores not in {o.name for o in proto.graph.output}:
        proto = _copy(proto)
        proto.graph.output.append(helper.make_tensor_value_info(scores, TensorProto.FLOAT, None))
    opts = ort.SessionOptions()
    opts.log_severity_level = 3
    try:
        session = ort.InferenceSession(
            proto.SerializeToString(), opts, providers=["CPUExecutionProvider"]
        )
        return session.run([scores], {image: x})[0]
    except Exception as e:  # noqa: BLE001 - ORT raises its own pybind exception types
        first = (str(e).strip().splitlines() or [type(e).__name__])[0][:200]
        raise ModelFileError(f"ONNX Runtime cannot run '{shown(path)}': {first}") from None


def third_party_info(path: Path, proto, source: SourceOptions) -> ModelInfo:
    """Describe an ONNX file without edgeres metadata from its image input's and class
    output's shapes (``classifier_io``; ``proto`` normalised) and the flags."""
    image, scores = classifier_io(proto.graph, path)
    dims = dims_of(image)
    layout = "NHWC" if dims[3] == 3 and dims[1] != 3 else "NCHW"
    h, w = (dims[1], dims[2]) if layout == "NHWC" else (dims[2], dims[3])
    img_size = source.img_size
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
    n_classes = dims_of(scores)[1] or 0
    if n_classes < 1:
        raise ModelFileError(
            f"'{shown(path)}' output has no fixed class dimension; edgeres quantizes classifiers"
        )
    spec = source.spec(h, w, layout=layout)
    classes = source.class_names(n_classes)
    return ModelInfo(name=path.stem, classes=classes, spec=spec, extra={"third_party": True})


def onnx_source(path: Path, opts: SourceOptions | None = None):
    """An FP32 ONNX file as a ``Checkpoint`` (the network read back into PyTorch, its info from
    the file's metadata or, for a third party's file, from its shapes and the flags).

    Raises:
        ModelFileError: Unreadable, already INT8, an operator edgeres does not read back.
        UsageError: A free input size without ``--img-size``.
    """
    from edgeres.formats.checkpoint import Checkpoint
    from edgeres.formats.onnx import read_onnx_metadata

    opts = opts or SourceOptions()
    proto = load_onnx_proto(path)
    info = read_onnx_metadata({p.key: p.value for p in proto.metadata_props})
    if info is None:
        refuse_quantized(proto, path)
        proto = normalized(proto, path)
        info = third_party_info(path, proto, opts)
    else:
        if info.precision != "fp32":
            raise ModelFileError(
                f"'{shown(path)}' is already {info.precision}; convert its FP32 source instead"
            )
        info = opts.applied(info)
    model = read_back(path, info, proto)
    return Checkpoint(model=model, info=info, model_name=info.name, model_args={})


def read_back(path: Path, info: ModelInfo, proto=None) -> OnnxModule:
    """The ONNX file described by ``info`` as a checked PyTorch module (``onnx_module``), at
    ``info``'s input size; NHWC input is refused (TFLite is made from NCHW PyTorch)."""
    if info.spec.layout != "NCHW":
        raise ModelFileError(
            f"'{shown(path)}' takes {info.spec.layout} input; edgeres reads NCHW ONNX models "
            "back into PyTorch"
        )
    return onnx_module(path, proto, info.spec.size)
