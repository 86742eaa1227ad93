"""Residual building blocks: plain Conv/BN/ReLU/Add, so every exporter handles them as they are."""

from __future__ import annotations

import torch
from torch import nn


def conv_bn(cin: int, cout: int, k: int = 3, stride: int = 1) -> nn.Sequential:
    """Conv (no bias, BN follows) + BatchNorm."""
    return nn.Sequential(
        nn.Conv2d(cin, cout, k, stride=stride, padding=k // 2, bias=False),
        nn.BatchNorm2d(cout),
    )


class BasicBlock(nn.Module):
    """Two 3x3 convolutions with an identity or 1x1 projection shortcut (He et al., 2016).

    Args:
        cin: Input channels.
        cout: Output channels.
        stride: Stride of the first convolution (2 halves the resolution).
        proj_bn: Whether the projection shortcut has a BatchNorm (MLPerf Tiny's ResNet-8 has none).
    """

    def __init__(self, cin: int, cout: int, stride: int = 1, proj_bn: bool = True) -> None:
        super().__init__()
        self.conv1 = conv_bn(cin, cout, 3, stride)
        self.act1 = nn.ReLU(inplace=True)
        self.conv2 = conv_bn(cout, cout, 3, 1)
        self.act2 = nn.ReLU(inplace=True)
        if stride != 1 or cin != cout:
            if proj_bn:
                self.shortcut: nn.Module = conv_bn(cin, cout, 1, stride)
            else:
                self.shortcut = nn.Conv2d(cin, cout, 1, stride=stride, bias=True)
        else:
            self.shortcut = nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.act1(self.conv1(x))
        out = self.conv2(out)
        return self.act2(out + self.shortcut(x))


def make_divisible(v: float, divisor: int = 8) -> int:
    """``v`` rounded to the nearest multiple of ``divisor`` (at least ``divisor``), never more than
    10% below ``v``: torchvision's and timm's rule, so their MobileNet shapes come out the same."""
    new = max(divisor, int(v + divisor / 2) // divisor * divisor)
    return new + divisor if new < 0.9 * v else new


class ConvBNAct(nn.Sequential):
    """Conv (no bias) + BatchNorm + an optional activation, as torchvision's
    ``Conv2dNormActivation``: its children are named ``0``, ``1``, ``2`` like torchvision's."""

    def __init__(
        self,
        cin: int,
        cout: int,
        k: int = 3,
        stride: int = 1,
        groups: int = 1,
        act: type[nn.Module] | None = nn.ReLU,
        eps: float = 1e-5,
        momentum: float = 0.1,
    ) -> None:
        layers: list[nn.Module] = [
            nn.Conv2d(cin, cout, k, stride, (k - 1) // 2, groups=groups, bias=False),
            nn.BatchNorm2d(cout, eps=eps, momentum=momentum),
        ]
        if act is not None:
            layers.append(act(inplace=True) if act in (nn.ReLU, nn.ReLU6, nn.Hardswish) else act())
        super().__init__(*layers)


class SqueezeExcitation(nn.Module):
    """Channel attention (Hu et al., 2018) with 1x1 convs named as torchvision's (``fc1``, ``fc2``);
    MobileNetV3 gates with a hard sigmoid, which INT8 kernels run as a clip."""

    def __init__(self, channels: int, squeeze: int) -> None:
        super().__init__()
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.fc1 = nn.Conv2d(channels, squeeze, 1)
        self.fc2 = nn.Conv2d(squeeze, channels, 1)
        self.activation = nn.ReLU(inplace=True)
        self.scale_activation = nn.Hardsigmoid()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        scale = self.fc2(self.activation(self.fc1(self.avgpool(x))))
        return self.scale_activation(scale) * x
