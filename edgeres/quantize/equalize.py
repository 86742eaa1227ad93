"""Cross-layer equalization (Nagel et al., 2019, "Data-Free Quantization"), on the PyTorch network.

A channel that passes from the layers writing it to the layers reading it only through ReLU,
pooling and additions can be scaled by any positive factor ``s``: divide what its writers write
(their output channel, BatchNorm folded in) by ``s`` and multiply what its readers read (their
input channel) by ``s``, and the network computes the same function. Equalization picks ``s`` per
channel so the writers' and the readers' weight ranges meet in the middle: a channel whose
activations are ``x`` times wider than its neighbours' (common in trained networks, and exactly
what such a rescaling hides) stops setting the per-tensor INT8 range of its whole tensor.

A *channel space* is the set of tensors that must share one ``s`` per channel: a writer's output
and everything a ReLU, a pooling or an addition makes of it. In a ResNet, each block's conv1 ->
conv2 is one space (the ReLU between them is positively homogeneous), and each stage's residual
stream is one space with several writers (the stem or previous block, conv2, the projection
shortcut) and several readers (conv1, the shortcut, the classifier). A space read or written by
anything else (the network input and output, an unknown op) is left alone.

BatchNorm stays in the module tree: a writer's BatchNorm carries its scale (gamma and beta both
divided by ``s``), so module names, exports and checkpoints keep their shape.
"""

from __future__ import annotations

import operator
from dataclasses import dataclass, field

import torch
from torch import nn

# Ops that act on each channel alone and commute with a positive scale.
_HOMOGENEOUS = (
    nn.ReLU,
    nn.Identity,
    nn.MaxPool2d,
    nn.AvgPool2d,
    nn.AdaptiveAvgPool2d,
    nn.AdaptiveMaxPool2d,
    nn.Dropout,
)
_ADDS = (operator.add, operator.iadd, torch.add)
_RELUS = (torch.relu, nn.functional.relu)
MAX_ITERATIONS = 20
# A scale beyond this is a dead channel (zero weights on one side), not an outlier to undo.
MAX_SCALE = 1e4


@dataclass
class Writer:
    """A layer writing a channel space: its output channels (BatchNorm folded in when present)."""

    layer: nn.Module
    bn: nn.BatchNorm2d | None = None

    def ranges(self) -> torch.Tensor:
        w = self.layer.weight.detach().flatten(1).abs().amax(1)
        if self.bn is not None:
            w = w * (self.bn.weight.detach() / torch.sqrt(self.bn.running_var + self.bn.eps)).abs()
        return w

    def divide(self, s: torch.Tensor) -> None:
        target = self.bn if self.bn is not None else self.layer
        shape = (-1,) + (1,) * (target.weight.dim() - 1)
        target.weight.div_(s.view(shape))
        if target.bias is not None:
            target.bias.div_(s)


@dataclass
class Space:
    """Channels that share one scale: who writes them and who reads them."""

    writers: list[Writer] = field(default_factory=list)
    readers: list[nn.Module] = field(default_factory=list)
    names: list[str] = field(default_factory=list)

    @property
    def channels(self) -> int:
        return int(self.writers[0].ranges().numel())

    def scale(self, s: torch.Tensor) -> None:
        """Divide the channels by ``s``: the network computes the same function."""
        with torch.no_grad():
            for w in self.writers:
                w.divide(s)
            for r in self.readers:
                r.weight.mul_(s.view((1, -1) + (1,) * (r.weight.dim() - 2)))

    def balance(self) -> torch.Tensor:
        """The ``s`` per channel that gives writers and readers the same weight range."""
        out = torch.stack([w.ranges() for w in self.writers]).amax(0)
        inp = torch.stack(
            [r.weight.detach().abs().transpose(0, 1).flatten(1).amax(1) for r in self.readers]
        ).amax(0)
        s = torch.sqrt(out / inp.clamp_min(1e-12))
        ok = (out > 0) & (inp > 0) & torch.isfinite(s)
        return torch.where(ok, s, torch.ones_like(s)).clamp(1 / MAX_SCALE, MAX_SCALE)


def channel_spaces(model: nn.Module) -> list[Space]:
    """The channel spaces of ``model`` that can be rescaled (empty when it cannot be traced)."""
    try:
        graph = torch.fx.symbolic_trace(model).graph
    except Exception:  # noqa: BLE001 - an untraceable network is simply not equalized
        return []
    return _Tracer(dict(model.named_modules())).spaces(graph)


def layer_writers(model: nn.Module) -> list[Writer]:
    """Every (non-grouped) conv and linear layer of ``model`` with the BatchNorm that follows it,
    in graph order (layers alone when the network cannot be traced)."""
    try:
        graph = torch.fx.symbolic_trace(model).graph
    except Exception:  # noqa: BLE001 - untraceable: no BatchNorm pairing
        return [Writer(m) for m in model.modules() if isinstance(m, (nn.Conv2d, nn.Linear))]
    tracer = _Tracer(dict(model.named_modules()))
    for node in graph.nodes:
        tracer.visit(node)
    return [w for i in sorted(tracer.writers) for w in tracer.writers[i]]


class _Tracer:
    """Union-find of channel spaces over an ``fx`` graph."""

    def __init__(self, modules: dict[str, nn.Module]) -> None:
        self.modules = modules
        self.parent: list[int] = []
        self.blocked: set[int] = set()
        self.space: dict[object, int] = {}
        self.writers: dict[int, list[Writer]] = {}
        self.readers: dict[int, list[nn.Module]] = {}
        self.names: dict[int, list[str]] = {}

    def new(self, blocked: bool = False) -> int:
        self.parent.append(len(self.parent))
        if blocked:
            self.blocked.add(len(self.parent) - 1)
        return len(self.parent) - 1

    def find(self, i: int) -> int:
        while self.parent[i] != i:
            self.parent[i] = self.parent[self.parent[i]]
            i = self.parent[i]
        return i

    def block_args(self, node) -> None:
        for a in node.all_input_nodes:
            if a in self.space:
                self.blocked.add(self.find(self.space[a]))

    def spaces(self, graph) -> list[Space]:
        for node in graph.nodes:
            self.visit(node)
        roots: dict[int, Space] = {}
        for i, writers in self.writers.items():
            space = roots.setdefault(self.find(i), Space())
            space.writers += writers
            space.names += self.names[i]
        for i, readers in self.readers.items():
            roots.setdefault(self.find(i), Space()).readers += readers
        return [
            s
            for root, s in roots.items()
            if root not in self.blocked and s.writers and s.readers and _widths_match(s)
        ]

    def visit(self, node) -> None:
        if node.op == "call_module":
            self.module(node, self.modules[node.target])
        elif node.op == "call_function" and node.target in _ADDS and _all_nodes(node.args):
            first, *rest = (self.find(self.space[a]) for a in node.args)
            for r in rest:
                self.parent[r] = first
            self.space[node] = first
        elif node.op == "call_function" and self._passes(node):
            self.space[node] = self.space[node.args[0]]
        else:
            self.block_args(node)
            self.space[node] = self.new(blocked=True)

    def _passes(self, node) -> bool:
        """A functional ReLU, or the flatten after a global pooling: channels pass unchanged."""
        if node.target in _RELUS:
            return len(node.args) == 1
        return node.target is torch.flatten and _after_global(node, self.modules)

    def module(self, node, m: nn.Module) -> None:
        arg = node.args[0] if node.args else None
        if isinstance(m, (nn.Conv2d, nn.Linear)) and getattr(m, "groups", 1) == 1:
            self.readers.setdefault(self.find(self.space[arg]), []).append(m)
            self.space[node] = self.new()
            self.writers[self.space[node]] = [Writer(m)]
            self.names[self.space[node]] = [str(node.target)]
        elif isinstance(m, nn.BatchNorm2d) and self._bare_writer(arg):
            self.writers[self.space[arg]][0].bn = m
            self.space[node] = self.space[arg]
        elif isinstance(m, _HOMOGENEOUS) and arg in self.space:
            self.space[node] = self.space[arg]
        else:
            self.block_args(node)
            self.space[node] = self.new(blocked=True)

    def _bare_writer(self, arg) -> bool:
        """Whether ``arg`` is a conv's output read by this BatchNorm alone."""
        i = self.space.get(arg)
        return (
            i is not None
            and i in self.writers
            and self.writers[i][0].bn is None
            and isinstance(self.writers[i][0].layer, nn.Conv2d)
            and len(arg.users) == 1
        )


def _all_nodes(args) -> bool:
    return len(args) == 2 and all(isinstance(a, torch.fx.Node) for a in args)


def _after_global(node, modules) -> bool:
    """``torch.flatten(pool(x), 1)`` after a pooling to 1x1: features are the channels."""
    src = node.args[0]
    start = node.args[1] if len(node.args) > 1 else node.kwargs.get("start_dim", 0)
    if start != 1 or src.op != "call_module":
        return False
    m = modules[src.target]
    return isinstance(m, nn.AdaptiveAvgPool2d) and m.output_size in (1, (1, 1))


def _widths_match(space: Space) -> bool:
    n = space.channels
    return all(w.ranges().numel() == n for w in space.writers) and all(
        r.weight.shape[1] == n for r in space.readers
    )


def equalize(model: nn.Module, iterations: int = MAX_ITERATIONS) -> int:
    """Equalize ``model`` in place (eval-mode BatchNorm statistics are used); returns the number
    of channel spaces rescaled. The function it computes is unchanged up to float rounding."""
    spaces = channel_spaces(model)
    for _ in range(iterations):
        worst = 0.0
        for space in spaces:
            s = space.balance()
            space.scale(s)
            worst = max(worst, float(s.log().abs().max()))
        if worst < 1e-3:
            break
    return len(spaces)
