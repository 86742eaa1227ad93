"""The residual networks edgeres exists for, each variant a few lines on one ``ResNet`` class."""

from __future__ import annotations

import torch
from torch import nn

from edgeres.models.blocks import BasicBlock, conv_bn
from edgeres.models.registry import ModelConfig, check_width, register_model


class ResNet(nn.Module):
    """A stem, stages of ``BasicBlock``s, global average pooling and a linear classifier.

    Args:
        stage_widths: Output channels of each stage.
        blocks_per_stage: Number of blocks in each stage.
        num_classes: Classifier outputs.
        stem_width: Channels after the stem.
        imagenet_stem: A 7x7/2 conv + 3x3/2 max-pool stem (for 96-224 px) instead of one 3x3 conv.
        proj_bn: Whether projection shortcuts carry a BatchNorm.
        stem_stride: Stride of the 3x3 stem (ignored with ``imagenet_stem``).
    """

    def __init__(
        self,
        stage_widths: tuple[int, ...],
        blocks_per_stage: tuple[int, ...],
        num_classes: int = 10,
        stem_width: int = 16,
        imagenet_stem: bool = False,
        proj_bn: bool = True,
        stem_stride: int = 1,
    ) -> None:
        super().__init__()
        if imagenet_stem:
            self.stem = nn.Sequential(
                conv_bn(3, stem_width, 7, 2), nn.ReLU(inplace=True), nn.MaxPool2d(3, 2, 1)
            )
        else:
            self.stem = nn.Sequential(conv_bn(3, stem_width, 3, stem_stride), nn.ReLU(inplace=True))
        stages, cin = [], stem_width
        for i, (width, n) in enumerate(zip(stage_widths, blocks_per_stage, strict=True)):
            blocks = []
            for j in range(n):
                stride = 2 if (i > 0 and j == 0) else 1
                blocks.append(BasicBlock(cin, width, stride, proj_bn=proj_bn))
                cin = width
            stages.append(nn.Sequential(*blocks))
        self.stages = nn.Sequential(*stages)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(cin, num_classes)
        self.num_features = cin
        self._init_weights()

    def _init_weights(self) -> None:
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
            elif isinstance(m, nn.BatchNorm2d):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)
        # No zero-init of the last BN per block (Goyal et al.): measured on shapes, it stalls these
        # shallow networks for several epochs (resnet8, 2000 images: 18% vs 30% after 5 epochs).

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        return self.stages(self.stem(x))

    def forward_head(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(torch.flatten(self.pool(x), 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.forward_head(self.forward_features(x))


def _scaled(widths: tuple[int, ...], width: float) -> tuple[int, ...]:
    # Round to a multiple of 8: int8 kernels (XNNPACK, VNNI) vectorise over channel groups of 8.
    return tuple(max(8, int(round(w * width / 8)) * 8) for w in widths)


@register_model(
    ModelConfig(32, 16, description="MLPerf Tiny ResNet-8: 3 stacks x 1 block, 16/32/64", depth=8)
)
def resnet8(num_classes: int = 10) -> ResNet:
    """MLPerf Tiny image classification ResNet-8 (~78k parameters, ~12.5M MACs at 32x32)."""
    return ResNet((16, 32, 64), (1, 1, 1), num_classes, stem_width=16, proj_bn=False)


@register_model(
    ModelConfig(32, 16, description="He et al. CIFAR ResNet-20: 3 stages x 3 blocks", depth=20)
)
def resnet20(num_classes: int = 10) -> ResNet:
    """CIFAR ResNet-20 (He et al., 2016) with 1x1 projection shortcuts (~0.27M parameters)."""
    return ResNet((16, 32, 64), (3, 3, 3), num_classes, stem_width=16)


@register_model(
    ModelConfig(
        96, 64, description="ImageNet-style ResNet-18 with a width multiplier", depth=18, width=True
    )
)
def resnet18s(num_classes: int = 10, width: float = 1.0) -> ResNet:
    """ResNet-18 for 96-224 px inputs; ``width`` scales every stage (0.25-1.0 on small devices)."""
    check_width(width)
    widths = _scaled((64, 128, 256, 512), width)
    return ResNet(widths, (2, 2, 2, 2), num_classes, stem_width=widths[0], imagenet_stem=True)


@register_model(
    ModelConfig(
        32, 16, description="tiny test network (two blocks), for fast tests", depth=6, search=()
    )
)
def test_resnet(num_classes: int = 10) -> ResNet:
    """A tiny registered network for fast tests (~19k parameters, ~2M MACs at 32x32)."""
    return ResNet((16, 32), (1, 1), num_classes, stem_width=8, stem_stride=2)
