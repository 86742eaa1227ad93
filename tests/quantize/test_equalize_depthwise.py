"""Equalization through depthwise layers and ReLU6, found from the graph: zoo MobileNets, a
``.pt2`` program and a network edgeres has never seen."""

from __future__ import annotations

import copy

import pytest
import torch
from torch import nn

from edgeres.models import create_model
from edgeres.quantize.bias import correct_biases, rounded
from edgeres.quantize.equalize import channel_spaces, equalize
from edgeres.quantize.graph import network_graph


def _mobilenet(scale: float = 1.0, seed: int = 0) -> nn.Module:
    """A narrow stride-8 MobileNetV2 with trained-looking BatchNorm statistics; ``scale`` widens
    every BatchNorm's output (above 1, ReLU6 starts to clip)."""
    torch.manual_seed(seed)
    model = create_model("mobilenet_v2_cifar", 10, width=0.35).eval()
    for m in model.modules():
        if isinstance(m, nn.BatchNorm2d):
            m.running_var.uniform_(0.5, 2)
            m.weight.data.uniform_(0.2, 1).mul_(scale)
            m.bias.data.uniform_(-0.3, 0.3).mul_(scale)
    model.classifier[1].weight.data.normal_(0, 0.1)  # logits of the features' scale
    return model


def _relu6_clips(model: nn.Module, x: torch.Tensor) -> float:
    """Largest share of one ReLU6's inputs above 6 (read before the in-place clip)."""
    seen = []
    hooks = [
        m.register_forward_pre_hook(lambda _m, a: seen.append(float((a[0] > 6).float().mean())))
        for m in model.modules()
        if isinstance(m, nn.ReLU6)
    ]
    with torch.no_grad():
        model(x)
    for h in hooks:
        h.remove()
    return max(seen)


def test_depthwise_chains_are_equalized_and_the_function_kept():
    model, x = _mobilenet(), torch.randn(4, 3, 32, 32)
    assert _relu6_clips(model, x) == 0.0  # nothing above 6: replacing ReLU6 changes nothing here
    with torch.no_grad():
        before = model(x)
        done = equalize(model)
        after = model(x)
    # stem->dw, expand->dw and dw->project in every block, the residual streams, the head
    assert done == {"equalized_spaces": 41, "relu6_replaced": 35}
    torch.testing.assert_close(after, before, rtol=1e-4, atol=1e-5 * float(before.abs().max()))
    dw = [s for s in channel_spaces(model) if any(r.depthwise for r in s.readers)]
    assert len(dw) == 17  # every block's depthwise conv reads an equalized space
    for space in dw:
        assert torch.allclose(space.balance(), torch.ones(space.channels), atol=2e-3)


@pytest.mark.slow
def test_the_relu6_replacement_is_measured_not_assumed():
    # BatchNorm outputs 3x wider: ReLU6 clips, so ReLU in its place computes something else.
    model, x = _mobilenet(scale=3.0), torch.randn(4, 3, 32, 32)
    assert _relu6_clips(model, x) > 0.05
    feats = model
    with torch.no_grad():
        before = feats(x)
        kept = copy.deepcopy(model)
        assert equalize(kept, relu6="keep")["relu6_replaced"] == 0
        torch.testing.assert_close(
            kept(x), before, rtol=1e-3, atol=1e-3 * float(before.abs().max())
        )
        replaced = copy.deepcopy(model)
        equalize(replaced, iterations=0)  # the replacement alone, no rescaling
        moved = replaced(x)
        assert (moved - before).abs().max() > 0.1 * before.abs().max()  # above 6 now passes
        equalize(model)
        torch.testing.assert_close(feats(x), moved, rtol=1e-3, atol=1e-3 * float(moved.abs().max()))


def _per_tensor_error(model: nn.Module, x: torch.Tensor) -> float:
    """Output error of ``model`` with every layer's (BatchNorm-folded) weights rounded per tensor."""
    from edgeres.quantize.equalize import layer_writers

    q = copy.deepcopy(model)
    _, writers = layer_writers(q)
    with torch.no_grad():
        ref = model(x)
        for w in writers:
            gain = w.bn.gain() if w.bn is not None else torch.ones(w.layer.weight.shape[0])
            view = (-1,) + (1,) * (w.layer.weight.dim() - 1)
            folded = w.layer.weight * gain.view(view)
            w.layer.weight.copy_(rounded(folded, per_channel=False) / gain.view(view))
        return float((q(x) - ref).abs().mean() / ref.abs().mean())


@pytest.mark.slow
def test_equalization_repairs_planted_outliers_in_a_depthwise_layer():
    x = torch.randn(8, 3, 32, 32)
    clean = _mobilenet()
    equalize(clean)
    model = _mobilenet()
    equalize(model, iterations=0)  # ReLU6 -> ReLU, so a rescaling keeps the function
    with torch.no_grad():
        ref = model(x)
        for space in channel_spaces(model):
            if any(w.layer.depthwise for w in space.writers):
                s = torch.ones(space.channels)
                s[:2] = 1 / 1000  # two depthwise filters 1000x wider than the rest
                space.scale(s)
        torch.testing.assert_close(model(x), ref, rtol=1e-3, atol=1e-3 * float(ref.abs().max()))
    planted = _per_tensor_error(model, x)
    equalize(model)
    fixed = _per_tensor_error(model, x)
    assert fixed < 0.6 * planted, (planted, fixed)
    # what is left is the network's own rounding error: the outliers are gone entirely
    assert abs(fixed - _per_tensor_error(clean, x)) < 0.02 * fixed


class _Plain(nn.Module):
    """A depthwise-separable network edgeres has never seen, with functional calls."""

    def __init__(self) -> None:
        super().__init__()
        self.a = nn.Conv2d(3, 16, 3, padding=1)
        self.dw = nn.Conv2d(16, 16, 3, padding=1, groups=16)
        self.pw = nn.Conv2d(16, 8, 1)
        self.act = nn.ReLU6()
        self.fc = nn.Linear(8, 4)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.pw(self.act(self.dw(torch.relu(self.a(x)))))
        return self.fc(torch.flatten(nn.functional.adaptive_avg_pool2d(x, 1), 1))


def test_a_user_network_and_its_program_get_the_same_spaces(tmp_path):
    from edgeres.formats.program_load import ProgramModule, read_program

    torch.manual_seed(0)
    net = _Plain().eval()
    torch.export.save(torch.export.export(net, (torch.randn(1, 3, 16, 16),)), tmp_path / "p.pt2")
    program = ProgramModule(read_program(tmp_path / "p.pt2"), 1)
    assert network_graph(program).program
    # a -> dw and dw -> pw (the functional pooling ends pw's space in the module trace; the
    # program's ATen graph sees the pooling and the flatten for what they are)
    assert equalize(net) == {"equalized_spaces": 2, "relu6_replaced": 1}
    assert equalize(program) == {"equalized_spaces": 3, "relu6_replaced": 1}
    x = torch.rand(3, 3, 16, 16)
    with torch.no_grad():
        torch.testing.assert_close(program(x), net(x), rtol=1e-4, atol=1e-5)
        assert correct_biases(program, [x], per_channel=False) == 4
