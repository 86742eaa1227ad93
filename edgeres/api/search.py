"""``fit`` and ``prune`` as Python functions: the network made to fit the device."""

from __future__ import annotations

from typing import Any

from edgeres.api.result import Result, build
from edgeres.errors import GateFailed, missing_dependency


def _room(module: str) -> Any:
    """``edgeres.fit.api`` / ``edgeres.prune.api``, or which extra to install."""
    import importlib

    try:
        return importlib.import_module(module)
    except ModuleNotFoundError as e:
        top = (e.name or "").split(".")[0]
        if top in ("torch", "matplotlib", "optuna", "torch_pruning"):
            extra = "fit" if top in ("optuna", "torch_pruning") else "train"
            raise missing_dependency(e.name, extra, "edgeres " + module.split(".")[1]) from None
        raise


def fit(config: Any = None, /, **fields: Any) -> Result:
    """Search family x width x input size under a latency budget measured on the target.

    Args:
        config: A ``FitConfig`` (or its fields as keywords:
            ``fit(data="shapes", latency_ms=2, out="runs/fit")``).

    Returns:
        ``failure`` is a ``GateFailed`` when the chosen network's INT8 file missed the gate.
    """
    from edgeres.fit.config import FitConfig

    result = _room("edgeres.fit.api").fit(build(FitConfig, config, **fields))
    d = result.to_dict()
    c = d["chosen"]
    text = [
        f"{d['within_budget']} of {d['candidates']} candidates within {d['budget_ms']:g} ms on "
        f"{d['target']}; trials: {', '.join(f'{n} {k}' for k, n in d['trials'].items())}",
        f"chosen: {c['candidate']}, {c['latency_ms']:.3f} ms ({c['latency_kind']}, "
        f"{c['engine']}), proxy val accuracy {100 * c['val_accuracy']:.1f}%",
    ]
    if "test_accuracy_fp32" in c:
        text.append(f"trained fully: test accuracy {100 * c['test_accuracy_fp32']:.2f}% (FP32)")
    text += [f"reproduce: {d['command']}", f"wrote {', '.join(d['files'])}, {d['out']}/fit.json"]
    failure = (
        None
        if result.int8_passed
        else GateFailed("the chosen network's INT8 file missed the accuracy gate (see chosen/)")
    )
    return Result(result, d, text, failure=failure)


def prune(config: Any = None, /, **fields: Any) -> Result:
    """Remove whole channels from a trained network, fine-tune it distilled, and quantize it.

    Args:
        config: A ``PruneConfig`` (or its fields as keywords:
            ``prune(model="runs/r18/model.pt", data="shapes", macs=0.5, out="runs/p50")``).

    Returns:
        ``failure`` is a ``GateFailed`` when the pruned network's INT8 file missed the gate.
    """
    from edgeres.prune.config import PruneConfig

    result = _room("edgeres.prune.api").prune(build(PruneConfig, config, **fields))
    d = result.to_dict()
    text = [
        f"pruned {d['channel_share_removed']:.1%} of each group's channels: "
        f"{d['macs']:,} of {d['base_macs']:,} MACs ({d['macs_ratio']:.1%})"
    ]
    before, after = d["accuracy_before"], d["accuracy_after"]
    if after is not None:
        was = f" (unpruned {100 * before:.2f}%)" if before is not None else ""
        text.append(f"fine-tuned, teacher {d['teacher'] or 'none'}: {100 * after:.2f}%{was}")
    text.append(f"wrote {result.checkpoint}, {', '.join(d['int8'].values())}, prune.json")
    failure = (
        None
        if result.int8_passed
        else GateFailed(
            "the pruned network's INT8 file missed the accuracy gate (see the quantization report)"
        )
    )
    return Result(result, d, text, failure=failure)
