"""The training loop: in-memory uint8 images, numpy augmentation, one-cycle SGD, best epoch kept."""

from __future__ import annotations

import copy
import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from edgeres import __version__
from edgeres.data import ImageSet
from edgeres.data.augment import augment
from edgeres.errors import UsageError
from edgeres.progress import progress
from edgeres.spec import InputSpec
from edgeres.train.checkpoint import load_checkpoint, save_checkpoint
from edgeres.train.config import TrainConfig
from edgeres.train.distributed import DistContext, init_distributed, shutdown_distributed
from edgeres.train.history import plot_curves, write_history, write_metrics
from edgeres.train.setup import Run, plan_text, start_run, to_tensor


@dataclass
class TrainResult:
    """Where a finished run left its files and what it measured."""

    out: Path
    checkpoint: Path
    metrics: dict[str, Any]
    quant_report: Any = None  # a QuantReport of the INT8 files (--qat only)


def train(cfg: TrainConfig, on_plan: Callable[[str], None] | None = None) -> TrainResult:
    """Train ``cfg.model`` on ``cfg.data``; write the checkpoint, metrics, history and curves.

    Runs in one process, or as one rank of a ``torchrun`` group (DDP). With ``cfg.qat`` the
    ``cfg.init`` checkpoint is fine-tuned fake-quantized and INT8 ONNX/TFLite files are written.

    Args:
        cfg: Every option.
        on_plan: Called once on the main process, before the first epoch, with the plan
            (images, classes, epochs, steps, estimated time; the ``--init`` head); the CLI
            prints it.
    """
    ctx = init_distributed(cfg.device)
    try:
        return _train(cfg, ctx, on_plan)
    finally:
        shutdown_distributed(ctx)


@torch.no_grad()
def evaluate_arrays(
    model: nn.Module, data: ImageSet, spec: InputSpec, device: torch.device, batch: int = 500
) -> tuple[float, float]:
    """Mean loss and top-1 accuracy of ``model`` on an in-memory image set."""
    model.eval()
    loss_sum, correct = 0.0, 0
    for i in range(0, len(data), batch):
        x = to_tensor(data.images[i : i + batch], spec, device)
        y = torch.from_numpy(data.labels[i : i + batch]).to(device)
        logits = model(x)
        loss_sum += float(F.cross_entropy(logits, y, reduction="sum"))
        correct += int((logits.argmax(1) == y).sum())
    n = max(1, len(data))
    return loss_sum / n, correct / n


def _diverged(cfg: TrainConfig, epoch: int, step: int, loss: float, lr: float) -> UsageError:
    best = cfg.out / "model.pt"
    kept = (
        f"the last good checkpoint is kept: {best}"
        if best.exists()
        else "no checkpoint was written"
    )
    return UsageError(
        f"training diverged: the loss became {loss} at epoch {epoch + 1}, step {step + 1} "
        f"(learning rate {lr:.3g}); {kept}. Lower --lr (now {cfg.lr:g}) and train again"
    )


def _train_epoch(model, opt, sched, data, spec, device, cfg, epoch, ctx, plan) -> dict[str, float]:
    model.train()
    rng = np.random.default_rng([cfg.seed, epoch])
    perm = rng.permutation(len(data))[ctx.rank :: ctx.world_size]
    per_proc = max(1, cfg.batch_size // ctx.world_size)
    loss_sum = correct = seen = 0.0
    busy, steps, augs = 0.0, plan.steps_per_epoch, cfg.augmentations
    bar = progress(
        range(steps), quiet=cfg.quiet or not ctx.is_main, desc=f"epoch {epoch + 1}/{plan.epochs}"
    )
    for step in bar:
        t0 = time.perf_counter()
        idx = np.sort(perm[step * per_proc : (step + 1) * per_proc])
        batch = augment(data.images[idx], rng, crop="crop" in augs, flip="flip" in augs)
        x = to_tensor(batch, spec, device)
        y = torch.from_numpy(data.labels[idx]).to(device)
        logits = model(x)
        loss = F.cross_entropy(logits, y)
        if not torch.isfinite(loss):  # before the step: the weights stay the last good ones
            raise _diverged(cfg, epoch, step, loss.item(), sched.get_last_lr()[0])
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        sched.step()
        busy += time.perf_counter() - t0
        loss_sum += loss.item() * len(idx)
        correct += int((logits.argmax(1) == y).sum())
        seen += len(idx)
        if step % 10 == 0 or step == steps - 1:
            ips = seen * ctx.world_size / max(busy, 1e-9)
            bar.set_postfix(
                loss=f"{loss_sum / seen:.3f}", acc=f"{correct / seen:.3f}", img_s=f"{ips:.0f}"
            )
    loss_sum, correct, seen, busy = ctx.all_sum([loss_sum, correct, seen, busy])
    return {
        "train_loss": loss_sum / max(seen, 1),
        "train_accuracy": correct / max(seen, 1),
        "images": seen,
        "busy": busy / ctx.world_size,
    }


def _train(cfg: TrainConfig, ctx: DistContext, on_plan=None) -> TrainResult:
    run = start_run(cfg, ctx)
    if on_plan is not None and ctx.is_main:
        on_plan(plan_text(run))
    for epoch in range(len(run.history), run.plan.epochs):
        _epoch(run, epoch)
        ctx.barrier()
    metrics = _metrics(run)
    report = None
    if ctx.is_main:
        _finish(run.cfg, run.info, run.model_args, run.history, metrics)
        if run.cfg.qat:
            from edgeres.train.qat_export import export_qat

            ckpt = run.cfg.out / "model.pt"
            report = export_qat(run.model, run.best_qat_state, ckpt, run.cfg, run.train_set.images)
    ctx.barrier()
    return TrainResult(cfg.out, cfg.out / "model.pt", metrics, report)


# QAT: epochs whose steps still move the activation and weight ranges.
QAT_RANGE_EPOCHS = 1


def _epoch(run: Run, epoch: int) -> None:
    """Train one epoch; on the main process score it, keep it if best, and save the state."""
    cfg, t0 = run.cfg, time.perf_counter()
    if cfg.qat and epoch >= QAT_RANGE_EPOCHS:
        run.model.freeze_ranges()  # warm-up over: the weights adapt to fixed ranges
    stats = _train_epoch(
        run.net,
        run.opt,
        run.sched,
        run.train_set,
        run.spec,
        run.device,
        cfg,
        epoch,
        run.ctx,
        run.plan,
    )
    if not run.ctx.is_main:
        return
    val_loss, val_acc = evaluate_arrays(run.model, run.eval_set, run.spec, run.device)
    # The last step of an epoch has no next loss to show it: check the weights' loss on the
    # validation images before saving them.
    if not math.isfinite(val_loss):
        raise _diverged(
            cfg, epoch, run.plan.steps_per_epoch - 1, val_loss, run.sched.get_last_lr()[0]
        )
    _, test_acc = evaluate_arrays(run.model, run.test_set, run.spec, run.device)
    run.seconds += time.perf_counter() - t0
    run.history.append(
        {
            "epoch": epoch + 1,
            "lr": run.sched.get_last_lr()[0],
            "train_loss": stats["train_loss"],
            "train_accuracy": stats["train_accuracy"],
            "val_loss": val_loss,
            "val_accuracy": val_acc,
            "test_accuracy": test_acc,
            "images_per_second": stats["images"] / max(stats["busy"], 1e-9),
            "seconds": time.perf_counter() - t0,
        }
    )
    if val_acc >= run.best["val_accuracy"]:
        run.best = {"val_accuracy": val_acc, "test_accuracy": test_acc, "epoch": epoch + 1}
        metrics = _metrics(run)
        if cfg.qat:
            run.best_qat_state = copy.deepcopy(run.model.graph.state_dict())
        float_model = run.float_model()
        save_checkpoint(cfg.out / "model.pt", float_model, run.info, run.model_args, metrics)
    _save_last(run)


def _save_last(run: Run) -> None:
    """``last.pt`` and ``history.csv``: all ``--resume`` needs to continue after this epoch."""
    train_state = {
        "optimizer": run.opt.state_dict(),
        "scheduler": run.sched.state_dict(),
        "history": run.history,
        "best": run.best,
        "seconds": run.seconds,
        "config": run.cfg.to_dict(),
    }
    out = run.cfg.out
    save_checkpoint(out / "last.pt", run.float_model(), run.info, run.model_args, {}, train_state)
    write_history(out / "history.csv", run.history)


def _metrics(run: Run) -> dict[str, Any]:
    cfg, info, history, best, ctx = run.cfg, run.info, run.history, run.best, run.ctx
    ips = [r["images_per_second"] for r in history]
    return {
        "model": cfg.model,
        "model_args": cfg.model_args,
        "data": cfg.data,
        "img_size": info.spec.height,
        "classes": list(info.classes),
        "test_accuracy": best.get("test_accuracy"),
        "val_accuracy": best.get("val_accuracy"),
        "best_epoch": best.get("epoch"),
        "epochs": len(history),
        "schedule": run.plan.to_dict(),
        "augment": cfg.augment,
        "init": run.init.to_dict() if run.init is not None else None,
        "qat": cfg.qat,
        "train_seconds": round(run.seconds, 2),
        "images_per_second": round(float(np.median(ips)), 1) if ips else None,
        "params": info.extra["params"],
        "macs": info.extra["macs"],
        "batch_size": cfg.batch_size,
        "lr": cfg.lr,
        "seed": cfg.seed,
        "device": cfg.device,
        "world_size": ctx.world_size,
        "threads_per_process": torch.get_num_threads(),
        "torch_version": str(torch.__version__),
        "edgeres_version": __version__,
    }


def _finish(cfg, info, model_args, history, metrics) -> None:
    # The best checkpoint gets the final metrics too, so `edgeres eval` and convert see them.
    best_ckpt = load_checkpoint(cfg.out / "model.pt")
    save_checkpoint(cfg.out / "model.pt", best_ckpt.model, info, model_args, metrics)
    write_metrics(cfg.out / "metrics.json", metrics)
    write_history(cfg.out / "history.csv", history)
    plot_curves(cfg.out / "curves.png", history, f"{cfg.model} on {cfg.data}")
