"""Smaller QDQ ONNX files: the graph overhead ONNX Runtime's quantizer leaves, removed.

The quantizer writes one scale/zero-point pair per activation with long derived names
(``stages.2.0.conv2.0.weight_bias_quantized_zero_point``), a ``value_info`` entry per tensor and
opset imports for every domain it knows. On a small network that overhead is several percent
of the file. Nothing here changes a value: the graph computes exactly what it did.
"""

from __future__ import annotations

_QDQ_OPS = {"QuantizeLinear", "DequantizeLinear"}
_GRAPH, _GRAPHS = 5, 10  # onnx.AttributeProto.GRAPH / GRAPHS


def compact_qdq(proto):
    """Shrink a QDQ ``onnx.ModelProto`` in place without changing what it computes; returns it.

    Identical initializers are merged, unused ones dropped, ``value_info`` and doc strings
    removed, unused opset domains dropped, and the tensors and nodes the quantizer added (Q/DQ
    outputs, initializers) renamed to short names. Graph inputs/outputs and the outputs of every
    other node keep their names, so the per-layer report still finds the FP32 tensors.
    """
    graph = proto.graph
    del graph.value_info[:]
    graph.doc_string = ""
    proto.doc_string = ""
    for node in graph.node:
        node.doc_string = ""
    if any(a.type in (_GRAPH, _GRAPHS) for node in graph.node for a in node.attribute):
        return proto  # subgraphs may read outer names: leave names and initializers alone
    _merge_duplicate_initializers(graph)
    _drop_unused_initializers(graph)
    _drop_unused_opsets(proto)
    _short_names(graph)
    return proto


def _rename_inputs(graph, mapping: dict[str, str]) -> None:
    for node in graph.node:
        for i, name in enumerate(node.input):
            if name in mapping:
                node.input[i] = mapping[name]


def _merge_duplicate_initializers(graph) -> None:
    """One initializer per distinct (type, shape, value): the quantizer repeats e.g. zero points."""
    # An initializer that is also a graph input can be overridden at run time: never merge it.
    graph_io = {v.name for v in (*graph.input, *graph.output)}
    first: dict[bytes, str] = {}
    mapping: dict[str, str] = {}
    for init in graph.initializer:
        if init.name in graph_io:
            continue
        body = init.__class__()
        body.CopyFrom(init)
        body.name = ""
        key = body.SerializeToString(deterministic=True)
        if key in first:
            mapping[init.name] = first[key]
        else:
            first[key] = init.name
    _rename_inputs(graph, mapping)


def _drop_unused_initializers(graph) -> None:
    used = {name for node in graph.node for name in node.input}
    used |= {v.name for v in (*graph.input, *graph.output)}
    keep = [init for init in graph.initializer if init.name in used]
    if len(keep) != len(graph.initializer):
        del graph.initializer[:]
        graph.initializer.extend(keep)


def _drop_unused_opsets(proto) -> None:
    used = {node.domain for node in proto.graph.node} | {""}
    keep = [o for o in proto.opset_import if o.domain in used]
    del proto.opset_import[:]
    proto.opset_import.extend(keep)


def _short_names(graph) -> None:
    """Rename initializers and Q/DQ outputs to ``t<n>``, Q/DQ nodes to ``n<n>`` (deterministic)."""
    fixed = {v.name for v in (*graph.input, *graph.output)}
    fixed |= {o for node in graph.node if node.op_type not in _QDQ_OPS for o in node.output}
    targets = [i.name for i in graph.initializer] + [
        o for node in graph.node if node.op_type in _QDQ_OPS for o in node.output
    ]
    taken = set(fixed)
    mapping: dict[str, str] = {}
    counter = 0
    for name in targets:
        if name in fixed or name in mapping or not name:
            continue
        new = f"t{counter}"
        while new in taken:
            counter += 1
            new = f"t{counter}"
        counter += 1
        taken.add(new)
        mapping[name] = new
    for init in graph.initializer:
        init.name = mapping.get(init.name, init.name)
    for node in graph.node:
        for i, name in enumerate(node.output):
            node.output[i] = mapping.get(name, name)
    _rename_inputs(graph, mapping)
    names = {node.name for node in graph.node if node.op_type not in _QDQ_OPS}
    counter = 0
    for node in graph.node:
        if node.op_type in _QDQ_OPS:
            while f"n{counter}" in names:
                counter += 1
            node.name = f"n{counter}"
            counter += 1
