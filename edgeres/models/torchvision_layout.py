"""ResNet-18/34/50 with torchvision's (and timm's) module names, so their weight files load as-is.

The parameter names and shapes are exactly those of ``torchvision.models.resnet18`` and timm's
``resnet18.a1_in1k`` (``conv1``, ``bn1``, ``layer1..4`` of ``BasicBlock``/``Bottleneck`` with
``conv1/bn1/conv2/bn2(/conv3/bn3)/downsample.0/.1``, ``fc``): a state dict saved from either loads
with strict key checking and nothing renamed. Neither library is imported (torchvision 0.28 does
not load with the local torch build; timm imports torchvision). ``width`` scales every stage for
small devices and tests; at 1.0 (the default) the shapes are torchvision's.

``resnet18s`` stays beside ``resnet18``: at ``--width 1`` it computes the same network, but its
checkpoints name their weights ``stem``/``stages`` and its widths round to multiples of 8, so
aliasing it would break the checkpoints already trained with it.
"""

from __future__ import annotations

import torch
from torch import nn

from edgeres.errors import check_number
from edgeres.models.registry import ModelConfig, register_model


def _conv3x3(cin: int, cout: int, stride: int = 1) -> nn.Conv2d:
    return nn.Conv2d(cin, cout, 3, stride=stride, padding=1, bias=False)


def _downsample(cin: int, cout: int, stride: int) -> nn.Sequential | None:
    if stride == 1 and cin == cout:
        return None
    return nn.Sequential(nn.Conv2d(cin, cout, 1, stride=stride, bias=False), nn.BatchNorm2d(cout))


class BasicBlock(nn.Module):
    """torchvision's ResNet-18/34 block: two 3x3 convs and a shortcut (``downsample``)."""

    expansion = 1

    def __init__(self, cin: int, width: int, stride: int = 1) -> None:
        super().__init__()
        self.conv1 = _conv3x3(cin, width, stride)
        self.bn1 = nn.BatchNorm2d(width)
        self.relu = nn.ReLU(inplace=True)
        self.conv2 = _conv3x3(width, width)
        self.bn2 = nn.BatchNorm2d(width)
        self.downsample = _downsample(cin, width, stride)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        identity = x if self.downsample is None else self.downsample(x)
        return self.relu(out + identity)


class Bottleneck(nn.Module):
    """torchvision's ResNet-50 block (stride on the 3x3 conv, "ResNet v1.5")."""

    expansion = 4

    def __init__(self, cin: int, width: int, stride: int = 1) -> None:
        super().__init__()
        cout = width * self.expansion
        self.conv1 = nn.Conv2d(cin, width, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(width)
        self.conv2 = _conv3x3(width, width, stride)
        self.bn2 = nn.BatchNorm2d(width)
        self.conv3 = nn.Conv2d(width, cout, 1, bias=False)
        self.bn3 = nn.BatchNorm2d(cout)
        self.relu = nn.ReLU(inplace=True)
        self.downsample = _downsample(cin, cout, stride)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.relu(self.bn2(self.conv2(out)))
        out = self.bn3(self.conv3(out))
        identity = x if self.downsample is None else self.downsample(x)
        return self.relu(out + identity)


class TorchvisionResNet(nn.Module):
    """The ImageNet ResNet with torchvision's attribute names.

    Args:
        block: ``BasicBlock`` or ``Bottleneck``.
        layers: Blocks per stage.
        num_classes: Classifier outputs.
        width: Multiplier of every stage's channels (1.0: torchvision's shapes).
    """

    def __init__(self, block: type, layers: tuple[int, ...], num_classes: int, width: float):
        super().__init__()
        check_number(width, "--width", 0.0, above=True, maximum=4.0)
        widths = [max(1, int(round(w * width))) for w in (64, 128, 256, 512)]
        self.conv1 = nn.Conv2d(3, widths[0], 7, stride=2, padding=3, bias=False)
        self.bn1 = nn.BatchNorm2d(widths[0])
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(3, 2, 1)
        cin = widths[0]
        for i, (w, n) in enumerate(zip(widths, layers, strict=True)):
            blocks = []
            for j in range(n):
                blocks.append(block(cin, w, 2 if (i > 0 and j == 0) else 1))
                cin = w * block.expansion
            setattr(self, f"layer{i + 1}", nn.Sequential(*blocks))
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(cin, num_classes)
        self.num_features = cin
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        return self.layer4(self.layer3(self.layer2(self.layer1(x))))

    def forward_head(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(torch.flatten(self.avgpool(x), 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.forward_head(self.forward_features(x))


@register_model(
    ModelConfig(
        224, 32, description="ResNet-18, torchvision/timm layout and names", depth=18, width=True
    )
)
def resnet18(num_classes: int = 1000, width: float = 1.0) -> TorchvisionResNet:
    """ResNet-18 whose state dict is torchvision's/timm's (11.7 M parameters at 1000 classes)."""
    return TorchvisionResNet(BasicBlock, (2, 2, 2, 2), num_classes, width)


@register_model(
    ModelConfig(
        224, 32, description="ResNet-34, torchvision/timm layout and names", depth=34, width=True
    )
)
def resnet34(num_classes: int = 1000, width: float = 1.0) -> TorchvisionResNet:
    """ResNet-34 whose state dict is torchvision's/timm's (21.8 M parameters at 1000 classes)."""
    return TorchvisionResNet(BasicBlock, (3, 4, 6, 3), num_classes, width)


@register_model(
    ModelConfig(
        224, 32, description="ResNet-50, torchvision/timm layout and names", depth=50, width=True
    )
)
def resnet50(num_classes: int = 1000, width: float = 1.0) -> TorchvisionResNet:
    """ResNet-50 (v1.5) whose state dict is torchvision's/timm's (25.6 M parameters)."""
    return TorchvisionResNet(Bottleneck, (3, 4, 6, 3), num_classes, width)
