"""How long to train: epochs chosen from the data set's size (``--epochs auto``), as a pure function.

A fixed epoch count under-trains small folders: 1,400 images at batch 128 are 11 optimizer steps
an epoch, so 15 epochs are 165 steps and the network stops still learning. ``auto`` asks for at
least ``MIN_STEPS`` optimizer steps and at least ``MIN_EPOCHS`` epochs (what a large set gets, as
before), with at most ``MAX_EPOCHS`` so a folder of a few hundred images does not loop for ever.
The best epoch on the held-out split is kept either way, so a longer schedule cannot end worse
than its best epoch. Torch-free: the CLI and the tests import it without training anything.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

AUTO = "auto"
MIN_STEPS = 1500
MIN_EPOCHS = 15
MAX_EPOCHS = 300
# Quantization-aware fine-tuning adapts a trained network: a short schedule is enough.
QAT_STEPS = 300
QAT_MIN_EPOCHS = 2
QAT_MAX_EPOCHS = 30
# Fine-tuning a pretrained network (--init): a third of the steps of training from scratch.
# Measured on a quarter of digits from a shapes-pretrained resnet18 (tools/finetune_check.py).
FINETUNE_STEPS = 500
FINETUNE_MIN_EPOCHS = 5
FINETUNE_MAX_EPOCHS = 100


@dataclass(frozen=True)
class Schedule:
    """A training plan.

    Attributes:
        images: Training images (after the held-out share).
        classes: Number of classes.
        batch_size: Images per optimizer step.
        steps_per_epoch: Optimizer steps per epoch (the last partial batch is dropped).
        epochs: Passes over the training images.
        auto: Whether the epochs were chosen from the size (``--epochs auto``).
        qat: Whether this is quantization-aware fine-tuning.
        finetune: Whether this fine-tunes ``--init`` weights (the shorter auto schedule).
    """

    images: int
    classes: int
    batch_size: int
    steps_per_epoch: int
    epochs: int
    auto: bool
    qat: bool = False
    finetune: bool = False

    @property
    def total_steps(self) -> int:
        return self.steps_per_epoch * self.epochs

    def describe(self, seconds_per_step: float | None = None) -> str:
        """``1,366 images, 10 classes: 150 epochs x 10 steps = 1,500 steps of 128, about 2 min``."""
        how = "chosen from the size" if self.auto else "as asked"
        kind = "QAT fine-tuning, " if self.qat else "fine-tuning, " if self.finetune else ""
        text = (
            f"{self.images:,} images, {self.classes} classes: {kind}{self.epochs} "
            f"epoch{'s' if self.epochs != 1 else ''} ({how}) "
            f"x {self.steps_per_epoch:,} steps = {self.total_steps:,} steps of {self.batch_size}"
        )
        if seconds_per_step is not None:
            text += f", about {_duration(seconds_per_step * self.total_steps)} here (estimated from one timed step)"
        return text

    def to_dict(self) -> dict[str, object]:
        return {
            "epochs": self.epochs,
            "epochs_auto": self.auto,
            "steps_per_epoch": self.steps_per_epoch,
            "total_steps": self.total_steps,
        }


def parse_epochs(value: int | str) -> int | str:
    """``"auto"`` or a positive int (``"60"`` from the command line is 60).

    Raises:
        ValueError: Anything else (the config turns it into a message naming ``--epochs``).
    """
    if isinstance(value, str) and value.strip().lower() == AUTO:
        return AUTO
    n = int(value)  # ValueError for words other than auto
    if n < 1 or (isinstance(value, float) and value != n):
        raise ValueError(value)
    return n


def checked_epochs(value: int | str) -> int | str:
    """``parse_epochs`` for a config: anything else is a ``UsageError`` naming ``--epochs``."""
    from edgeres.errors import UsageError

    try:
        return parse_epochs(value)
    except (TypeError, ValueError):
        raise UsageError(
            f"--epochs must be auto or a whole number of at least 1 (got {value})"
        ) from None


def steps_per_epoch(images: int, batch_size: int, world_size: int = 1) -> int:
    """Optimizer steps in one epoch: full batches per process, at least one."""
    per_proc = max(1, batch_size // world_size)
    return max(1, images // world_size // per_proc)


def plan_schedule(
    images: int,
    classes: int,
    batch_size: int,
    epochs: int | str = AUTO,
    *,
    qat: bool = False,
    world_size: int = 1,
    finetune: bool = False,
) -> Schedule:
    """The epochs to train ``images`` images: ``epochs`` itself, or chosen from the size.

    ``auto``: ``ceil(MIN_STEPS / steps_per_epoch)`` clamped to ``[MIN_EPOCHS, MAX_EPOCHS]``
    (QAT: ``QAT_STEPS`` within ``[QAT_MIN_EPOCHS, QAT_MAX_EPOCHS]``; fine-tuning ``--init``
    weights: ``FINETUNE_STEPS`` within ``[FINETUNE_MIN_EPOCHS, FINETUNE_MAX_EPOCHS]``).
    """
    spe = steps_per_epoch(images, batch_size, world_size)
    auto = parse_epochs(epochs) == AUTO
    if auto:
        want, lo, hi = (
            (QAT_STEPS, QAT_MIN_EPOCHS, QAT_MAX_EPOCHS)
            if qat
            else (FINETUNE_STEPS, FINETUNE_MIN_EPOCHS, FINETUNE_MAX_EPOCHS)
            if finetune
            else (MIN_STEPS, MIN_EPOCHS, MAX_EPOCHS)
        )
        n = min(hi, max(lo, math.ceil(want / spe)))
    else:
        n = int(epochs)
    return Schedule(images, classes, batch_size, spe, n, auto, qat, finetune and not qat)


def _duration(seconds: float) -> str:
    if seconds < 90:
        return f"{max(1, round(seconds))} s"
    if seconds < 5400:
        return f"{round(seconds / 60)} min"
    return f"{seconds / 3600:.1f} h"
