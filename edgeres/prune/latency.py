"""Pruning to a latency measured on the target: each channel share tried is exported to INT8 and
measured (``edgeres.fit.measure``), and a bisection keeps the least-pruned network inside the
budget. Latency does not depend on the weights, so nothing is trained while searching."""

from __future__ import annotations

import torch
from torch import nn

from edgeres.errors import UsageError
from edgeres.fit.measure import Measurement, Target, measure_module
from edgeres.prune.channels import Pruned, count_macs, max_share, prune_channels
from edgeres.spec import ModelInfo

# Each step exports, quantizes and times a network (seconds each): five steps bring the share
# within 3% of the budget's edge.
LATENCY_STEPS = 5


def prune_to_latency(
    model: nn.Module,
    example: torch.Tensor,
    info: ModelInfo,
    model_args: dict,
    budget_ms: float,
    target: Target,
) -> tuple[Pruned, list[dict]]:
    """The least-pruned network whose INT8 file meets ``budget_ms`` on ``target``, and every
    measurement made on the way (share, MACs, latency).

    Raises:
        UsageError: Even the deepest pruning that keeps every layer misses the budget; the
            message gives its latency.
    """
    base = count_macs(model, example)
    log: list[dict] = []

    def measure(share: float) -> tuple[nn.Module, Measurement]:
        net = prune_channels(model, example, share)
        m = measure_module(net, info, model_args, target)
        log.append({"share": round(share, 4), "macs": count_macs(net, example), **m.to_dict()})
        return net, m

    unpruned = measure(0.0)[1]
    if unpruned.p50_ms <= budget_ms:
        raise UsageError(
            f"the network already runs in {unpruned.p50_ms:.3f} ms ({unpruned.kind}) on "
            f"{target.where}, within --latency-ms {budget_ms:g}: nothing to prune"
        )
    top = max_share(model)
    deepest, m = measure(top)
    if m.p50_ms > budget_ms:
        raise UsageError(
            f"--latency-ms {budget_ms:g} cannot be met on {target.where}: pruning every layer "
            f"to its last channel still takes {m.p50_ms:.3f} ms ({m.kind}); the unpruned "
            f"network takes {unpruned.p50_ms:.3f} ms"
        )
    lo, hi = 0.0, top
    best = Pruned(deepest, top, count_macs(deepest, example), base)
    for _ in range(LATENCY_STEPS):
        mid = (lo + hi) / 2
        net, m = measure(mid)
        if m.p50_ms <= budget_ms:
            hi, best = mid, Pruned(net, mid, count_macs(net, example), base)
        else:
            lo = mid
    return best, log
