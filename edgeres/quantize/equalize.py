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
anything else (the network input and output, an unknown op, hard-swish, a squeeze-and-excitation
product) is left alone.

A depthwise convolution (one filter per channel, MobileNet's 3x3) reads channel c and writes
channel c: it is a reader of the space before it (its filter c is multiplied by ``s_c``) and the
writer of the space after it, so expand -> depthwise -> project is a chain of two spaces, solved
together by iterating, as in the paper. ReLU6 is not scale-invariant (``relu6(x / s) * s`` clips
at ``6 s``); with ``relu6="relu"`` (the default, the paper's step) the ReLU6 inside a space is
replaced by ReLU before equalizing, which changes the function only where an activation exceeded
6; with ``relu6="keep"`` a ReLU6 ends its space. ``tools/mobilenet_check.py`` measures both.

The graph comes from ``quantize.graph`` (``torch.fx`` or a ``.pt2`` program's own), never from
the network's class. BatchNorm stays where it is: a writer's BatchNorm carries its scale (gamma
and beta both divided by ``s``), so module names, exports and checkpoints keep their shape.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
from torch import fx, nn

from edgeres.quantize.graph import Graph, Layer, Norm, network_graph

MAX_ITERATIONS = 20
# A scale beyond this is a dead channel (zero weights on one side), not an outlier to undo.
MAX_SCALE = 1e4
RELU6_CHOICES = ("relu", "keep")


@dataclass
class Writer:
    """A layer writing a channel space: its output channels (BatchNorm folded in when present)."""

    layer: Layer
    bn: Norm | None = None
    node: fx.Node | None = None

    def ranges(self) -> torch.Tensor:
        w = self.layer.weight.detach().flatten(1).abs().amax(1)
        return w * self.bn.gain().abs() if self.bn is not None else w

    def divide(self, s: torch.Tensor) -> None:
        if self.bn is not None:
            self.bn.weight.data.div_(s)
            self.bn.bias.data.div_(s)
            return
        w = self.layer.weight
        w.data.div_(s.view((-1,) + (1,) * (w.dim() - 1)))
        if self.layer.bias is not None:
            self.layer.bias.data.div_(s)


def _reader_ranges(layer: Layer) -> torch.Tensor:
    w = layer.weight.detach().abs()
    return w.flatten(1).amax(1) if layer.depthwise else w.transpose(0, 1).flatten(1).amax(1)


def _reader_width(layer: Layer) -> int:
    return int(layer.weight.shape[0] if layer.depthwise else layer.weight.shape[1])


@dataclass
class Space:
    """Channels that share one scale: who writes them, who reads them, the ReLU6 inside."""

    writers: list[Writer] = field(default_factory=list)
    readers: list[Layer] = field(default_factory=list)
    names: list[str] = field(default_factory=list)
    relu6: list[fx.Node] = field(default_factory=list)

    @property
    def channels(self) -> int:
        return int(self.writers[0].ranges().numel())

    def scale(self, s: torch.Tensor) -> None:
        """Divide the channels by ``s``: the network computes the same function."""
        with torch.no_grad():
            for w in self.writers:
                w.divide(s)
            for r in self.readers:
                shape = (-1, 1, 1, 1) if r.depthwise else (1, -1) + (1,) * (r.weight.dim() - 2)
                r.weight.data.mul_(s.view(shape))

    def balance(self) -> torch.Tensor:
        """The ``s`` per channel that gives writers and readers the same weight range."""
        out = torch.stack([w.ranges() for w in self.writers]).amax(0)
        inp = torch.stack([_reader_ranges(r) for r in self.readers]).amax(0)
        s = torch.sqrt(out / inp.clamp_min(1e-12))
        ok = (out > 0) & (inp > 0) & torch.isfinite(s)
        return torch.where(ok, s, torch.ones_like(s)).clamp(1 / MAX_SCALE, MAX_SCALE)


def channel_spaces(model: nn.Module, relu6: str = "relu") -> list[Space]:
    """The channel spaces of ``model`` that can be rescaled (empty when it cannot be traced);
    with ``relu6="relu"`` spaces reach across ReLU6 (``equalize`` replaces those first)."""
    graph = network_graph(model)
    return [] if graph is None else _Tracer(graph, relu6).spaces()


def layer_writers(model: nn.Module) -> tuple[Graph | None, list[Writer]]:
    """The graph and every conv and linear layer of ``model`` with the BatchNorm that follows it,
    in graph order (no graph and no layers when it cannot be traced)."""
    graph = network_graph(model)
    if graph is None:
        return None, []
    tracer = _Tracer(graph, "keep")
    tracer.run()
    return graph, [w for i in sorted(tracer.writers) for w in tracer.writers[i]]


class _Tracer:
    """Union-find of channel spaces over a ``quantize.graph`` graph."""

    def __init__(self, graph: Graph, relu6: str) -> None:
        if relu6 not in RELU6_CHOICES:
            raise ValueError(f"relu6 must be one of {RELU6_CHOICES}, got {relu6!r}")
        self.graph, self.relu6 = graph, relu6
        self.parent: list[int] = []
        self.blocked: set[int] = set()
        self.space: dict[fx.Node, int] = {}
        self.writers: dict[int, list[Writer]] = {}
        self.readers: dict[int, list[Layer]] = {}
        self.names: dict[int, list[str]] = {}
        self.relu6s: dict[int, list[fx.Node]] = {}

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

    def block(self, node: fx.Node) -> None:
        for a in node.all_input_nodes:
            if a in self.space:
                self.blocked.add(self.find(self.space[a]))
        self.space[node] = self.new(blocked=True)

    def run(self) -> None:
        for node in self.graph.graph.nodes:
            self.visit(node)

    def spaces(self) -> list[Space]:
        self.run()
        roots: dict[int, Space] = {}
        for i, writers in self.writers.items():
            space = roots.setdefault(self.find(i), Space())
            space.writers += writers
            space.names += self.names[i]
        for i, readers in self.readers.items():
            roots.setdefault(self.find(i), Space()).readers += readers
        for i, nodes in self.relu6s.items():
            roots.setdefault(self.find(i), Space()).relu6 += nodes
        return [
            s
            for root, s in roots.items()
            if root not in self.blocked and s.writers and s.readers and _widths_match(s)
        ]

    def visit(self, node: fx.Node) -> None:
        op = self.graph.op(node)
        src = op.src if op.src in self.space else None
        if op.kind == "layer" and src is not None and _rescalable(op.layer):
            self.readers.setdefault(self.find(self.space[src]), []).append(op.layer)
            self.space[node] = self.new()
            self.writers[self.space[node]] = [Writer(op.layer, node=node)]
            self.names[self.space[node]] = [op.layer.name]
        elif op.kind == "norm" and self._bare_writer(src):
            self.writers[self.space[src]][0].bn = op.norm
            self.space[node] = self.space[src]
        elif op.kind == "pass" and src is not None:
            self.space[node] = self.space[src]
        elif op.kind == "relu6" and src is not None and self.relu6 == "relu":
            self.space[node] = self.space[src]
            self.relu6s.setdefault(self.space[src], []).append(node)
        elif op.kind == "add" and all(a in self.space for a in node.args):
            first, *rest = (self.find(self.space[a]) for a in node.args)
            for r in rest:
                self.parent[r] = first
            self.space[node] = first
        else:
            self.block(node)

    def _bare_writer(self, arg) -> bool:
        """Whether ``arg`` is a conv's output read by this BatchNorm alone."""
        i = self.space.get(arg)
        return (
            i is not None
            and i in self.writers
            and self.writers[i][0].bn is None
            and self.writers[i][0].layer.weight.dim() == 4
            and len(arg.users) == 1
        )


def _rescalable(layer: Layer) -> bool:
    """Plain and depthwise layers; other grouped convs mix channels in ways not modelled here."""
    return layer.groups == 1 or layer.depthwise


def _widths_match(space: Space) -> bool:
    n = space.channels
    return all(w.ranges().numel() == n for w in space.writers) and all(
        _reader_width(r) == n for r in space.readers
    )


def equalize(model: nn.Module, iterations: int = MAX_ITERATIONS, relu6: str = "relu") -> dict:
    """Equalize ``model`` in place (eval-mode BatchNorm statistics are used).

    Returns:
        ``{"equalized_spaces": n, "relu6_replaced": m}``. The function is unchanged up to float
        rounding, except where a replaced ReLU6 had inputs above 6.
    """
    graph = network_graph(model)
    spaces = [] if graph is None else _Tracer(graph, relu6).spaces()
    replaced = [n for s in spaces for n in s.relu6]
    if graph is not None:
        graph.replace_relu6(replaced)
    for _ in range(iterations):
        worst = 0.0
        for space in spaces:
            s = space.balance()
            space.scale(s)
            worst = max(worst, float(s.log().abs().max()))
        if worst < 1e-3:
            break
    return {"equalized_spaces": len(spaces), "relu6_replaced": len(replaced)}
