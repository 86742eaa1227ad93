"""Quantization-aware fine-tuning (``edgeres train --qat --init model.pt``) with torchao's PT2E.

The trained network's BatchNorms are folded into their convolutions first (what every INT8 file
does anyway), then the NHWC-wrapped network is exported with a free batch dimension and
litert-torch's PT2E quantizer inserts fake-quantize nodes on weights and activations. Training
that graph teaches the weights to live with INT8 rounding and learns each activation's range; the
same graph, rebuilt at batch 1 with the learned state, converts to a full-integer ``.tflite``.

Why not ``prepare_qat_pt2e``: litert-torch 0.10's QAT conv+BN annotators call ``torch.export`` on
a plain function and fail under torch 2.13. With BN already folded those patterns are not needed:
the quantizer's QAT config (moving-average fake-quantizers) is applied through ``prepare_pt2e``.
"""

from __future__ import annotations

import copy
import dataclasses
from typing import Any

import torch
from torch import nn
from torch.nn.utils.fusion import fuse_conv_bn_eval

from edgeres.convert.common import import_litert_torch, quiet_converters
from edgeres.convert.tflite import nhwc_module
from edgeres.errors import ModelFileError
from edgeres.spec import InputSpec

_MAX_BATCH = 1 << 16


def conv_bn_pairs(model: nn.Module) -> list[str]:
    """Names of the ``nn.Sequential(Conv2d, BatchNorm2d)`` blocks of ``model``."""
    return [
        name
        for name, m in model.named_modules()
        if isinstance(m, nn.Sequential)
        and len(m) == 2
        and isinstance(m[0], nn.Conv2d)
        and isinstance(m[1], nn.BatchNorm2d)
    ]


def fold_batchnorm(model: nn.Module) -> nn.Module:
    """An eval-mode copy of ``model`` with each BatchNorm folded into the conv before it."""
    folded = copy.deepcopy(model).eval()
    for name in conv_bn_pairs(folded):
        block = folded.get_submodule(name)
        block[0] = fuse_conv_bn_eval(block[0], block[1])
        block[1] = nn.Identity()
    return folded


def qat_quantizer(per_channel: bool):
    """litert-torch's symmetric INT8 quantizer with moving-average fake-quantizers."""
    import_litert_torch()
    from litert_torch.quantize import pt2e_quantizer as pq

    config = pq.get_symmetric_quantization_config(is_per_channel=per_channel, is_qat=True)
    # is_qat=False: skip the conv+BN QAT annotators (BN is folded already; see the module doc).
    config = dataclasses.replace(config, is_qat=False)
    return pq.PT2EQuantizer().set_global(config)


def _prepare(folded: nn.Module, spec: InputSpec, quantizer, batch: int | None):
    """Export the NHWC-wrapped ``folded`` (``batch`` None: a free batch) and insert fake-quants."""
    from torch.export import Dim
    from torchao.quantization.pt2e import quantize_pt2e

    sample = torch.randn(spec.with_layout("NHWC").shape(batch or 2))
    dynamic = None if batch else (({0: Dim("batch", min=1, max=_MAX_BATCH)},),)
    try:
        with quiet_converters():
            exported = torch.export.export(
                nhwc_module(folded), (sample,), dynamic_shapes=dynamic
            ).module()
    except Exception as e:  # noqa: BLE001 - export failing means the model has unsupported code
        first = (str(e).strip().splitlines() or [type(e).__name__])[0][:200]
        raise ModelFileError(f"torch.export could not trace the model for QAT: {first}") from None
    return quantize_pt2e.prepare_pt2e(exported, quantizer)


class QATNet(nn.Module):
    """The fake-quantized network being fine-tuned; takes NCHW batches like the float model.

    ``train()``/``eval()`` switch the range observers on and off (an exported graph has no
    train mode of its own: BN is folded and there is no dropout). ``freeze_ranges()`` keeps them
    off for good: after a warm-up the weights learn to live with fixed ranges instead of
    chasing ranges that move under them.
    """

    def __init__(self, model: nn.Module, spec: InputSpec, per_channel: bool = True) -> None:
        super().__init__()
        self.spec = spec
        self.per_channel = per_channel
        self.quantizer = qat_quantizer(per_channel)
        self._template = [model]  # the float architecture to write weights back into
        self._folded = [fold_batchnorm(model)]
        self.graph = _prepare(self._folded[0], spec, self.quantizer, None)
        self.ranges_frozen = False

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.graph(x.permute(0, 2, 3, 1))  # NCHW view of NHWC memory: no copy

    def train(self, mode: bool = True) -> QATNet:
        self.training = mode
        observe = mode and not self.ranges_frozen
        for m in self.graph.modules():
            if hasattr(m, "enable_observer"):
                m.enable_observer() if observe else m.disable_observer()
        return self

    def freeze_ranges(self) -> None:
        """Stop updating activation and weight ranges from here on."""
        self.ranges_frozen = True
        self.train(self.training)

    @torch.no_grad()
    def observe(self, batches) -> None:
        """Set the initial ranges from a few NCHW batches (observers on, weights untouched)."""
        mode, frozen = self.training, self.ranges_frozen
        self.ranges_frozen = False
        self.train(True)
        for x in batches:
            self(x)
        self.ranges_frozen = frozen
        self.train(mode)

    def export_graph(self, state: dict[str, Any] | None = None):
        """The graph at batch 1 (what litert-torch converts) with ``state`` (default: current)."""
        # Contiguous weights: trained in channels_last, they convert to a TFLite at chance (the
        # untrained graph and a few epochs convert fine; README, QAT against PTQ).
        folded = copy.deepcopy(self._folded[0]).to(memory_format=torch.contiguous_format)
        graph = _prepare(folded, self.spec, self.quantizer, 1)
        state = state if state is not None else self.graph.state_dict()
        graph.load_state_dict({k: v.contiguous() for k, v in state.items()})
        for m in graph.modules():
            if hasattr(m, "disable_observer"):
                m.disable_observer()
        return graph

    def float_model(self, state: dict[str, Any] | None = None) -> nn.Module:
        """The fine-tuned weights in the original architecture (BN as identity plus bias).

        Exact in eval mode: each BN gets weight 1, mean 0, variance ``1 - eps``, and the folded
        conv's bias as its bias.
        """
        state = state if state is not None else self.graph.state_dict()
        folded = copy.deepcopy(self._folded[0])
        prefix = "wrapped."
        own = {k[len(prefix) :]: v for k, v in state.items() if k.startswith(prefix)}
        folded.load_state_dict(own, strict=True)
        model = copy.deepcopy(self._template[0]).eval()
        with torch.no_grad():
            for name, tensor in folded.state_dict().items():
                target = model.state_dict().get(name)
                if target is not None and target.shape == tensor.shape:
                    target.copy_(tensor)
            for name in conv_bn_pairs(model):
                conv, bn = model.get_submodule(name)
                fused = folded.get_submodule(name)[0]
                conv.weight.copy_(fused.weight)
                bn.weight.fill_(1.0)
                bn.bias.copy_(fused.bias)
                bn.running_mean.zero_()
                bn.running_var.fill_(1.0 - bn.eps)
        return model
