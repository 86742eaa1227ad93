"""Cross-layer equalization and bias correction on the PyTorch network, before rounding."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from edgeres.models import create_model
from edgeres.quantize.bias import correct_biases, rounded
from edgeres.quantize.equalize import channel_spaces, equalize
from edgeres.train.checkpoint import save_checkpoint


def _with_stats(model: nn.Module) -> nn.Module:
    torch.manual_seed(0)
    for m in model.modules():
        if isinstance(m, nn.BatchNorm2d):
            m.running_mean.uniform_(-1, 1)
            m.running_var.uniform_(0.5, 2)
            m.weight.data.uniform_(0.2, 2)
            m.bias.data.uniform_(-0.5, 0.5)
    return model.eval()


def _outliers(model: nn.Module, factor: float) -> None:
    for space in channel_spaces(model):
        s = torch.ones(space.channels)
        s[0] = 1 / factor
        space.scale(s)


@pytest.mark.parametrize(("name", "spaces"), [("resnet8", 6), ("resnet20", 12), ("test_resnet", 5)])
def test_equalize_keeps_the_function_and_undoes_rescaled_channels(name, spaces):
    model = _with_stats(create_model(name))
    x = torch.randn(4, 3, 32, 32)
    with torch.no_grad():
        before = model(x)
        _outliers(model, 64.0)
        assert torch.allclose(model(x), before, rtol=1e-3, atol=1e-3 * before.abs().max())
        # every block's conv1 -> conv2 and every residual stream (stem, conv2s, shortcuts, fc)
        assert equalize(model)["equalized_spaces"] == spaces
        assert torch.allclose(model(x), before, rtol=1e-3, atol=1e-3 * before.abs().max())
    for space in channel_spaces(model):
        assert torch.allclose(space.balance(), torch.ones(space.channels), atol=2e-3)
        ranges = torch.stack([w.ranges() for w in space.writers]).amax(0)
        assert ranges[0] < 8 * ranges[1:].median()  # the x64 channel is back among the others


def test_equalize_leaves_what_it_cannot_rescale():
    # A grouped (not depthwise) conv and a network output are not rescalable: no space touches them.
    model = nn.Sequential(nn.Conv2d(3, 8, 3), nn.ReLU(), nn.Conv2d(8, 8, 3, groups=2))
    assert channel_spaces(model) == []
    assert equalize(nn.Sequential(nn.Linear(4, 4)))["equalized_spaces"] == 0


def test_bias_correction_cancels_the_mean_shift_of_rounded_weights():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(3, 16, 3, padding=1), nn.ReLU(), nn.Conv2d(16, 8, 3)).eval()
    with torch.no_grad():
        model[2].weight[:, :, 0, 0] *= 30  # per-tensor rounding now wipes the small weights
    batches = [torch.rand(16, 3, 12, 12) + 0.5 for _ in range(2)]
    with torch.no_grad():
        x = model[1](model[0](batches[0]))  # the FP32 input of the last layer
        ref = model(batches[0])

    def shift() -> torch.Tensor:
        layer = model[2]
        got = nn.functional.conv2d(x, rounded(layer.weight, per_channel=False), layer.bias)
        return (got - ref).mean((0, 2, 3)).abs()

    with torch.no_grad():
        before = shift()
        assert correct_biases(model, batches, per_channel=False) == 2
        assert float(shift().max()) < 0.2 * float(before.max()), (before, shift())


def test_quantize_equalizes_by_default(tiny_ckpt, tmp_path):
    from edgeres.formats.checkpoint import load_checkpoint
    from edgeres.quantize import quantize

    ckpt = load_checkpoint(tiny_ckpt)
    _outliers(ckpt.model, 16.0)
    path = save_checkpoint(tmp_path / "o.pt", ckpt.model, ckpt.info, ckpt.model_args)
    small = dict(calib="shapes", samples=32, eval_data="shapes", eval_limit=64, quiet=True)
    # 8-bit weights: what equalization alone buys (7-bit weights, the uint8 default, also soften
    # the outliers' saturation on non-VNNI CPUs and narrow the gap on this CPU)
    small.update(to=("onnx",), no_fallback=True, weight_bits=8)
    plain = quantize(path, no_equalize=True, out_dir=tmp_path / "a", **small).report
    eq = quantize(path, out_dir=tmp_path / "b", **small).report
    assert eq.options["equalized_spaces"] == 5 and eq.options["bias_corrected_layers"] == 8
    assert "equalized_spaces" not in plain.options
    assert "5 channel spaces equalized, 8 layer biases corrected" in "\n".join(eq.lines())
    assert eq.fp32_accuracy == plain.fp32_accuracy  # the FP32 reference is the network as given
    assert eq.formats["onnx"].agreement > plain.formats["onnx"].agreement + 0.05
