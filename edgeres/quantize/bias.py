"""Empirical bias correction (Nagel et al., 2019): cancel the mean shift INT8 weights cause.

Rounding a layer's weights to INT8 moves the mean of each output channel by
``E[conv(x, W_q - W)]``; with per-tensor weights or a narrow channel this is a systematic error
that every later layer inherits. Measured on the FP32 network's own inputs to each layer over a
few calibration batches, it is subtracted from the layer's bias (its BatchNorm's beta when one
follows), so the quantizer rounds weights whose error averages to zero.

The rounding simulated here is the one both quantizers apply to the BatchNorm-folded weights:
symmetric, ``max|w| / 127`` per output channel (or per tensor).
"""

from __future__ import annotations

import torch
from torch import nn

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
    bn = writer.bn
    k = bn.weight.detach() / torch.sqrt(bn.running_var + bn.eps)
    return w * k.view((-1,) + (1,) * (w.dim() - 1))


def _shift(writer: Writer, x: torch.Tensor, per_channel: bool) -> torch.Tensor:
    """Mean per output channel of what rounding adds to the writer's (folded) output on ``x``."""
    w = _folded(writer)
    delta = rounded(w, per_channel) - w
    layer = writer.layer
    if isinstance(layer, nn.Conv2d):
        y = nn.functional.conv2d(
            x, delta, None, layer.stride, layer.padding, layer.dilation, layer.groups
        )
        return y.mean((0, 2, 3))
    return nn.functional.linear(x, delta).mean(0)


def correct_biases(model: nn.Module, batches, per_channel: bool = True) -> int:
    """Correct the biases of ``model`` (eval mode) in place on the calibration ``batches``;
    returns the number of layers corrected."""
    writers = layer_writers(model)
    sums: dict[int, torch.Tensor] = {}
    counts: dict[int, int] = {}

    def hook(i: int, writer: Writer):
        def run(_module, args, _output):
            x = args[0].detach()
            sums[i] = sums.get(i, 0) + _shift(writer, x, per_channel) * len(x)
            counts[i] = counts.get(i, 0) + len(x)

        return run

    handles = [w.layer.register_forward_hook(hook(i, w)) for i, w in enumerate(writers)]
    try:
        with torch.no_grad():
            for batch in batches:
                model(torch.as_tensor(batch))
    finally:
        for h in handles:
            h.remove()
    with torch.no_grad():
        for i, writer in enumerate(writers):
            if i not in counts:
                continue
            shift = sums[i] / counts[i]
            target = writer.bn if writer.bn is not None else writer.layer
            if target.bias is None:
                target.bias = nn.Parameter(torch.zeros_like(shift))
            target.bias.sub_(shift)
    return len(counts)
