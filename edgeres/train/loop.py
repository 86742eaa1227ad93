"""The training loop: batches from the data workers, one-cycle SGD (mixed precision if asked),
each rank its shard, best epoch kept."""

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

from edgeres import __version__
from edgeres.data.common import log
from edgeres.data.stream import StreamSet
from edgeres.errors import UsageError
from edgeres.formats.pytorch import RESUME_CHECKPOINT
from edgeres.progress import progress
from edgeres.train.checkpoint import load_checkpoint, save_checkpoint
from edgeres.train.config import TrainConfig
from edgeres.train.distributed import DistContext, init_distributed, shutdown_distributed
from edgeres.train.history import plot_curves, write_history, write_metrics
from edgeres.train.init import frozen_bn_eval
from edgeres.train.inputs import evaluate_source
from edgeres.train.loader import iterate, shard, step_batches, to_device, worker_errors
from edgeres.train.setup import Run, plan_text, start_run


@dataclass
class TrainResult:
    """Where a finished run left its files and what it measured."""

    out: Path
    checkpoint: Path
    metrics: dict[str, Any]
    quant_report: Any = None  # a QuantReport of the INT8 files (--qat only)


def train(
    cfg: TrainConfig,
    on_plan: Callable[[str], None] | None = None,
    on_epoch: Callable[[dict[str, Any]], None] | None = None,
) -> TrainResult:
    """Train ``cfg.model`` on ``cfg.data``; write the checkpoint, metrics, history and curves.

    Runs in one process, or as one rank of a ``torchrun`` group (DDP). With ``cfg.qat`` the
    ``cfg.init`` checkpoint is fine-tuned fake-quantized and INT8 ONNX/TFLite files are written.

    Args:
        cfg: Every option.
        on_plan: Called once on the main process, before the first epoch, with the plan
            (images, classes, epochs, steps, estimated time; the ``--init`` head); the CLI
            prints it.
        on_epoch: Called on the main process after each epoch with its history row
            (``val_accuracy``, ``test_accuracy``, ...); an exception it raises ends the run,
            the best epoch's checkpoint kept (``fit`` stops weak trials this way).
    """
    ctx = init_distributed(cfg.device)
    try:
        return _train(cfg, ctx, on_plan, on_epoch)
    finally:
        shutdown_distributed(ctx)


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


def _step(run: Run, x, y, epoch: int, step: int):
    """One optimizer step (mixed precision if asked); the logits and the loss."""
    with run.amp.autocast(run.device):
        logits = run.net(x)
        loss = _loss(run, x, logits, y)
    if not torch.isfinite(loss):  # before the step: the weights stay the last good ones
        raise _diverged(run.cfg, epoch, step, loss.item(), run.sched.get_last_lr()[0])
    run.opt.zero_grad(set_to_none=True)
    scaler = run.amp.scaler
    if scaler is not None:  # fp16 on a GPU: scale the loss so small gradients survive
        scaler.scale(loss).backward()
        scaler.step(run.opt)
        scaler.update()
    else:
        loss.backward()
        run.opt.step()
    run.sched.step()
    return logits, loss


def _loss(run: Run, x, logits, y):
    if run.teacher is None:
        return F.cross_entropy(logits.float(), y)
    from edgeres.train.distill import distillation_loss

    cfg = run.cfg
    return distillation_loss(logits, run.teacher(x), y, cfg.distill_weight, cfg.distill_temperature)


def _train_epoch(run: Run, epoch: int) -> dict[str, float]:
    """One epoch over this rank's shard, batches read and augmented by the data workers."""
    cfg, ctx, plan = run.cfg, run.ctx, run.plan
    run.net.train()
    if cfg.freeze_backbone:
        frozen_bn_eval(run.net)
    mine = shard(len(run.train_set), ctx.world_size, ctx.rank, cfg.seed, epoch)
    per_proc = max(1, cfg.batch_size // ctx.world_size)
    batches = step_batches(mine, per_proc, plan.steps_per_epoch)
    loss_sum = correct = seen = skipped = 0.0
    busy, steps, t0 = 0.0, plan.steps_per_epoch, time.perf_counter()
    bar = progress(
        total=steps, quiet=cfg.quiet or not ctx.is_main, desc=f"epoch {epoch + 1}/{plan.epochs}"
    )
    key = (cfg.seed, epoch, ctx.rank)
    data = iterate(run.train_set, batches, run.device, run.workers, cfg.augmentations, key)
    with bar, worker_errors():
        for step, (images, labels, bad) in enumerate(data):
            skipped += bad
            x, y = to_device(images, run.spec, run.device), labels.to(run.device)
            logits, loss = _step(run, x, y, epoch, step)
            loss_sum += loss.item() * len(y)
            correct += int((logits.argmax(1) == y).sum())
            seen += len(y)
            busy = time.perf_counter() - t0  # data included: what the loop really achieves
            bar.update(1)
            if step % 10 == 0 or step == steps - 1:
                ips = seen * ctx.world_size / max(busy, 1e-9)
                bar.set_postfix(
                    loss=f"{loss_sum / seen:.3f}", acc=f"{correct / seen:.3f}", img_s=f"{ips:.0f}"
                )
    loss_sum, correct, seen, busy, skipped = ctx.all_sum([loss_sum, correct, seen, busy, skipped])
    if skipped and ctx.is_main:
        log.warning("warning: %d unreadable training images skipped this epoch", int(skipped))
    return {
        "train_loss": loss_sum / max(seen, 1),
        "train_accuracy": correct / max(seen, 1),
        "images": seen,
        "busy": busy / ctx.world_size,
    }


def _train(cfg: TrainConfig, ctx: DistContext, on_plan=None, on_epoch=None) -> TrainResult:
    run = start_run(cfg, ctx)
    if on_plan is not None and ctx.is_main:
        on_plan(plan_text(run))
    for epoch in range(len(run.history), run.plan.epochs):
        _epoch(run, epoch)
        if on_epoch is not None and ctx.is_main:
            on_epoch(run.history[-1])
        ctx.barrier()
    metrics = _metrics(run)
    report = None
    if ctx.is_main:
        _finish(run.cfg, run.info, run.model_args, run.history, metrics)
        if run.cfg.qat:
            from edgeres.train.qat_export import export_qat

            ckpt = run.cfg.out / "model.pt"
            images = StreamSet(run.train_set).images  # read when calibration asks
            report = export_qat(run.model, run.best_qat_state, ckpt, run.cfg, images)
    ctx.barrier()
    return TrainResult(cfg.out, cfg.out / "model.pt", metrics, report)


# QAT: epochs whose steps still move the activation and weight ranges.
QAT_RANGE_EPOCHS = 1


def _epoch(run: Run, epoch: int) -> None:
    """Train one epoch; on the main process score it, keep it if best, and save the state."""
    cfg, t0 = run.cfg, time.perf_counter()
    if cfg.qat and epoch >= QAT_RANGE_EPOCHS:
        run.model.freeze_ranges()  # warm-up over: the weights adapt to fixed ranges
    stats = _train_epoch(run, epoch)
    val_loss, val_acc = _score(run, run.eval_set)
    # The last step of an epoch has no next loss to show it: check the weights' loss on the
    # validation images before saving them.
    if not math.isfinite(val_loss):
        raise _diverged(
            cfg, epoch, run.plan.steps_per_epoch - 1, val_loss, run.sched.get_last_lr()[0]
        )
    _, test_acc = _score(run, run.test_set)
    if not run.ctx.is_main:
        return
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


def _score(run: Run, src) -> tuple[float, float]:
    """Loss and accuracy over ``src``, each rank scoring its share (one count per image)."""
    # Batches of the training step's size: scoring never needs more memory than training.
    batch = max(1, run.cfg.batch_size // run.ctx.world_size)
    with run.amp.autocast(run.device):
        return evaluate_source(run.model, src, run.spec, run.device, run.ctx, run.workers, batch)


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
    save_checkpoint(
        out / RESUME_CHECKPOINT, run.float_model(), run.info, run.model_args, {}, train_state
    )
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
        "teacher": None if cfg.teacher is None else str(cfg.teacher),
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
