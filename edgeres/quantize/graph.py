"""The network's dataflow graph as equalization and bias correction read it, from any PyTorch
source: an ``nn.Module`` traced by ``torch.fx`` (the zoo, a state dict's ``--model``, a user's
``pkg:fn``) or a ``torch.export`` program's own graph (``.pt2``), never the network's class.

Each node becomes an ``Op``: a conv or linear ``Layer`` (its weight and bias tensors, which are
changed in place, so the network itself changes), an eval-mode BatchNorm (``Norm``), an op that
passes each channel through unchanged and commutes with a positive scale (ReLU, pooling,
dropout, a flatten after global pooling), an addition, a ReLU6, or anything else. A module graph
names modules (``call_module``); a program's graph names ATen ops and reads weights with
``get_attr``; both read the same way from here on.
"""

from __future__ import annotations

import functools
import operator
from dataclasses import dataclass

import torch
from torch import fx, nn

aten = torch.ops.aten

_PASS_MODULES = (nn.ReLU, nn.Identity, nn.MaxPool2d, nn.AvgPool2d, nn.AdaptiveAvgPool2d,
                 nn.AdaptiveMaxPool2d, nn.Dropout)  # fmt: skip
_PASS_ATEN = {aten.relu.default, aten.relu_.default, aten.max_pool2d.default,
              aten.avg_pool2d.default, aten.adaptive_avg_pool2d.default, aten.dropout.default,
              aten.dropout_.default, aten.clone.default, aten.mean.dim}  # fmt: skip
_RESHAPES = {aten.flatten.using_ints, aten.view.default, aten.reshape.default, torch.flatten}
_ADDS = {operator.add, operator.iadd, torch.add, aten.add.Tensor, aten.add_.Tensor}
_RELU6_ATEN = {aten.hardtanh.default, aten.hardtanh_.default}


@dataclass
class Layer:
    """A conv or linear layer: its tensors (changed in place) and how it convolves."""

    name: str
    weight: torch.Tensor
    bias: torch.Tensor | None
    groups: int = 1
    stride: tuple = (1, 1)
    padding: tuple = (0, 0)
    dilation: tuple = (1, 1)
    module: nn.Module | None = None  # the nn.Conv2d / nn.Linear the graph calls, if any

    @property
    def depthwise(self) -> bool:
        """One filter per channel (MobileNet's 3x3): channel c in, channel c out."""
        w = self.weight
        return w.dim() == 4 and self.groups > 1 and w.shape[1] == 1 and self.groups == w.shape[0]

    def run(self, x: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
        """This layer on ``x`` with another ``weight`` (no bias)."""
        if self.weight.dim() == 2:
            return nn.functional.linear(x, weight)
        return nn.functional.conv2d(
            x, weight, None, self.stride, self.padding, self.dilation, self.groups
        )

    def add_bias(self, delta: torch.Tensor) -> bool:
        """Add ``delta`` to the bias (created on a module that has none); False when it cannot."""
        if self.bias is None:
            if self.module is None:  # a program's layer without a bias input
                return False
            self.module.bias = nn.Parameter(torch.zeros_like(delta))
            self.bias = self.module.bias
        self.bias.data.add_(delta)
        return True


@dataclass
class Norm:
    """An eval-mode BatchNorm: ``(x - mean) / sqrt(var + eps) * weight + bias``."""

    weight: torch.Tensor
    bias: torch.Tensor
    mean: torch.Tensor
    var: torch.Tensor
    eps: float

    def gain(self) -> torch.Tensor:
        return self.weight.detach() / torch.sqrt(self.var + self.eps)


@dataclass
class Op:
    """What one graph node does, for equalization: ``kind`` is layer, norm, pass, add, relu6 or
    other; ``src`` is the node it reads its data from."""

    kind: str
    src: fx.Node | None = None
    layer: Layer | None = None
    norm: Norm | None = None


@dataclass
class Graph:
    """A network's graph and the module owning its tensors; ``batch`` when a program was exported
    at a fixed batch size (it is then run image by image)."""

    graph: fx.Graph
    root: nn.Module
    model: nn.Module
    program: bool = False
    batch: int | None = None

    def op(self, node: fx.Node) -> Op:
        try:
            return self._aten(node) if self.program else self._module(node)
        except _Unknown:
            return Op("other")

    def _module(self, node: fx.Node) -> Op:
        src = node.args[0] if node.args and isinstance(node.args[0], fx.Node) else None
        if node.op == "call_module":
            return _module_op(str(node.target), self.root.get_submodule(node.target), src)
        if node.op != "call_function":
            return Op("other")
        if node.target in _ADDS:
            return Op("add") if _two_nodes(node.args) else Op("other")
        if node.target in (torch.relu, nn.functional.relu) and len(node.args) == 1:
            return Op("pass", src)
        if node.target is torch.flatten and _global_pool_flatten(node, self.root):
            return Op("pass", src)
        return Op("other")

    def _aten(self, node: fx.Node) -> Op:
        t, a = node.target, node.args
        src = a[0] if a and isinstance(a[0], fx.Node) else None
        if node.op != "call_function":
            return Op("other")
        if t is aten.convolution.default and a[6]:  # transposed
            return Op("other")
        if t in (aten.conv2d.default, aten.convolution.default):
            groups = (a[8] if len(a) > 8 else 1) if t is aten.convolution.default else _arg(a, 6, 1)
            w, b = self._tensor(a[1]), self._tensor(_arg(a, 2, None))
            layer = Layer(str(a[1].target), w, b, groups, _arg(a, 3, (1, 1)), _arg(a, 4, (0, 0)),
                          _arg(a, 5, (1, 1)))  # fmt: skip
            return Op("layer", src, layer)
        if t is aten.linear.default:
            return Op(
                "layer",
                src,
                Layer(str(a[1].target), self._tensor(a[1]), self._tensor(_arg(a, 2, None))),
            )
        if t in (aten.batch_norm.default, aten._native_batch_norm_legit_no_training.default):
            eps = a[7] if t is aten.batch_norm.default else a[6]
            if t is aten.batch_norm.default and a[5]:  # training mode
                return Op("other")
            norm = Norm(*(self._tensor(x) for x in a[1:5]), eps)
            return Op("norm", src, norm=norm)
        if t is operator.getitem and a[1] == 0 and src is not None and _is_bn(src):
            return Op("pass", src)
        if t in _ADDS:
            return Op("add") if _two_nodes(a) and len(a) == 2 and not node.kwargs else Op("other")
        if t in _RELU6_ATEN and tuple(a[1:]) == (0.0, 6.0):
            return Op("relu6", src)
        if t in _PASS_ATEN or (t in _RESHAPES and _squeezes_pixels(node)):
            return Op("pass", src) if _per_channel(node) else Op("other")
        return Op("other")

    def _tensor(self, node) -> torch.Tensor | None:
        if node is None:
            return None
        if not isinstance(node, fx.Node) or node.op != "get_attr":
            raise _Unknown
        return functools.reduce(getattr, str(node.target).split("."), self.root)

    def replace_relu6(self, nodes: list[fx.Node]) -> None:
        """Turn these ReLU6 into ReLU (the DFQ paper's step before equalizing across them)."""
        for node in nodes:
            if self.program:
                node.target, node.args = aten.relu.default, (node.args[0],)
            else:
                parent, _, leaf = str(node.target).rpartition(".")
                setattr(self.model.get_submodule(parent), leaf, nn.ReLU(inplace=True))
                setattr(self.root.get_submodule(parent), leaf, nn.ReLU(inplace=True))
        if nodes and self.program:
            self.graph.lint()
            self.root.recompile()


class _Unknown(Exception):
    """A node whose tensors are not plain weights: treated as an unknown op."""


def _module_op(name: str, m: nn.Module, src) -> Op:
    if isinstance(m, (nn.Conv2d, nn.Linear)):
        conv = isinstance(m, nn.Conv2d)
        layer = Layer(name, m.weight, m.bias, m.groups if conv else 1,
                      m.stride if conv else (1, 1), m.padding if conv else (0, 0),
                      m.dilation if conv else (1, 1), module=m)  # fmt: skip
        if conv and (m.padding_mode != "zeros" or isinstance(m.padding, str)):
            return Op("other")
        return Op("layer", src, layer)
    if isinstance(m, nn.BatchNorm2d) and m.affine and m.running_var is not None and not m.training:
        return Op("norm", src, norm=Norm(m.weight, m.bias, m.running_mean, m.running_var, m.eps))
    if isinstance(m, nn.ReLU6) or (
        isinstance(m, nn.Hardtanh) and (m.min_val, m.max_val) == (0.0, 6.0)
    ):
        return Op("relu6", src)
    if isinstance(m, _PASS_MODULES):
        return Op("pass", src)
    return Op("other")


def _arg(args, i: int, default):
    return args[i] if len(args) > i else default


def _two_nodes(args) -> bool:
    return len(args) == 2 and all(isinstance(a, fx.Node) for a in args)


def _is_bn(node: fx.Node) -> bool:
    return node.target is aten._native_batch_norm_legit_no_training.default


def _shape(node) -> tuple | None:
    val = node.meta.get("val") if isinstance(node, fx.Node) else None
    return tuple(val.shape) if val is not None and hasattr(val, "shape") else None


def _squeezes_pixels(node: fx.Node) -> bool:
    """A view/flatten of ``N x C x 1 x 1`` to ``N x C``: the features are the channels."""
    src, out = _shape(node.args[0]), _shape(node)
    return (
        src is not None
        and out is not None
        and len(src) == 4
        and src[2:] == (1, 1)
        and out == src[:2]
    )


def _per_channel(node: fx.Node) -> bool:
    """ATen's mean must be over the pixels only (global pooling)."""
    if node.target is not aten.mean.dim:
        return True
    dims = {d % 4 for d in node.args[1]}
    return dims == {2, 3}


def _global_pool_flatten(node: fx.Node, root: nn.Module) -> bool:
    """``torch.flatten(pool(x), 1)`` after a pooling to 1x1: features are the channels."""
    src = node.args[0]
    start = node.args[1] if len(node.args) > 1 else node.kwargs.get("start_dim", 0)
    if start != 1 or not isinstance(src, fx.Node) or src.op != "call_module":
        return False
    m = root.get_submodule(src.target)
    return isinstance(m, nn.AdaptiveAvgPool2d) and m.output_size in (1, (1, 1))


def network_graph(model: nn.Module) -> Graph | None:
    """The graph of ``model`` (a program's own, or ``torch.fx``'s trace); None when untraceable."""
    inner = getattr(model, "program", None)
    if isinstance(inner, fx.GraphModule):  # a torch.export program (formats.program_load)
        return Graph(inner.graph, inner, model, program=True, batch=getattr(model, "batch", None))
    if isinstance(model, fx.GraphModule):
        return Graph(model.graph, model, model)
    try:
        traced = fx.symbolic_trace(model)
    except Exception:  # noqa: BLE001 - an untraceable network is simply not equalized
        return None
    return Graph(traced.graph, traced, model)
