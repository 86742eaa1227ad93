"""Reading MobileNet weight files made elsewhere: timm's names translated, the width and the
architecture read off the tensors, without importing torchvision or timm.

torchvision's files load as they are (``mobilenet``'s names are torchvision's). timm's
(``mobilenetv2_100``, ``mobilenetv3_small_100``, ``mobilenetv3_large_100`` and their widths) name
the same tensors ``conv_stem``/``bn1``/``blocks.S.J.conv_pw|conv_dw|conv_pwl|se.*``/``conv_head``/
``classifier``, grouped by stage; ``translate`` renames them module by module, in the block's own
order, and reshapes MobileNetV3's ``conv_head`` (a 1x1 conv in timm, torchvision's first
classifier ``Linear``). Anything left over keeps its timm name, so the strict check lists it.
"""

from __future__ import annotations

import torch
from torch import nn

from edgeres.models import create_model, model_config
from edgeres.models.blocks import SqueezeExcitation, make_divisible

# Blocks per stage in timm's layout (its ``blocks.S.J``); MobileNetV3's last 1x1 conv is one
# more stage of one block there.
TIMM_STAGES = {
    "mobilenet_v2": (1, 2, 3, 4, 3, 3, 1),
    "mobilenet_v2_cifar": (1, 2, 3, 4, 3, 3, 1),
    "mobilenet_v3_small": (1, 2, 3, 2, 3),
    "mobilenet_v3_large": (1, 2, 3, 4, 2, 3),
}
# Candidate widths tried when reading a file's width off its tensors (timm publishes 0.35-1.4).
WIDTHS = tuple(round(0.25 + 0.05 * i, 2) for i in range(36))
_SE = ("se.conv_reduce", "se.conv_expand")


def is_timm(state: dict[str, torch.Tensor]) -> bool:
    """Whether ``state`` is in timm's EfficientNet/MobileNet layout."""
    return "conv_stem.weight" in state and any(k.startswith("blocks.") for k in state)


def _block_parts(block: nn.Module) -> list[str]:
    """timm's names of a block's convs and BatchNorms, in the order the block holds them."""
    convs = [m for m in block.modules() if isinstance(m, nn.Conv2d)]
    se = list(_SE) if any(isinstance(m, SqueezeExcitation) for m in block.modules()) else []
    if convs[0].groups > 1:  # no expansion: timm's DepthwiseSeparableConv
        return ["conv_dw", "bn1", *se, "conv_pw", "bn2"]
    return ["conv_pw", "bn1", "conv_dw", "bn2", *se, "conv_pwl", "bn3"]


def timm_names(model: nn.Module, name: str) -> dict[str, str]:
    """Our module name -> timm's, for every conv, BatchNorm and linear layer of ``model``."""
    stages = TIMM_STAGES[name]
    feats = list(model.features)
    out = {"features.0.0": "conv_stem", "features.0.1": "bn1"}
    where = [(s, j) for s, n in enumerate(stages) for j in range(n)]
    for i, (block, (s, j)) in enumerate(zip(feats[1:-1], where, strict=True), start=1):
        layers = [n for n, m in block.named_modules() if isinstance(m, (nn.Conv2d, nn.BatchNorm2d))]
        for ours, theirs in zip(layers, _block_parts(block), strict=True):
            out[f"features.{i}.{ours}"] = f"blocks.{s}.{j}.{theirs}"
    last = len(feats) - 1
    if name.startswith("mobilenet_v2"):
        out.update({f"features.{last}.0": "conv_head", f"features.{last}.1": "bn2"})
        out["classifier.1"] = "classifier"
    else:
        tail = f"blocks.{len(stages)}.0"
        out.update({f"features.{last}.0": f"{tail}.conv", f"features.{last}.1": f"{tail}.bn1"})
        out.update({"classifier.0": "conv_head", "classifier.3": "classifier"})
    return out


def translate(model: nn.Module, name: str, state: dict[str, torch.Tensor]):
    """``state`` (timm's names) under ``model``'s names; unknown keys keep theirs."""
    names = timm_names(model, name)
    left = dict(state)
    out: dict[str, torch.Tensor] = {}
    for key, want in model.state_dict().items():
        module, leaf = key.rsplit(".", 1)
        theirs = f"{names.get(module, module)}.{leaf}"
        if theirs in left:
            t = left.pop(theirs)
            reshape = t.shape != want.shape and t.numel() == want.numel()
            out[key] = t.reshape(want.shape) if reshape else t
    return {**out, **left}


def with_bn_counters(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Fill in BatchNorm's ``num_batches_tracked``, absent from files saved before PyTorch 0.4.1
    (torchvision's ``mobilenet_v2-b0353104.pth`` among them); only training reads it."""
    extra = {
        k.removesuffix("running_mean") + "num_batches_tracked": torch.tensor(0)
        for k in state
        if k.endswith(".running_mean")
    }
    return {**state, **{k: v for k, v in extra.items() if k not in state}}


def guess_mobilenet(state: dict[str, torch.Tensor]) -> str | None:
    """The zoo MobileNet whose layout (torchvision's or timm's) ``state`` has, or None."""
    if is_timm(state):
        per_stage: dict[int, set[str]] = {}
        for k in state:
            if k.startswith("blocks."):
                s, j = k.split(".")[1:3]
                per_stage.setdefault(int(s), set()).add(j)
        stages = tuple(len(per_stage[s]) for s in sorted(per_stage))
        v3 = stages[-1:] == (1,) and "bn2.weight" not in state
        for name, want in TIMM_STAGES.items():
            if (want + (1,) if v3 else want) == stages and name != "mobilenet_v2_cifar":
                return name
        return None
    blocks = {k.split(".")[1] for k in state if k.startswith("features.")}
    if "classifier.1.weight" in state and len(blocks) == 19:
        return "mobilenet_v2"
    if "classifier.3.weight" in state:
        return {13: "mobilenet_v3_small", 17: "mobilenet_v3_large"}.get(len(blocks))
    return None


def _stem_base(name: str) -> int:
    return 32 if name.startswith("mobilenet_v2") else 16


def adapt_state(name: str, state: dict[str, torch.Tensor]):
    """A MobileNet file's tensors under ``name``'s names and the constructor arguments that fit
    them (``num_classes``, ``width``); other models' files come back as they are, with ``{}``."""
    if name not in TIMM_STAGES:
        return state, {}
    state = with_bn_counters(state)
    timm = is_timm(state)
    head = state.get("classifier.weight" if timm else f"{model_config(name).head}.weight")
    classes = int(head.shape[0]) if head is not None and head.ndim == 2 else 1000
    stem = state.get("conv_stem.weight" if timm else "features.0.0.weight")
    fits = [
        w
        for w in WIDTHS
        if stem is not None and make_divisible(_stem_base(name) * w) == stem.shape[0]
    ]
    # Several widths can give the same shapes: the published ones (multiples of 0.25) first.
    fits.sort(key=lambda w: (round(w * 100) % 25 != 0, abs(w - 1.0)))
    for width in fits:
        model = create_model(name, num_classes=classes, width=width)
        moved = translate(model, name, state) if timm else state
        if _fits(model, moved):
            return moved, _args(classes, width)
    width = fits[0] if fits else 1.0
    model = create_model(name, num_classes=classes, width=width)
    return (translate(model, name, state) if timm else state), _args(classes, width)


def _fits(model: nn.Module, state: dict[str, torch.Tensor]) -> bool:
    want = model.state_dict()
    return set(want) == set(state) and all(want[k].shape == state[k].shape for k in want)


def _args(classes: int, width: float) -> dict:
    return {"num_classes": classes, **({"width": width} if width != 1.0 else {})}
