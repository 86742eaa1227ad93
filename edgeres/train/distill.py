"""Knowledge distillation: the ``--teacher`` network read once, and the loss that pulls the
student's softened logits toward the teacher's (Hinton et al., 2015).

The loss is ``weight * T**2 * KL(softmax(teacher / T) || softmax(student / T))
+ (1 - weight) * cross_entropy(student, labels)``. ``T**2`` keeps the soft term's gradients at
the scale of the hard term's whatever the temperature, so ``weight`` means the same share at
every ``T``.
"""

from __future__ import annotations

from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from edgeres.errors import UsageError
from edgeres.spec import InputSpec
from edgeres.text import shown

# Defaults: T = 4 and weight 0.5 are the usual pairing for small image classifiers (Hinton's
# T in 2-5; CRD/KD baselines on CIFAR use T 4, weight 0.9 for long schedules). A short edge
# schedule gains from keeping half the hard-label signal.
DEFAULT_TEMPERATURE = 4.0
DEFAULT_WEIGHT = 0.5


def distillation_loss(
    student: torch.Tensor,
    teacher: torch.Tensor,
    labels: torch.Tensor,
    weight: float = DEFAULT_WEIGHT,
    temperature: float = DEFAULT_TEMPERATURE,
) -> torch.Tensor:
    """The soft (teacher) and hard (label) terms mixed by ``weight``; logits are N x classes."""
    t = temperature
    soft = F.kl_div(
        F.log_softmax(student.float() / t, dim=1),
        F.log_softmax(teacher.float() / t, dim=1),
        reduction="batchmean",
        log_target=True,
    )
    hard = F.cross_entropy(student.float(), labels)
    return weight * t * t * soft + (1.0 - weight) * hard


class Teacher(nn.Module):
    """A frozen network in eval mode that takes the student's input tensor.

    When the teacher was trained on another normalisation (mean, std, scale, channel order),
    the student's tensor is mapped back to pixels and normalised the teacher's way, so a
    teacher from elsewhere sees what it was trained on.
    """

    def __init__(self, net: nn.Module, student: InputSpec, teacher: InputSpec) -> None:
        super().__init__()
        self.net = net.eval()
        for p in self.net.parameters():
            p.requires_grad_(False)
        s_mean, s_std = torch.tensor(student.mean), torch.tensor(student.std)
        t_mean, t_std = torch.tensor(teacher.mean), torch.tensor(teacher.std)
        flip = student.channel_order != teacher.channel_order
        order = [2, 1, 0] if flip else [0, 1, 2]
        # pixel = (x * s_std + s_mean) / s_scale;  x_t = (pixel[order] * t_scale - t_mean) / t_std
        ratio = teacher.scale / student.scale
        gain = s_std[order] * ratio / t_std
        bias = (s_mean[order] * ratio - t_mean) / t_std
        self.order = order
        self.identity = (
            not flip
            and bool(torch.allclose(gain, torch.ones(3)))
            and bool(torch.allclose(bias, torch.zeros(3)))
        )
        self.register_buffer("gain", gain.view(1, 3, 1, 1), persistent=False)
        self.register_buffer("bias", bias.view(1, 3, 1, 1), persistent=False)

    @torch.no_grad()
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.identity:
            x = x[:, self.order] * self.gain + self.bias
        return self.net(x)

    def train(self, mode: bool = True) -> Teacher:
        return super().train(False)  # always eval: its BatchNorm statistics are the trained ones


def _unnamed(classes: tuple[str, ...]) -> bool:
    return tuple(classes) == tuple(str(i) for i in range(len(classes)))


def load_teacher(path: str | Path, classes: tuple[str, ...], spec: InputSpec) -> Teacher:
    """Read ``--teacher`` (an edgeres checkpoint, a ``.pt2``, any file edgeres reads into
    PyTorch) and check it can teach a student of these classes and input size.

    Raises:
        UsageError: Other classes (count, or names when the teacher names them) or another
            input size; a state dict (no architecture).
        ModelFileError: The file cannot be read.
    """
    from edgeres.formats.source_options import SourceOptions
    from edgeres.formats.torch_source import load_torch_source

    path = Path(path)
    try:
        ckpt = load_torch_source(path, SourceOptions())
    except UsageError as e:
        raise UsageError(f"--teacher: {e}") from None
    t_info, name = ckpt.info, shown(path)
    if t_info.num_classes != len(classes):
        raise UsageError(
            f"--teacher '{name}' has {t_info.num_classes} classes and the data {len(classes)}; "
            "a teacher must be trained on the same classes"
        )
    if not _unnamed(t_info.classes) and tuple(t_info.classes) != tuple(classes):
        raise UsageError(
            f"--teacher '{name}' has the classes {', '.join(map(shown, t_info.classes[:5]))}... "
            f"and the data {', '.join(map(shown, classes[:5]))}...: the same names in the same "
            "order are needed"
        )
    if t_info.spec.size != spec.size:
        th, tw = t_info.spec.size
        raise UsageError(
            f"--teacher '{name}' takes {th}x{tw} inputs and the student {spec.height}x"
            f"{spec.width}; pass --img-size {th} or a teacher of the student's size"
        )
    return Teacher(ckpt.model.float(), spec, t_info.spec)
