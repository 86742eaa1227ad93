"""``edgeres prune``'s options: one frozen dataclass, each field documented, checks naming the
flag. Torch-free, so the CLI builds its options on a device without torch."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from edgeres.errors import UsageError, check_number
from edgeres.train.schedule import AUTO, checked_epochs


@dataclass(frozen=True)
class PruneConfig:
    """What ``edgeres prune`` does; the CLI reads each flag's default and help from here.

    Attributes:
        model: The trained network: an edgeres checkpoint, or a state dict (.pth, .pt,
            .safetensors) with --arch naming its zoo architecture.
        data: The data it was trained on, for fine-tuning and the INT8 accuracy gate: shapes,
            an image folder or cifar10:DIR (``--data``).
        out: Folder to write: model.pt (the pruned, fine-tuned checkpoint), model_int8.onnx and
            its report, prune.json (``--out``).
        macs: Keep this share of the network's MACs, 0 to 1, e.g. 0.5 (``--macs``).
        latency_ms: Prune until the INT8 file runs within this many milliseconds on the target,
            measured there with the engine tune picks (``--latency-ms``).
        teacher: Distil the fine-tuning from this network (``--teacher``); by default the
            unpruned network itself.
        no_teacher: Fine-tune on the labels only, to see what distillation buys
            (``--no-teacher``).
        arch: Zoo architecture of a state dict given as MODEL (``--arch``).
        epochs: Fine-tuning passes over the training data, or auto: the --init schedule (500
            steps, 5 to 100 epochs) (``--epochs``).
        lr: Peak learning rate of the fine-tuning (``--lr``); by default train's --init 0.01.
        batch_size: Images per fine-tuning step (``--batch-size``).
        limit: Use at most N training images (``--limit``).
        eval_limit: Use at most N test images (``--eval-limit``).
        profile: Device profile of the target for --latency-ms (``--profile``); by default this
            machine's.
        to: INT8 formats to make, comma-separated (``--to``); by default quantize's.
        max_drop: The INT8 accuracy gate in top-1 points (``--max-drop``); by default quantize's.
        seed: Seed of the fine-tuning (``--seed``).
        threads: torch threads (``--threads``); by default the cores.
        force: Replace an existing output folder's files (``--force``).
        quiet: No progress bars (``--json``).
    """

    model: Path
    data: str = "shapes"
    out: Path = Path("runs/prune")
    macs: float | None = None
    latency_ms: float | None = None
    teacher: Path | None = None
    no_teacher: bool = False
    arch: str | None = None
    epochs: str | int = AUTO
    lr: float | None = None
    batch_size: int = 128
    limit: int | None = None
    eval_limit: int | None = None
    profile: str | None = None
    to: tuple[str, ...] | str = ()
    max_drop: float | None = None
    seed: int = 0
    threads: int | None = None
    force: bool = False
    quiet: bool = False

    def __post_init__(self) -> None:
        to = self.to.split(",") if isinstance(self.to, str) else (self.to or ())
        object.__setattr__(self, "to", tuple(t.strip() for t in to if t.strip()))
        for name in ("model", "out", "teacher"):
            if getattr(self, name) is not None:
                object.__setattr__(self, name, Path(getattr(self, name)))
        if (self.macs is None) == (self.latency_ms is None):
            raise UsageError("prune needs one target: --macs RATIO or --latency-ms MS")
        check_number(self.macs, "--macs", 0.0, above=True)
        if self.macs is not None and not self.macs < 1:
            raise UsageError(f"--macs is the share of MACs kept, below 1 (got {self.macs})")
        check_number(self.latency_ms, "--latency-ms", 0.0, above=True)
        check_number(self.max_drop, "--max-drop", 0.0)
        if self.teacher is not None and self.no_teacher:
            raise UsageError("--teacher and --no-teacher cannot be combined")
        checked_epochs(self.epochs)

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        return {k: str(v) if isinstance(v, Path) else v for k, v in d.items()}
