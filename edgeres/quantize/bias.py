"""Empirical bias correction (Nagel et al., 2019): cancel the mean shift INT8 weights cause.

Rounding a layer's weights to INT8 moves the mean of each output channel by
``E[conv(x, W_q - W)]``; with per-tensor weights or a narrow channel this is a systematic error
that every later layer inherits. Measured on the FP32 network's own inputs to each layer over a
few calibration batches, it is subtracted from the layer's bias (its BatchNorm's beta when one
follows), so the quantizer rounds weights whose error averages to zero.

Each layer's input is read while an ``torch.fx`` interpreter runs the network's graph
(``quantize.graph``: a traced module or a ``.pt2`` program's own), so any PyTorch source gets it.
A layer of a program that has no bias input and no BatchNorm after it is left as it is.

The rounding simulated here is the one both quantizers apply to the BatchNorm-folded weights:
symmetric, ``max|w| / 127`` per output channel (or per tensor).
"""

from __future__ import annotations

import torch
from torch import fx

from edgeres.quantize.equalize import Writer, layer_writers


def rounded(w: torch.Tensor, per_channel: bool) -> torch.Tensor:
    """``w`` after symmetric INT8 rounding, per output channel or per tensor."""
    peak = w.flatten(1).abs().amax(1) if per_channel else w.abs().max().expand(w.shape[0])
    scale = (peak / 127).clamp_min(1e-12).view((-1,) + (1,) * (w.dim() - 1))
    return torch.clamp(torch.round(w / scale), -127, 127) * scale


def _folded(writer: Writer) -> torch.Tensor:
    w = writer.layer.weight.detach()
    if writer.bn is None:
        return w
    return w * writer.bn.gain().view((-1,) + (1,) * (w.dim() - 1))


def _shift(writer: Writer, x: torch.Tensor, per_channel: bool) -> torch.Tensor:
    """Mean per output channel of what rounding adds to the writer's (folded) output on ``x``."""
    w = _folded(writer)
    y = writer.layer.run(x, rounded(w, per_channel) - w)
    return y.mean((0, 2, 3)) if y.dim() == 4 else y.mean(0)


class _Recorder(fx.Interpreter):
    """Runs the graph and sums each writer's mean shift on the input it receives."""

    def __init__(self, root, writers: dict[fx.Node, Writer], per_channel: bool) -> None:
        super().__init__(root)
        self.watch, self.per_channel = writers, per_channel
        self.sums: dict[fx.Node, torch.Tensor] = {}
        self.counts: dict[fx.Node, int] = {}

    def run_node(self, n: fx.Node):
        if n in self.watch:
            x = self.env[n.args[0]].detach()
            self.sums[n] = self.sums.get(n, 0) + _shift(self.watch[n], x, self.per_channel) * len(x)
            self.counts[n] = self.counts.get(n, 0) + len(x)
        return super().run_node(n)


def correct_biases(model, batches, per_channel: bool = True) -> int:
    """Correct the biases of ``model`` (eval mode) in place on the calibration ``batches``;
    returns the number of layers corrected."""
    graph, writers = layer_writers(model)
    if graph is None:
        return 0
    rec = _Recorder(graph.root, {w.node: w for w in writers}, per_channel)
    with torch.no_grad():
        for batch in batches:
            x = torch.as_tensor(batch)
            # A program exported at batch 1 runs image by image.
            for part in x.split(1) if graph.batch == 1 else (x,):
                rec.run(part)
    done = 0
    with torch.no_grad():
        for node, writer in rec.watch.items():
            if node not in rec.counts:
                continue
            shift = rec.sums[node] / rec.counts[node]
            if writer.bn is not None:
                writer.bn.bias.data.sub_(shift)
            elif not writer.layer.add_bias(-shift):
                continue
            done += 1
    return done
