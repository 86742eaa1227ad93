"""Structured channel pruning with Torch-Pruning's DependencyGraph.

Whole filters are removed, with everything that consumes them (the next layer's input channels,
the BatchNorm after them). DepGraph groups the channels that must go together: every tensor
added into one residual stream keeps the same channels, so a block's last convolution, its
projection shortcut and the stream's other blocks are pruned as one group and the additions
keep matching shapes. Channels are ranked by the L2 norm of their weights (summed over the
group), the classifier's outputs (the classes) are never pruned.

A target ratio of MACs is reached by bisection on the share of channels removed from every
group; a share that would take a layer's last channel is refused.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass

import torch
from torch import nn

from edgeres.errors import UsageError

# Bisection steps on the channel share: 2^-7 of the share is within one channel for layers up to
# 128 wide and within 1% of the MACs target for wider ones; each step traces the graph again.
STEPS = 7


def _tp():
    try:
        import torch_pruning as tp
    except ModuleNotFoundError:
        raise UsageError("edgeres prune needs Torch-Pruning: pip install 'edgeres[fit]'") from None
    return tp


def count_macs(model: nn.Module, example: torch.Tensor) -> int:
    """Multiply-accumulates of one forward pass (Torch-Pruning's counter, as the pruner sees it)."""
    macs, _ = _tp().utils.count_ops_and_params(model, example)
    return int(macs)


def _head(model: nn.Module) -> nn.Module:
    linears = [m for m in model.modules() if isinstance(m, nn.Linear)]
    if not linears:
        raise UsageError(f"{type(model).__name__} has no linear classifier head")
    return linears[-1]


def prune_channels(model: nn.Module, example: torch.Tensor, share: float) -> nn.Module:
    """A copy of ``model`` with ``share`` of every dependency group's channels removed."""
    tp = _tp()
    net = copy.deepcopy(model).eval()
    if share <= 0:
        return net
    pruner = tp.pruner.MagnitudePruner(
        net,
        example,
        importance=tp.importance.MagnitudeImportance(p=2),
        pruning_ratio=share,
        ignored_layers=[_head(net)],
    )
    pruner.step()
    return net


def _convs(model: nn.Module) -> list[tuple[str, int]]:
    return [(n, m.out_channels) for n, m in model.named_modules() if isinstance(m, nn.Conv2d)]


def max_share(model: nn.Module) -> float:
    """The largest channel share that leaves every convolution at least one channel."""
    narrowest = min(c for _, c in _convs(model))
    # Torch-Pruning rounds the count it removes; keep half a channel of margin.
    return max(0.0, (narrowest - 1.5) / narrowest)


@dataclass
class Pruned:
    """A pruned network and what it cost."""

    model: nn.Module
    share: float  # of each group's channels removed
    macs: int
    base_macs: int

    @property
    def ratio(self) -> float:
        return self.macs / self.base_macs


def prune_to_macs(model: nn.Module, example: torch.Tensor, ratio: float) -> Pruned:
    """The least-pruned network whose MACs are at most ``ratio`` of ``model``'s.

    Raises:
        UsageError: ``ratio`` needs a layer removed entirely (the narrowest layer would keep
            no channel); the message says the smallest ratio that can be reached.
    """
    base = count_macs(model, example)
    top = max_share(model)
    deepest = prune_channels(model, example, top)
    floor = count_macs(deepest, example) / base
    if ratio < floor:
        name, width = min(_convs(model), key=lambda nc: nc[1])
        raise UsageError(
            f"--macs {ratio:g} would remove a layer entirely: the narrowest ('{name}', {width} "
            f"channels) keeps one channel at {floor:.3f} of the MACs; ask for --macs {floor:.3f} "
            "or more"
        )
    lo, hi, best = 0.0, top, Pruned(deepest, top, int(floor * base), base)
    for _ in range(STEPS):
        mid = (lo + hi) / 2
        net = prune_channels(model, example, mid)
        macs = count_macs(net, example)
        if macs <= ratio * base:
            hi, best = mid, Pruned(net, mid, macs, base)
        else:
            lo = mid
    return best


def check_residual_shapes(model: nn.Module, example: torch.Tensor) -> None:
    """Run ``model`` once: a residual addition of mismatched channels raises here, not later."""
    with torch.no_grad():
        model.eval()(example)
