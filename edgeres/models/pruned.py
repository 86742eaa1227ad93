"""Networks with fewer channels than their registered architecture (``edgeres prune``).

A pruned network is its zoo architecture with whole filters removed, so its state dict holds
narrower tensors. The checkpoint records the width of every convolution and linear layer
(``layer_widths``: module name -> [out, in] channels); loading builds the registered
architecture, narrows each recorded layer to its width (``narrow``), then loads the weights
strictly. Every command that reads a checkpoint goes through that loader, so a pruned network
converts, quantizes, evaluates, predicts and trains (``--init``, ``--teacher``) like any other.
"""

from __future__ import annotations

from typing import Any

from torch import nn

WIDTHS_KEY = "layer_widths"
# Layers a width applies to; whatever else a network holds (activations, pooling) has no width.
_LAYERS = (nn.Conv2d, nn.Linear, nn.BatchNorm2d)


def layer_widths(model: nn.Module) -> dict[str, list[int]]:
    """Each convolution / linear / BatchNorm layer's [out, in] channels (BatchNorm: [n, n])."""
    widths: dict[str, list[int]] = {}
    for name, m in model.named_modules():
        if isinstance(m, nn.Conv2d):
            widths[name] = [m.out_channels, m.in_channels]
        elif isinstance(m, nn.Linear):
            widths[name] = [m.out_features, m.in_features]
        elif isinstance(m, nn.BatchNorm2d):
            widths[name] = [m.num_features, m.num_features]
    return widths


def differs(model: nn.Module, reference: nn.Module) -> bool:
    """Whether ``model`` is ``reference`` (its registered build) with other layer widths: the
    same layers by name, some narrower. Another architecture is not a pruned one."""
    mine, ref = layer_widths(model), layer_widths(reference)
    return mine.keys() == ref.keys() and mine != ref


def _conv(m: nn.Conv2d, out: int, inp: int) -> nn.Conv2d:
    # A depthwise layer stays depthwise: one group per channel.
    depthwise = m.groups > 1 and m.groups == m.in_channels == m.out_channels
    groups = inp if depthwise else m.groups
    return nn.Conv2d(
        inp, out, m.kernel_size, m.stride, m.padding, m.dilation, groups,
        bias=m.bias is not None, padding_mode=m.padding_mode,
    )  # fmt: skip


def _narrowed(m: nn.Module, out: int, inp: int) -> nn.Module:
    if isinstance(m, nn.Conv2d):
        return _conv(m, out, inp)
    if isinstance(m, nn.Linear):
        return nn.Linear(inp, out, bias=m.bias is not None)
    return nn.BatchNorm2d(out, m.eps, m.momentum, m.affine, m.track_running_stats)


def narrow(model: nn.Module, widths: dict[str, Any]) -> nn.Module:
    """Replace each layer named in ``widths`` by one of that width (fresh weights); in place.

    Raises:
        ValueError: A name that is not such a layer of ``model``, or a width below 1.
    """
    modules = dict(model.named_modules())
    for name, pair in widths.items():
        m = modules.get(name)
        if not isinstance(m, _LAYERS):
            raise ValueError(f"layer_widths names '{name}', which is no conv/linear/BN layer")
        out, inp = (int(v) for v in pair)
        if out < 1 or inp < 1:
            raise ValueError(f"layer_widths gives '{name}' {out}x{inp} channels")
        if [out, inp] == layer_widths_of(m):
            continue
        parent_name, _, attr = name.rpartition(".")
        setattr(modules[parent_name] if parent_name else model, attr, _narrowed(m, out, inp))
    return model


def layer_widths_of(m: nn.Module) -> list[int]:
    """One layer's [out, in] channels."""
    return layer_widths(nn.Sequential(m))["0"]
