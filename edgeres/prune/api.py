"""``edgeres prune`` as a library function: prune, fine-tune with distillation, quantize."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from edgeres.errors import OutputExistsError, UsageError
from edgeres.fileio import atomic_write_text
from edgeres.prune.config import PruneConfig
from edgeres.text import shown

PRUNED_INIT = "pruned_init.pt"  # the pruned network before fine-tuning
UNPRUNED = "unpruned.pt"  # the teacher, when MODEL is not an edgeres checkpoint
OUT_FILES = ("model.pt", "prune.json", PRUNED_INIT)  # and model_int8.* of every format


@dataclass
class PruneResult:
    """What ``prune`` made and measured (``to_dict()`` is ``--json``'s document)."""

    out: Path
    checkpoint: Path
    share: float
    base_macs: int
    macs: int
    accuracy_before: float | None
    accuracy_after: float | None
    teacher: str | None
    int8: dict[str, str] = field(default_factory=dict)
    int8_passed: bool = True
    latency_log: list[dict] = field(default_factory=list)
    layer_widths: dict[str, list[int]] = field(default_factory=dict)

    @property
    def macs_ratio(self) -> float:
        return self.macs / self.base_macs

    def to_dict(self) -> dict[str, Any]:
        return {
            "out": str(self.out),
            "checkpoint": str(self.checkpoint),
            "channel_share_removed": round(self.share, 4),
            "base_macs": self.base_macs,
            "macs": self.macs,
            "macs_ratio": round(self.macs_ratio, 4),
            "accuracy_before": self.accuracy_before,
            "accuracy_after": self.accuracy_after,
            "teacher": self.teacher,
            "int8": self.int8,
            "int8_passed": self.int8_passed,
            "latency_log": self.latency_log,
            "layer_widths": self.layer_widths,
        }


def _load(cfg: PruneConfig):
    from edgeres.formats.source_options import SourceOptions
    from edgeres.formats.torch_source import load_torch_source
    from edgeres.models import list_models

    ckpt = load_torch_source(cfg.model, SourceOptions(model=cfg.arch))
    if ckpt.model_name not in list_models():
        raise UsageError(
            f"prune rebuilds zoo architectures; '{shown(ckpt.model_name)}' is not one of "
            f"{', '.join(list_models())} (a torch.export program has no layers left to remove "
            "channels from: pass its state dict with --arch)"
        )
    return ckpt


def _check_out(cfg: PruneConfig) -> None:
    from edgeres.formats import export_formats, output_name

    int8 = [output_name("model.pt", f, int8=True).name for f in export_formats()]
    existing = [f for f in (*OUT_FILES, *int8) if (cfg.out / f).exists()]
    if existing and not cfg.force:
        raise OutputExistsError(
            f"'{shown(cfg.out)}' already holds {', '.join(existing)}; pass --force to replace "
            "them or choose another --out"
        )


def prune(cfg: PruneConfig) -> PruneResult:
    """Prune ``cfg.model`` to ``cfg.macs`` of its MACs or to ``cfg.latency_ms`` on the target,
    fine-tune it with distillation from the unpruned network (unless ``no_teacher``), then
    quantize it with the usual accuracy gate.

    Raises:
        UsageError: A target that removes a layer entirely or cannot be met, a .pt2 or non-zoo
            model, an existing output.
    """
    from edgeres.train.checkpoint import save_checkpoint

    _check_out(cfg)
    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    ckpt = _load(cfg)
    model, args = ckpt.model.eval(), dict(ckpt.model_args)
    example = torch.zeros(ckpt.info.spec.shape(1))
    pruned, log = _prune(cfg, model, example, ckpt.info, args)
    from edgeres.prune.channels import check_residual_shapes

    check_residual_shapes(pruned.model, example)
    cfg.out.mkdir(parents=True, exist_ok=True)
    init = save_checkpoint(cfg.out / PRUNED_INIT, pruned.model, ckpt.info, args, ckpt.metrics)
    teacher = _teacher(cfg, ckpt, args)
    metrics = _finetune(cfg, init, teacher)
    int8, passed = _quantize(cfg)
    from edgeres.models.pruned import layer_widths

    result = PruneResult(
        out=cfg.out,
        checkpoint=cfg.out / "model.pt",
        share=pruned.share,
        base_macs=pruned.base_macs,
        macs=pruned.macs,
        accuracy_before=ckpt.metrics.get("test_accuracy"),
        accuracy_after=metrics.get("test_accuracy"),
        teacher=None if teacher is None else str(teacher),
        int8=int8,
        int8_passed=passed,
        latency_log=log,
        layer_widths=layer_widths(pruned.model),
    )
    atomic_write_text(cfg.out / "prune.json", json.dumps(result.to_dict(), indent=2) + "\n")
    return result


def _prune(cfg: PruneConfig, model, example, info, args):
    if cfg.macs is not None:
        from edgeres.prune.channels import prune_to_macs

        return prune_to_macs(model, example, cfg.macs), []
    from edgeres.fit.measure import Target
    from edgeres.prune.latency import prune_to_latency

    target = Target(profile=cfg.profile)
    return prune_to_latency(model, example, info, args, cfg.latency_ms, target)


def _teacher(cfg: PruneConfig, ckpt, args) -> Path | None:
    """The teacher file: --teacher, else the unpruned network (saved as a checkpoint when MODEL
    is a state dict)."""
    if cfg.no_teacher:
        return None
    if cfg.teacher is not None:
        return cfg.teacher
    if cfg.arch is None:
        return cfg.model  # an edgeres checkpoint already
    from edgeres.train.checkpoint import save_checkpoint

    return save_checkpoint(cfg.out / UNPRUNED, ckpt.model, ckpt.info, args, ckpt.metrics)


def _finetune(cfg: PruneConfig, init: Path, teacher: Path | None) -> dict[str, Any]:
    from edgeres.train import TrainConfig, train

    tcfg = TrainConfig(
        data=cfg.data, out=cfg.out, init=init, teacher=teacher, epochs=cfg.epochs, lr=cfg.lr,
        batch_size=cfg.batch_size, limit=cfg.limit, eval_limit=cfg.eval_limit, seed=cfg.seed,
        threads=cfg.threads, force=cfg.force, quiet=cfg.quiet,
    )  # fmt: skip
    return train(tcfg).metrics


def _quantize(cfg: PruneConfig) -> tuple[dict[str, str], bool]:
    from edgeres.quantize import QuantizeConfig, quantize

    qcfg = QuantizeConfig(
        calib=cfg.data, to=cfg.to or None, eval_data=cfg.data, eval_limit=cfg.eval_limit or 1000,
        max_drop=cfg.max_drop, out_dir=cfg.out, force=cfg.force, quiet=cfg.quiet,
    )  # fmt: skip
    result = quantize(cfg.out / "model.pt", qcfg)
    return {k: str(v) for k, v in result.outputs.items()}, result.passed
