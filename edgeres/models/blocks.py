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
