"""``--init``: start training from an earlier checkpoint's weights (fine-tuning).

``--init`` takes an edgeres checkpoint, or a plain state dict (``.pth``/``.pt`` from
``torch.save(model.state_dict())``, timm's ``.safetensors``) with ``--model`` naming a zoo
architecture whose names match it (``resnet18/34/50`` for torchvision's and timm's ImageNet
files); its keys and shapes are checked strictly. ``--freeze-backbone`` trains the head only.
An edgeres checkpoint decides the architecture and the input size. A data set with the checkpoint's
classes (same names, same order) keeps every weight; one with other classes gets a fresh
classifier head (the last ``nn.Linear``) and the plan says so: this is the usual fine-tuning case
and needs no flag. ``--qat`` refuses other classes: it adapts a trained network to INT8, it does
not teach it new classes (fine-tune first, then run ``--qat`` on the result).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from torch import nn

from edgeres.errors import UsageError
from edgeres.formats import format_for_path
from edgeres.formats.checkpoint import (
    Checkpoint,
    check_finite_weights,
    is_checkpoint,
    load_checkpoint,
    read_pickle,
)
from edgeres.formats.source_options import SourceOptions
from edgeres.formats.torch_source import load_torch_source
from edgeres.models import create_model
from edgeres.models.user import is_user_ref


@dataclass(frozen=True)
class InitFacts:
    """What ``--init`` started from, for the plan and metrics.json.

    Attributes:
        path: The checkpoint.
        model: Its architecture.
        new_head: Whether the classifier head was replaced (the classes differ).
        old_classes: The checkpoint's classes.
    """

    path: str
    model: str
    new_head: bool
    old_classes: tuple[str, ...]
    frozen: bool = False

    def describe(self) -> str:
        head = (
            f"new {self.model} classifier head (the checkpoint has {len(self.old_classes)} other classes)"
            if self.new_head
            else "all weights kept"
        )
        frozen = "; backbone frozen, training the head only" if self.frozen else ""
        return f"starting from {self.path}: {head}{frozen}"

    def to_dict(self) -> dict[str, Any]:
        frozen = {"freeze_backbone": True} if self.frozen else {}
        return {"path": self.path, "model": self.model, "new_head": self.new_head, **frozen}


def read_init(path: Path, model: str | None, img_size: int | None) -> Checkpoint:
    """Load the ``--init`` weights and check them against ``--model`` and ``--img-size``.

    Raises:
        ModelFileError: Unreadable, unsafe, a state dict that does not fit ``--model``, or
            NaN/inf weights (training from it would diverge at once, and "lower --lr" would be
            the wrong advice).
        UsageError: Another architecture or input size than asked for; a state dict without
            ``--model``; a ``.pt2`` program (a graph, not trainable weights).
    """
    fmt = format_for_path(path)
    if fmt.name == "pt2":
        raise UsageError(
            f"--init '{path}' is a torch.export program, which cannot be trained; pass its "
            "state dict (torch.save(model.state_dict(), 'w.pth')) with --model"
        )
    if fmt.name != "pytorch" or not is_checkpoint(read_pickle(path)):
        if model is None or is_user_ref(model):
            raise UsageError(
                f"--init '{path}' is a state dict (weights only); name its zoo architecture "
                "with --model (resnet18/34/50, mobilenet_v2, mobilenet_v3_small/large for "
                "torchvision/timm files)"
            )
        ckpt = load_torch_source(path, SourceOptions(model=model, img_size=img_size))
        check_finite_weights(ckpt.model, path, "--init ")
        return ckpt
    ckpt = load_checkpoint(path)
    check_finite_weights(ckpt.model, path, "--init ")
    if model is not None and model != ckpt.model_name:
        raise UsageError(
            f"--init '{path}' is a {ckpt.model_name}, not --model {model}; "
            f"leave --model out (the checkpoint decides) or pass --model {ckpt.model_name}"
        )
    size = ckpt.info.spec.height
    if img_size is not None and img_size != size:
        raise UsageError(
            f"--init '{path}' was trained at {size} px, not --img-size {img_size}; "
            f"leave --img-size out or pass --img-size {size}"
        )
    return ckpt


def init_model(
    ckpt: Checkpoint,
    path: Path,
    classes: tuple[str, ...],
    model_args: dict[str, Any],
    qat: bool,
    freeze: bool = False,
) -> tuple[nn.Module, dict[str, Any], InitFacts]:
    """A network for ``classes`` holding the checkpoint's weights; a new head if classes differ.

    Raises:
        UsageError: ``--qat`` with other classes than the checkpoint's.
    """
    old = tuple(ckpt.info.classes)
    new_head = old != tuple(classes)
    if new_head and qat:
        raise UsageError(
            f"--qat keeps the checkpoint's {len(old)} classes ({_names(old)}), and the data has "
            f"{len(classes)} ({_names(classes)}); fine-tune with --init first (no --qat), "
            "then run --qat on that checkpoint"
        )
    args = {**ckpt.model_args, **model_args, "num_classes": len(classes)}
    model = create_model(ckpt.model_name, **args)
    state = ckpt.model.state_dict()
    if ckpt.layer_widths:  # a pruned network: its own widths, the head's outputs the data's
        _narrow_pruned(model, ckpt.layer_widths, len(classes))
    if new_head:
        head = _head_name(model)
        state = {k: v for k, v in state.items() if not k.startswith(head + ".")}
    try:
        missing, unexpected = model.load_state_dict(state, strict=False)
    except RuntimeError:  # a shape mismatch, e.g. another --width
        missing, unexpected = [], ["(shapes differ)"]
    if unexpected or (missing and not new_head):
        raise UsageError(f"--init '{path}': its weights do not fit {ckpt.model_name} {args}")
    if freeze:
        freeze_backbone(model)
    facts = InitFacts(str(path), ckpt.model_name, new_head, old, freeze)
    return model, args, facts


def _narrow_pruned(model: nn.Module, widths: dict[str, Any], classes: int) -> None:
    from edgeres.models.pruned import narrow

    head = _head_name(model)
    widths = dict(widths)
    if head in widths:
        widths[head] = [classes, widths[head][1]]
    narrow(model, widths)


def freeze_backbone(model: nn.Module) -> int:
    """Train the classifier head only: every other parameter frozen; returns the trainable count.

    The backbone's BatchNorm layers are kept in eval mode while training (``frozen_bn_eval``),
    so their running statistics stay the pretrained ones.
    """
    head = _head_name(model) + "."
    trainable = 0
    for name, p in model.named_parameters():
        p.requires_grad_(name.startswith(head))
        trainable += p.numel() if p.requires_grad else 0
    return trainable


def frozen_bn_eval(model: nn.Module) -> None:
    """Put BatchNorm layers whose weights are frozen back in eval mode (after ``model.train()``)."""
    for m in model.modules():
        if isinstance(m, nn.BatchNorm2d) and m.weight is not None and not m.weight.requires_grad:
            m.eval()


def _head_name(model: nn.Module) -> str:
    linears = [name for name, m in model.named_modules() if isinstance(m, nn.Linear)]
    if not linears:
        raise UsageError(f"{type(model).__name__} has no linear classifier head to replace")
    return linears[-1]


def _names(classes: tuple[str, ...]) -> str:
    shown = ", ".join(classes[:4])
    return shown + (", ..." if len(classes) > 4 else "")
