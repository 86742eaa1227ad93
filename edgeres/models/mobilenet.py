"""MobileNetV2 and V3 (the inverted-residual family), with torchvision's module names.

The parameter names and shapes are exactly those of ``torchvision.models.mobilenet_v2`` /
``mobilenet_v3_small`` / ``mobilenet_v3_large`` (``features.N.conv...``, ``features.N.block...``,
``classifier.1``/``classifier.3``): torchvision's weight files load with strict key checking and
nothing renamed; timm's (``mobilenetv2_100``, ``mobilenetv3_*_100``) load through the key
translation in ``mobilenet_layout``. Neither library is imported. Channels are rounded to multiples
of 8 (``make_divisible``, torchvision's rule): INT8 kernels vectorise over channel groups of 8.

Global pooling is a module (torchvision's V2 calls the function; the state dict is the same), so
cross-layer equalization sees the classifier read the last layer's channels.
"""

from __future__ import annotations

import torch
from torch import nn

from edgeres.errors import UsageError
from edgeres.models.blocks import ConvBNAct, SqueezeExcitation, make_divisible
from edgeres.models.registry import ModelConfig, check_width, register_model

# (expansion t, channels c, blocks n, stride s) per stage (Sandler et al., 2018, table 2).
V2_STAGES = ((1, 16, 1, 1), (6, 24, 2, 2), (6, 32, 3, 2), (6, 64, 4, 2), (6, 96, 3, 1),
             (6, 160, 3, 2), (6, 320, 1, 1))  # fmt: skip
# (kernel, expanded, out, SE, hard-swish, stride) per block (Howard et al., 2019, tables 1-2).
V3_LARGE = ((3, 16, 16, False, False, 1), (3, 64, 24, False, False, 2),
            (3, 72, 24, False, False, 1), (5, 72, 40, True, False, 2),
            (5, 120, 40, True, False, 1), (5, 120, 40, True, False, 1),
            (3, 240, 80, False, True, 2), (3, 200, 80, False, True, 1),
            (3, 184, 80, False, True, 1), (3, 184, 80, False, True, 1),
            (3, 480, 112, True, True, 1), (3, 672, 112, True, True, 1),
            (5, 672, 160, True, True, 2), (5, 960, 160, True, True, 1),
            (5, 960, 160, True, True, 1))  # fmt: skip
V3_SMALL = ((3, 16, 16, True, False, 2), (3, 72, 24, False, False, 2),
            (3, 88, 24, False, False, 1), (5, 96, 40, True, True, 2),
            (5, 240, 40, True, True, 1), (5, 240, 40, True, True, 1),
            (5, 120, 48, True, True, 1), (5, 144, 48, True, True, 1),
            (5, 288, 96, True, True, 2), (5, 576, 96, True, True, 1),
            (5, 576, 96, True, True, 1))  # fmt: skip
# The narrowest layer of every variant has 16 channels: below this width it rounds to 0.
MIN_WIDTH = 0.25


def _check_width(width: float, name: str, narrowest: int = 16) -> None:
    check_width(width, "--width")
    if int(narrowest * width + 4) // 8 == 0:
        raise UsageError(
            f"--width {width} rounds {name}'s {narrowest}-channel layers to 0 channels "
            f"(channels are multiples of 8); the smallest width is {MIN_WIDTH}"
        )


class InvertedResidual(nn.Module):
    """MobileNetV2's block: 1x1 expand, 3x3 depthwise (ReLU6 after each), linear 1x1 project."""

    def __init__(self, cin: int, cout: int, stride: int, expand: int) -> None:
        super().__init__()
        hidden = int(round(cin * expand))
        self.use_res_connect = stride == 1 and cin == cout
        layers: list[nn.Module] = [ConvBNAct(cin, hidden, 1, act=nn.ReLU6)] if expand != 1 else []
        layers += [
            ConvBNAct(hidden, hidden, 3, stride, groups=hidden, act=nn.ReLU6),
            nn.Conv2d(hidden, cout, 1, bias=False),
            nn.BatchNorm2d(cout),
        ]
        self.conv = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.conv(x) if self.use_res_connect else self.conv(x)


class InvertedResidualV3(nn.Module):
    """MobileNetV3's block: V2's, with a k x k depthwise, optional SE and ReLU or hard-swish."""

    def __init__(self, cin: int, k: int, hidden: int, cout: int, se: bool, hs: bool, stride: int):
        super().__init__()
        self.use_res_connect = stride == 1 and cin == cout
        act = nn.Hardswish if hs else nn.ReLU
        bn = {"eps": 1e-3, "momentum": 0.01}
        layers: list[nn.Module] = (
            [ConvBNAct(cin, hidden, 1, act=act, **bn)] if hidden != cin else []
        )
        layers.append(ConvBNAct(hidden, hidden, k, stride, groups=hidden, act=act, **bn))
        if se:
            layers.append(SqueezeExcitation(hidden, make_divisible(hidden // 4)))
        layers.append(ConvBNAct(hidden, cout, 1, act=None, **bn))
        self.block = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.block(x)
        return out + x if self.use_res_connect else out


def _init(model: nn.Module) -> None:
    """torchvision's initialisation of both versions."""
    for m in model.modules():
        if isinstance(m, nn.Conv2d):
            nn.init.kaiming_normal_(m.weight, mode="fan_out")
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, nn.BatchNorm2d):
            nn.init.ones_(m.weight)
            nn.init.zeros_(m.bias)
        elif isinstance(m, nn.Linear):
            nn.init.normal_(m.weight, 0, 0.01)
            nn.init.zeros_(m.bias)


class MobileNet(nn.Module):
    """``features`` (stem, blocks, last 1x1 conv), global pooling and ``classifier``."""

    def __init__(self, features: list[nn.Module], classifier: list[nn.Module]) -> None:
        super().__init__()
        self.features = nn.Sequential(*features)
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.classifier = nn.Sequential(*classifier)
        self.num_features = next(m for m in self.classifier if isinstance(m, nn.Linear)).in_features
        _init(self)

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        return self.features(x)

    def forward_head(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(torch.flatten(self.avgpool(x), 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.forward_head(self.forward_features(x))


def build_v2(num_classes: int, width: float, small_input: bool, dropout: float) -> MobileNet:
    """MobileNetV2; ``small_input`` keeps the stem and the first stride-2 stage at stride 1
    (8x downsampling instead of 32x, for 32-64 px images) with the same weights' shapes."""
    _check_width(width, "mobilenet_v2_cifar" if small_input else "mobilenet_v2")
    cin = make_divisible(32 * width)
    last = make_divisible(1280 * max(1.0, width))
    features: list[nn.Module] = [ConvBNAct(3, cin, 3, 1 if small_input else 2, act=nn.ReLU6)]
    for i, (t, c, n, s) in enumerate(V2_STAGES):
        cout = make_divisible(c * width)
        for j in range(n):
            stride = 1 if j or (small_input and i == 1) else s
            features.append(InvertedResidual(cin, cout, stride, t))
            cin = cout
    features.append(ConvBNAct(cin, last, 1, act=nn.ReLU6))
    return MobileNet(features, [nn.Dropout(dropout), nn.Linear(last, num_classes)])


def build_v3(setting, last: int, num_classes: int, width: float, name: str) -> MobileNet:
    """MobileNetV3 (hard-swish, squeeze-and-excitation with a hard-sigmoid gate)."""
    _check_width(width, name)
    bn = {"eps": 1e-3, "momentum": 0.01}
    cin = make_divisible(16 * width)
    features: list[nn.Module] = [ConvBNAct(3, cin, 3, 2, act=nn.Hardswish, **bn)]
    for k, hidden, cout, se, hs, stride in setting:
        cout = make_divisible(cout * width)
        features.append(
            InvertedResidualV3(cin, k, make_divisible(hidden * width), cout, se, hs, stride)
        )
        cin = cout
    features.append(ConvBNAct(cin, 6 * cin, 1, act=nn.Hardswish, **bn))
    last = make_divisible(last * width)
    head = [nn.Linear(6 * cin, last), nn.Hardswish(inplace=True), nn.Dropout(0.2, inplace=True)]
    return MobileNet(features, [*head, nn.Linear(last, num_classes)])


def _cfg(size: int, family: str, depth: int, description: str, **kw) -> ModelConfig:
    stride = kw.pop("total_stride", 32)
    return ModelConfig(
        size, stride, description=description, family=family, depth=depth, width=True,
        min_width=MIN_WIDTH, total_stride=stride, **kw,
    )  # fmt: skip


@register_model(
    _cfg(224, "mobilenet_v2", 17, "MobileNetV2, torchvision/timm names", head="classifier.1")
)
def mobilenet_v2(num_classes: int = 1000, width: float = 1.0) -> MobileNet:
    """MobileNetV2 (3.5 M parameters, 0.30 GMACs at 224 px and width 1.0)."""
    return build_v2(num_classes, width, small_input=False, dropout=0.2)


@register_model(
    _cfg(32, "mobilenet_v2", 17, "MobileNetV2 at stride 8 for 32-64 px images",
         head="classifier.1", total_stride=8)
)  # fmt: skip
def mobilenet_v2_cifar(num_classes: int = 10, width: float = 1.0) -> MobileNet:
    """MobileNetV2 for 32-64 px data: stem and first stride-2 stage at stride 1 (as ``resnet8`` is
    for 32 px); the shapes are ``mobilenet_v2``'s, so torchvision's weights load into it."""
    return build_v2(num_classes, width, small_input=True, dropout=0.2)


@register_model(
    _cfg(224, "mobilenet_v3", 11, "MobileNetV3-Small, torchvision/timm names", head="classifier.3")
)
def mobilenet_v3_small(num_classes: int = 1000, width: float = 1.0) -> MobileNet:
    """MobileNetV3-Small (2.5 M parameters, 0.06 GMACs at 224 px)."""
    return build_v3(V3_SMALL, 1024, num_classes, width, "mobilenet_v3_small")


@register_model(
    _cfg(224, "mobilenet_v3", 15, "MobileNetV3-Large, torchvision/timm names", head="classifier.3")
)
def mobilenet_v3_large(num_classes: int = 1000, width: float = 1.0) -> MobileNet:
    """MobileNetV3-Large (5.5 M parameters, 0.22 GMACs at 224 px)."""
    return build_v3(V3_LARGE, 1280, num_classes, width, "mobilenet_v3_large")
