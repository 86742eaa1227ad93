"""Training options: one dataclass, each field documented, checks that name the flag.

Torch-free: the CLI imports it to build ``edgeres train``'s options on a device without torch.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

from edgeres.data.augment import augment_name, parse_augment
from edgeres.errors import SEED_MAX, UsageError, check_number
from edgeres.models.registry import check_width
from edgeres.train.schedule import AUTO, checked_epochs

DEVICES = ("cpu", "cuda")
DEFAULT_MODEL = "resnet8"
DEFAULT_LR = 0.1
FINETUNE_LR = 0.01
# QAT trains BN-folded weights under INT8 rounding: 0.01 took a 99.3% resnet8 to 89.7% in
# 300 steps, 0.001 kept it at 99.4% (README, QAT against PTQ).
QAT_LR = 0.001


@dataclass(frozen=True)
class TrainConfig:
    """What ``edgeres train`` does; the CLI reads each flag's default and help from here.

    Attributes:
        model: Registry name of the network (``--model``); by default resnet8, or the --init
            checkpoint's.
        data: ``shapes``, an image folder (one sub-folder per class) or ``cifar10:DIR``
            (``--data``).
        out: Run folder to write: model.pt, metrics.json, history.csv, curves.png (``--out``).
        epochs: Passes over the training split, or auto: at least 1,500 optimizer steps and 15
            epochs, at most 300 epochs (--init: 500 steps, 5 to 100 epochs; QAT: 300 steps, 2 to
            30 epochs) (``--epochs``).
        augment: Train-time augmentation, comma-separated: crop (random shifts), flip (mirror
            images), or none; leave flip out for digits, text and arrows (``--augment``).
        init: Start from these weights (fine-tuning): an edgeres checkpoint, or a state dict
            (.pth, .pt, .safetensors: torchvision's or timm's ResNet and MobileNet files with
            --model resnet18/34/50, mobilenet_v2, mobilenet_v3_small/large); a data set with other classes gets a new classifier head, and the
            plan says so. Fine-tuning defaults: lr 0.01 and a shorter auto schedule (500 steps,
            5 to 100 epochs) (``--init``).
        freeze_backbone: With --init: train the classifier head only, every other weight and
            the BatchNorm statistics kept as loaded; for folders of a few images a class
            (``--freeze-backbone``).
        qat: Quantization-aware fine-tuning of the --init checkpoint (fake-quantized, PT2E),
            then write model_int8.onnx, model_int8.tflite and their report (``--qat``).
        per_tensor: With --qat: one weight scale per tensor, as quantize --per-tensor
            (``--per-tensor``).
        img_size: Square input size in pixels (``--img-size``); by default the model's, or the
            --init checkpoint's.
        batch_size: Images per optimizer step, across all processes (``--batch-size``).
        lr: Peak learning rate of the one-cycle schedule (``--lr``); by default 0.1, 0.01
            with --init, 0.001 with --qat.
        weight_decay: L2 weight decay on conv and linear weights (``--weight-decay``).
        seed: Seed of data order, augmentation and initialisation (``--seed``).
        device: Where to train (``--device``).
        resume: Continue the interrupted run in the run folder (``--resume``).
        force: Replace a finished run in the run folder (``--force``).
        limit: Use at most N training images (``--limit``); for ``shapes``, how many are made.
        eval_limit: Use at most N test images (``--eval-limit``).
        val_fraction: Share of the training split held out to pick the best epoch, so the
            reported test accuracy is not chosen on the test split itself.
        threads: torch threads per process (``--threads``); by default the cores.
        workers: Data worker processes per training process that decode, resize and augment
            batches while the network trains (``--workers``); by default 0 for data held in
            memory, else min(4, cores per process - 1); more than the cores is capped.
        cache: Where the training images live (``--cache``): a folder for a pre-resized,
            memory-mapped cache built once and reused by later epochs and runs; memory (decode
            once into RAM); none (decode every epoch, streaming); by default memory when the
            split fits in 64 MB at the training size, else none.
        teacher: Distil from this network (``--teacher``): an edgeres checkpoint, a ``.pt2``
            or another file edgeres reads into PyTorch, trained on the same classes at the same
            input size. The loss becomes ``distill_weight * T^2 * KL(teacher/T || student/T) +
            (1 - distill_weight) * cross-entropy`` with T = ``distill_temperature``.
        distill_weight: Share of the teacher's soft term in the loss, 0 to 1
            (``--distill-weight``); 0 ignores the teacher.
        distill_temperature: Softening temperature T of both networks' logits
            (``--distill-temperature``).
        amp: Mixed precision (``--amp``): bf16 autocast on CPUs and recent GPUs, fp16 with a
            loss scaler on older GPUs.
        model_args: Extra architecture options, e.g. ``{"width": 0.5}`` (``--width``).
        quiet: No progress bars (``--json``).
    """

    model: str | None = None
    data: str = "shapes"
    out: Path = Path("runs/train")
    epochs: str | int = AUTO
    augment: str = "crop,flip"
    init: Path | None = None
    freeze_backbone: bool = False
    qat: bool = False
    per_tensor: bool = False
    img_size: int | None = None
    batch_size: int = 128
    lr: float | None = None
    weight_decay: float = 5e-4
    seed: int = 0
    device: str = "cpu"
    resume: bool = False
    force: bool = False
    limit: int | None = None
    eval_limit: int | None = None
    val_fraction: float = 0.05
    threads: int | None = None
    workers: int | None = None
    cache: str | None = None
    teacher: Path | None = None
    distill_weight: float = 0.5
    distill_temperature: float = 4.0
    amp: bool = False
    model_args: dict[str, Any] = field(default_factory=dict)
    quiet: bool = False

    def __post_init__(self) -> None:
        object.__setattr__(self, "out", Path(self.out))
        check_number(self.seed, "seed", 0, maximum=SEED_MAX)  # numpy: "expected non-negative"
        object.__setattr__(self, "epochs", checked_epochs(self.epochs))
        object.__setattr__(self, "augment", augment_name(parse_augment(self.augment)))
        for name in ("init", "teacher"):
            if getattr(self, name) is not None:
                object.__setattr__(self, name, Path(getattr(self, name)))
        checks = [
            (self.batch_size >= 1, "--batch-size must be at least 1", self.batch_size),
            (self.lr is None or self.lr > 0, "--lr must be positive", self.lr),
            (
                not self.qat or self.init is not None,
                "--qat fine-tunes a trained network: pass its checkpoint with --init model.pt",
                "",
            ),
            (not self.per_tensor or self.qat, "--per-tensor applies to --qat only", ""),
            (
                not self.freeze_backbone or (self.init is not None and not self.qat),
                "--freeze-backbone needs --init (pretrained weights) and no --qat",
                "",
            ),
            (not (self.qat and self.resume), "--resume cannot continue a --qat run", ""),
            (self.weight_decay >= 0, "--weight-decay must be zero or positive", self.weight_decay),
            (
                self.img_size is None or self.img_size >= 8,
                "--img-size must be at least 8",
                self.img_size,
            ),
            (self.limit is None or self.limit >= 20, "--limit must be at least 20", self.limit),
            (
                self.eval_limit is None or self.eval_limit >= 1,
                "--eval-limit must be at least 1",
                self.eval_limit,
            ),
            (0.0 <= self.val_fraction < 0.5, "val_fraction must be in [0, 0.5)", self.val_fraction),
            (
                self.threads is None or self.threads >= 1,
                "--threads must be at least 1",
                self.threads,
            ),
            (
                self.workers is None or self.workers >= 0,
                "--workers must be 0 (read in the training process) or more",
                self.workers,
            ),
            (not (self.qat and self.amp), "--amp cannot be combined with --qat", ""),
            (not (self.qat and self.teacher), "--teacher cannot be combined with --qat", ""),
            (
                0.0 <= self.distill_weight <= 1.0,
                "--distill-weight must be in [0, 1]",
                self.distill_weight,
            ),
            (
                self.distill_temperature > 0,
                "--distill-temperature must be positive",
                self.distill_temperature,
            ),
            (self.device in DEVICES, f"--device must be {' or '.join(DEVICES)}", self.device),
            (not (self.resume and self.force), "--resume and --force cannot be combined", ""),
        ]
        for flag, value in (
            ("--lr", self.lr),
            ("--weight-decay", self.weight_decay),
            ("--distill-weight", self.distill_weight),
            ("--distill-temperature", self.distill_temperature),
        ):
            check_number(value, flag)  # inf and nan pass the comparisons below
        if "width" in self.model_args:
            check_width(self.model_args["width"], "--width")
        for ok, msg, got in checks:
            if not ok:
                raise UsageError(f"{msg} (got {got})" if got != "" else msg)

    @property
    def augmentations(self) -> tuple[str, ...]:
        """The ``--augment`` choice as a tuple: ``("crop", "flip")``, ``()`` for none."""
        return parse_augment(self.augment)

    def resolved(self, init_model: str | None = None) -> TrainConfig:
        """The config with model and lr filled in (``init_model``: the --init checkpoint's)."""
        model = self.model or init_model or DEFAULT_MODEL
        lr = self.lr or (
            QAT_LR if self.qat else FINETUNE_LR if self.init is not None else DEFAULT_LR
        )
        return replace(self, model=model, lr=lr)

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["out"] = str(self.out)
        d["init"] = None if self.init is None else str(self.init)
        d["teacher"] = None if self.teacher is None else str(self.teacher)
        return d
