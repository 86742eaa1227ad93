"""A third party's ONNX graph brought, once, to the form the reader and the quantizers read.

Model-zoo classifiers were exported years ago (Caffe2, opset 9, IR 3): they list their weights as
graph inputs, compute weights with ``ConstantOfShape``, spell additions as ``Sum``, keep
``Dropout`` nodes and end in N x C x 1 x 1. ``normalize`` turns such a graph into the one
``onnx_module`` and ONNX Runtime's quantizer expect, in this order:

1. initializers checked (declared dims agree with the stored data) and dropped from the inputs;
   the declared size of every ``ConstantOfShape`` weight bounded before anything is computed;
2. the opset brought up to ``READER_OPSET`` (``onnx.version_converter``), shapes inferred;
3. constants folded by ONNX Runtime's own graph optimizer at its basic level (standard ONNX
   rewrites only: constant folding, Dropout/Identity removal, Conv+BatchNorm): it estimates each
   folded tensor from the inferred shapes and skips any over 1 GiB *before* computing it, and
   nothing but the operators' kernels runs. (onnxslim 0.1.98 was measured too: 4x slower on
   ResNet-50 and 12 GB of memory, then a failure, on a 320 KB file whose Add makes a 400M-value
   tensor, where ONNX Runtime skips the fold in 0.01 s.) Whatever folding is left to the reader
   is bounded there (``onnx_module``);
4. the image input and the class output found by what they are (``classifier_io``), an
   N x C x 1 x 1 output flattened to N x C, a trailing Softmax dropped (``trailing_softmax``).

The result is a new proto; the file is never changed.
"""

from __future__ import annotations

import math
import tempfile
from pathlib import Path

from edgeres.errors import ModelFileError
from edgeres.text import shown

# The opset the graph is brought up to: per-axis DequantizeLinear (quantizer, layer report),
# Squeeze/Unsqueeze/Split axes as inputs, Softmax over one axis (the reader's semantics).
READER_OPSET = 13
# Values one folded or stored tensor may hold, and all of them together: VGG-19's largest layer is
# 103M values, its whole network 144M; a file asking for more is crafted or not a classifier.
MAX_TENSOR_VALUES = 1 << 27
MAX_TOTAL_VALUES = 1 << 28
_STANDARD = ("", "ai.onnx")


def normalize(proto, path: Path):
    """The third-party graph ``proto`` (read from ``path``) normalised (module docstring).

    Raises:
        ModelFileError: Inconsistent or oversized weights, non-standard operators, a graph that
            the version converter, the shape inference or ONNX Runtime cannot read.
    """
    import onnx

    model = onnx.ModelProto()
    model.CopyFrom(proto)
    graph = model.graph
    check_initializers(graph, path)
    _refuse_custom_ops(graph, path)
    weights = {i.name for i in graph.initializer}
    kept = [i for i in graph.input if i.name not in weights]
    del graph.input[:]
    graph.input.extend(kept)
    # Before IR 4 every initializer had to be a graph input: the converter and ONNX Runtime hold
    # an IR 3 graph without them for broken. IR 7 is what ONNX Runtime 1.6+ reads.
    model.ir_version = max(model.ir_version, 7)
    _bound_declared_constants(graph, path)
    _drop_trailing_softmax(model)
    model = _upgrade(model, path)
    model = _fold(model, path)
    model = _infer(model, path)
    _flatten_output(model.graph)
    return model


def _numel(dims) -> int:
    return math.prod(max(int(d), 0) for d in dims)


def check_initializers(graph, path: Path) -> None:
    """Refuse weights whose declared dims disagree with their stored values, or too many values.

    The dims are what ONNX Runtime, the reader and a parameter count believe; a file that stores
    fewer (or more) values than it declares is corrupted or crafted.
    """
    from onnx import TensorProto, helper

    total = 0
    for t in graph.initializer:
        declared = _numel(t.dims)
        total += declared
        if declared > MAX_TENSOR_VALUES or total > MAX_TOTAL_VALUES:
            raise ModelFileError(
                f"'{shown(path)}' declares weight '{shown(t.name)[:80]}' of {declared} values "
                f"({total} in all), over the limit of {MAX_TENSOR_VALUES} per tensor and "
                f"{MAX_TOTAL_VALUES} in all; the file looks crafted"
            )
        if t.data_location == TensorProto.EXTERNAL:
            continue  # refused with its own message by load_onnx_proto
        try:
            stored = _stored_values(t, helper)
        except (KeyError, ValueError):  # a data type number onnx does not know
            raise ModelFileError(
                f"'{shown(path)}' declares weight '{shown(t.name)[:80]}' of unknown data type "
                f"{t.data_type}; the file is corrupted or crafted"
            ) from None
        if stored is not None and stored != declared:
            what = "bytes that make no whole number of values" if stored < 0 else str(stored)
            raise ModelFileError(
                f"'{shown(path)}' declares weight '{shown(t.name)[:80]}' of shape "
                f"{list(t.dims)} ({declared} values) but stores {what}; the file is corrupted "
                "or crafted"
            )


def _stored_values(t, helper) -> int | None:
    """How many values ``t`` holds (raw bytes over the element size, or its typed field); None
    where that is not a simple count (strings, packed 4-bit types)."""
    from onnx import TensorProto

    if t.data_type in (
        TensorProto.STRING,
        TensorProto.UNDEFINED,
        TensorProto.INT4,
        TensorProto.UINT4,
    ):
        return None
    if t.HasField("raw_data"):
        size = helper.tensor_dtype_to_np_dtype(t.data_type).itemsize
        # A partial value (18 bytes of int64) is no count: -1 never matches the declared shape.
        return len(t.raw_data) // size if len(t.raw_data) % size == 0 else -1
    n = len(getattr(t, helper.tensor_dtype_to_field(t.data_type)))
    return n // 2 if t.data_type in (TensorProto.COMPLEX64, TensorProto.COMPLEX128) else n


def parameter_count(graph) -> int:
    """Weight values the graph holds: its initializers, and the ConstantOfShape weights of old
    zoo graphs (counted from their declared shapes) in place of the shape vectors making them."""
    consts = _constant_values(graph)
    made = [n for n in graph.node if n.op_type == "ConstantOfShape" and n.input[0] in consts]
    shapes = {n.input[0] for n in made}
    readers = {i for n in graph.node if n.op_type != "ConstantOfShape" for i in n.input}
    stored = sum(
        _numel(t.dims) for t in graph.initializer if t.name not in shapes or t.name in readers
    )
    return stored + sum(_numel(consts[n.input[0]]) for n in made)


def _refuse_custom_ops(graph, path: Path) -> None:
    custom = sorted({f"{n.op_type} ({n.domain})" for n in graph.node if n.domain not in _STANDARD})
    if custom:
        raise ModelFileError(
            f"'{shown(path)}' uses operator(s) {', '.join(custom)[:200]} outside standard ONNX, "
            "which edgeres cannot read back into PyTorch or quantize; convert the model from its "
            "PyTorch source instead"
        )


def _constant_values(graph) -> dict:
    """Small integer constants by name (initializers and Constant nodes), as Python ints."""
    from onnx import numpy_helper

    out = {}
    named = [(t.name, t) for t in graph.initializer] + [
        (n.output[0], n.attribute[0].t)
        for n in graph.node
        if n.op_type == "Constant" and n.attribute and n.attribute[0].name == "value" and n.output
    ]
    for name, t in named:
        if _numel(t.dims) <= 16 and t.data_type in (6, 7):  # INT32, INT64: shapes
            try:
                out[name] = [int(v) for v in numpy_helper.to_array(t).reshape(-1)]
            except ValueError:  # bytes that do not make the declared values: not a constant
                continue
    return out


def _bound_declared_constants(graph, path: Path) -> None:
    """Refuse a ``ConstantOfShape``/``Expand``/``Tile`` of constant shape that would make more than
    ``MAX_TENSOR_VALUES`` values (``MAX_TOTAL_VALUES`` with the weights), before any engine
    allocates it; the sizes are products of the declared integers, nothing is computed."""
    consts = _constant_values(graph)
    total = sum(_numel(t.dims) for t in graph.initializer)
    for n in graph.node:
        shape_input = {"ConstantOfShape": 0, "Expand": 1}.get(n.op_type)
        if shape_input is None or len(n.input) <= shape_input:
            continue
        dims = consts.get(n.input[shape_input])
        if dims is None:
            continue
        values = _numel(dims)
        total += values
        if values > MAX_TENSOR_VALUES or total > MAX_TOTAL_VALUES:
            raise ModelFileError(
                f"'{shown(path)}' computes a {n.op_type} of shape {dims} ({values} values), over "
                f"the limit of {MAX_TENSOR_VALUES} per tensor and {MAX_TOTAL_VALUES} in all; "
                "refusing it before anything is allocated"
            )


def opset_of(model) -> int:
    return next((o.version for o in model.opset_import if o.domain in _STANDARD), 1)


def _upgrade(model, path: Path):
    """The model at ``READER_OPSET`` or above (older spellings, e.g. BatchNormalization's
    ``spatial``, Pad's attributes, Softmax's 2-D coercion, rewritten by the converter)."""
    from onnx import version_converter

    if opset_of(model) >= READER_OPSET:
        return model
    try:
        upgraded = version_converter.convert_version(model, READER_OPSET)
    except Exception as e:  # noqa: BLE001 - the converter raises several types on old graphs
        raise ModelFileError(
            f"'{shown(path)}' (ONNX opset {opset_of(model)}) could not be brought up to opset "
            f"{READER_OPSET}: {_first_line(e)}"
        ) from None
    upgraded.ir_version = max(upgraded.ir_version, model.ir_version)
    return upgraded


def _fold(model, path: Path):
    """Constants folded by ONNX Runtime's basic-level optimizer (module docstring)."""
    import onnx
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_BASIC
    opts.log_severity_level = 3
    with tempfile.TemporaryDirectory(prefix="edgeres-norm-") as tmp:
        opts.optimized_model_filepath = str(Path(tmp) / "folded.onnx")
        try:
            ort.InferenceSession(
                model.SerializeToString(), opts, providers=["CPUExecutionProvider"]
            )
        except Exception as e:  # noqa: BLE001 - ORT raises its own pybind exception types
            raise ModelFileError(
                f"ONNX Runtime cannot read '{shown(path)}': {_first_line(e)}"
            ) from None
        folded = onnx.load(opts.optimized_model_filepath)
    folded.ir_version = model.ir_version
    del folded.metadata_props[:]
    folded.metadata_props.extend(model.metadata_props)
    return folded


def _infer(model, path: Path):
    import onnx

    try:
        return onnx.shape_inference.infer_shapes(model, strict_mode=True, data_prop=True)
    except Exception as e:  # noqa: BLE001 - onnx raises its own types for a bad graph
        raise ModelFileError(f"'{shown(path)}' has an invalid graph: {_first_line(e)}") from None


def _first_line(e: Exception) -> str:
    lines = [ln.strip() for ln in str(e).strip().splitlines() if ln.strip()]
    return (lines[0] if lines else type(e).__name__)[:200]


def dims_of(value) -> list[int | None]:
    """A value's declared dims (None: free or named)."""
    return [
        d.dim_value if d.HasField("dim_value") else None
        for d in value.type.tensor_type.shape.dim
    ]  # fmt: skip


def _is_scores(dims: list[int | None]) -> bool:
    """N x C, or N x C x 1 x 1 (a classifier ending in a 1x1 convolution or a global pool)."""
    return len(dims) == 2 or (len(dims) == 4 and dims[2] == 1 and dims[3] == 1)


def classifier_io(graph, path: Path):
    """The image input (the one non-weight input of rank 4) and the class output (the one output
    of rank 2, or N x C x 1 x 1), whatever their position.

    Raises:
        ModelFileError: Not an image classifier (several image inputs, other inputs, outputs that
            are not scores): ``inspect`` describes such a graph; convert and quantize refuse it.
    """
    weights = {i.name for i in graph.initializer}
    inputs = [i for i in graph.input if i.name not in weights]
    images = [i for i in inputs if len(dims_of(i)) == 4]
    scores = [o for o in graph.output if _is_scores(dims_of(o))]
    why = None
    if len(images) != 1 or len(inputs) != 1:
        listed = ", ".join(f"{shown(i.name)[:40]} {dims_of(i)}" for i in inputs[:4])
        why = f"it takes {len(inputs)} input(s) ({listed or 'none'}), not one N,C,H,W image"
    elif len(graph.output) != 1 or len(scores) != 1:
        listed = ", ".join(f"{shown(o.name)[:40]} {dims_of(o)}" for o in graph.output[:4])
        why = f"it has {len(graph.output)} output(s) ({listed}), not one N x classes score tensor"
    if why:
        raise ModelFileError(
            f"'{shown(path)}' is not an image classifier: {why}; edgeres converts and quantizes "
            "classifiers (edgeres inspect describes the file)"
        )
    return images[0], scores[0]


def trailing_softmax(model):
    """The Softmax node that computes the one output over its classes, or None.

    Zoo graphs end in probabilities; edgeres' files end in logits (the runtime applies the
    softmax, and INT8 keeps logits apart where probabilities of 1e-4 would all round to 0).
    Before opset 13 Softmax(axis=1) flattens to N x (C*1*1), so N x C x 1 x 1 counts too.
    """
    graph = model.graph
    if len(graph.output) != 1:
        return None
    dims = dims_of(graph.output[0])
    node = next((n for n in graph.node if graph.output[0].name in n.output), None)
    if node is None or node.op_type != "Softmax" or not _is_scores(dims):
        return None
    axis = next((a.i for a in node.attribute if a.name == "axis"), None)
    old = opset_of(model) < 13
    if axis is None:
        axis = 1 if old else -1
    over_classes = axis == 1 or (axis == -1 and (len(dims) == 2 or old))
    return node if over_classes else None


def _drop_trailing_softmax(model) -> None:
    node = trailing_softmax(model)
    if node is not None:
        inner, out = node.input[0], node.output[0]
        model.graph.node.remove(node)
        for n in model.graph.node:
            n.output[:] = [out if o == inner else o for o in n.output]
            n.input[:] = [out if i == inner else i for i in n.input]


def graph_io(graph, path: Path):
    """The input and output a read-back module runs: the classifier's (``classifier_io``), or
    for a graph of one input and one output that are not (a test graph of one operator), those.
    """
    try:
        return classifier_io(graph, path)
    except ModelFileError:
        weights = {i.name for i in graph.initializer}
        inputs = [i for i in graph.input if i.name not in weights]
        if len(inputs) != 1 or len(graph.output) != 1:
            raise
        return inputs[0], graph.output[0]


def _flatten_output(graph) -> None:
    """An N x C x 1 x 1 class output read as N x C: a Flatten appended, the output's name kept."""
    from onnx import helper

    weights = {i.name for i in graph.initializer}
    if len(graph.output) != 1 or len([i for i in graph.input if i.name not in weights]) != 1:
        return  # not a classifier: classifier_io says why where it matters
    out = graph.output[0]
    dims = dims_of(out)
    if len(dims) != 4 or dims[2:] != [1, 1]:
        return
    inner = f"{out.name}__nchw"
    for node in graph.node:
        node.output[:] = [inner if o == out.name else o for o in node.output]
        node.input[:] = [inner if i == out.name else i for i in node.input]
    graph.node.append(helper.make_node("Flatten", [inner], [out.name], axis=1, name="edgeres_flat"))
    elem = out.type.tensor_type.elem_type
    del graph.output[-1]
    graph.output.append(helper.make_tensor_value_info(out.name, elem, [dims[0], dims[1]]))


def normalized(proto, path: Path):
    """``normalize`` for a graph without edgeres metadata; edgeres' own graphs pass unchanged."""
    from edgeres.formats.base import METADATA_KEY

    if any(p.key == METADATA_KEY for p in proto.metadata_props):
        return proto
    return normalize(proto, path)


def load_onnx_proto(path: Path):
    """The ONNX file's proto with its weights; one line for garbage or external data."""
    import onnx

    try:
        proto = onnx.load(str(path), load_external_data=False)
    except Exception as e:  # noqa: BLE001 - protobuf raises several types for garbage
        raise ModelFileError(
            f"'{shown(path)}' is not a readable ONNX model ({type(e).__name__})"
        ) from None
    if not proto.graph.input or not proto.graph.output or not proto.graph.node:
        raise ModelFileError(
            f"'{shown(path)}' is not a readable ONNX model (no graph with inputs and outputs)"
        )
    if any(init.data_location == onnx.TensorProto.EXTERNAL for init in proto.graph.initializer):
        raise ModelFileError(
            f"'{shown(path)}' keeps its weights in external data files; re-save it as one file "
            "(onnx.save_model(model, path, save_as_external_data=False))"
        )
    return proto


def refuse_quantized(proto, path: Path) -> None:
    if any(n.op_type in ("QuantizeLinear", "DequantizeLinear") for n in proto.graph.node):
        raise ModelFileError(
            f"'{shown(path)}' is already quantized; convert or quantize its FP32 source instead"
        )
