"""The training loop: in-memory uint8 images, numpy augmentation, one-cycle SGD, best epoch kept."""

from __future__ import annotations

import copy
import math
import os
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
from edgeres.data import ImageSet, load_split
from edgeres.data.augment import augment
from edgeres.errors import OutputExistsError, UsageError
from edgeres.models import count_macs, count_params, model_config
from edgeres.progress import progress
from edgeres.spec import InputSpec, ModelInfo
from edgeres.train.checkpoint import load_checkpoint, save_checkpoint
from edgeres.train.config import TrainConfig
from edgeres.train.distributed import DistContext, init_distributed, shutdown_distributed
from edgeres.train.history import plot_curves, write_history, write_metrics
from edgeres.train.init import InitFacts, read_init
from edgeres.train.schedule import Schedule, plan_schedule
from edgeres.train.setup import build_model, plan_text, qat_model, to_tensor

RUN_FILES = ("model.pt", "last.pt", "metrics.json", "history.csv")
QAT_FILES = ("model_int8.onnx", "model_int8.tflite", "model_int8_report.json")


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


def _pick_device(name: str, ctx: DistContext) -> torch.device:
    if name == "cuda":
        if not torch.cuda.is_available():
            raise UsageError(
                f"--device cuda was asked for, but torch {torch.__version__} sees no CUDA GPU here "
                "(torch.cuda.is_available() is False); use --device cpu"
            )
        return torch.device("cuda", ctx.local_rank)
    return torch.device("cpu")


def _check_out_dir(cfg: TrainConfig) -> None:
    existing = [f for f in RUN_FILES + QAT_FILES if (cfg.out / f).exists()]
    if cfg.resume:
        if not (cfg.out / "last.pt").exists():
            raise UsageError(f"--resume: '{cfg.out}' holds no interrupted run (no last.pt)")
    elif existing and not cfg.force:
        raise OutputExistsError(
            f"'{cfg.out}' already holds a run ({', '.join(existing)}); "
            "pass --resume to continue it, --force to replace it, or choose another --out"
        )


def _split_val(data: ImageSet, fraction: float, seed: int) -> tuple[ImageSet, ImageSet | None]:
    n_val = int(len(data) * fraction)
    if n_val < 10:
        return data, None
    perm = np.random.default_rng([seed, 7]).permutation(len(data))
    pick = lambda idx: ImageSet(data.images[idx], data.labels[idx], data.classes, data.source)  # noqa: E731
    return pick(np.sort(perm[n_val:])), pick(np.sort(perm[:n_val]))


def _optimizer(model: nn.Module, cfg: TrainConfig, steps: int):
    decay = [p for n, p in model.named_parameters() if p.ndim > 1]
    no_decay = [p for n, p in model.named_parameters() if p.ndim <= 1]
    groups = [
        {"params": decay, "weight_decay": cfg.weight_decay},
        {"params": no_decay, "weight_decay": 0.0},
    ]
    opt = torch.optim.SGD(groups, lr=cfg.lr, momentum=0.9, nesterov=True)
    sched = torch.optim.lr_scheduler.OneCycleLR(
        opt, max_lr=cfg.lr, total_steps=max(1, steps), pct_start=0.2, div_factor=10.0
    )
    return opt, sched


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


def _load_data(cfg: TrainConfig, size: int, quiet: bool):
    train_set = load_split(cfg.data, "train", size, limit=cfg.limit, quiet=quiet)
    test_set = load_split(cfg.data, "test", size, limit=cfg.eval_limit, quiet=quiet)
    if tuple(test_set.classes) != tuple(train_set.classes):
        raise UsageError(
            f"train and test splits of '{cfg.data}' have different classes "
            f"({len(train_set.classes)} vs {len(test_set.classes)}); every split needs the same class folders"
        )
    train_set, val_set = _split_val(train_set, cfg.val_fraction, cfg.seed)
    return train_set, val_set, test_set


def _resume_state(cfg: TrainConfig, model: nn.Module, opt, sched) -> dict[str, Any]:
    ckpt = load_checkpoint(cfg.out / "last.pt")
    state = ckpt.train_state or {}
    saved = {"augment": "crop,flip", **state.get("config", {})}  # older runs: crop,flip
    for key in ("model", "data", "img_size", "epochs", "batch_size", "augment"):
        if saved.get(key) != getattr(cfg, key):
            raise UsageError(
                f"--resume: this run was started with --{key.replace('_', '-')} {saved.get(key)}, "
                f"not {getattr(cfg, key)}; resume with the same settings"
            )
    model.load_state_dict(ckpt.model.state_dict())
    opt.load_state_dict(state["optimizer"])
    sched.load_state_dict(state["scheduler"])
    return state


@dataclass
class _Run:
    """What one training run carries from epoch to epoch."""

    cfg: TrainConfig
    ctx: DistContext
    device: torch.device
    spec: InputSpec
    info: ModelInfo
    model_args: dict[str, Any]
    model: nn.Module  # the network itself: evaluated and saved
    net: nn.Module  # what is trained: the model, or its DistributedDataParallel wrapper
    opt: Any
    sched: Any
    plan: Schedule
    train_set: ImageSet
    eval_set: ImageSet  # picks the best epoch: the held-out share, else the test split
    test_set: ImageSet
    history: list[dict[str, Any]]
    best: dict[str, Any]
    seconds: float
    init: InitFacts | None = None
    best_qat_state: dict[str, Any] | None = None  # the QAT graph at the best epoch

    def float_model(self) -> nn.Module:
        """What model.pt holds: the network, or the QAT graph's weights in its architecture."""
        return self.model.float_model() if self.cfg.qat else self.model


def _train(cfg: TrainConfig, ctx: DistContext, on_plan=None) -> TrainResult:
    run = _start(cfg, ctx)
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


def _start(cfg: TrainConfig, ctx: DistContext) -> _Run:
    """Check the run folder, load the data, build the model and optimizer, resume if asked."""
    device = _pick_device(cfg.device, ctx)
    if cfg.qat and ctx.enabled:
        raise UsageError("--qat runs in one process; start it without torchrun")
    ckpt = read_init(cfg.init, cfg.model, cfg.img_size) if cfg.init is not None else None
    cfg = cfg.resolved(ckpt.model_name if ckpt is not None else None)
    _check_out_dir(cfg)
    ctx.barrier()  # every rank checks before rank 0 writes anything
    torch.manual_seed(cfg.seed)
    torch.set_num_threads(cfg.threads or max(1, (os.cpu_count() or 1) // ctx.world_size))
    mcfg = model_config(cfg.model)
    size = cfg.img_size or (ckpt.info.spec.height if ckpt is not None else mcfg.img_size)
    train_set, val_set, test_set = _load_data(cfg, size, cfg.quiet or not ctx.is_main)
    spec = (
        ckpt.info.spec if ckpt is not None else InputSpec(size, size, mean=mcfg.mean, std=mcfg.std)
    )
    model, model_args, init = build_model(cfg, ckpt, train_set.classes)
    info = _model_info(cfg, model, spec, train_set.classes)
    model = model.to(device, memory_format=torch.channels_last)
    if cfg.qat:
        model = qat_model(model, spec, cfg, train_set, device)
    plan = plan_schedule(
        len(train_set), len(train_set.classes), cfg.batch_size, cfg.epochs,
        qat=cfg.qat, world_size=ctx.world_size,
    )  # fmt: skip
    opt, sched = _optimizer(model, cfg, plan.total_steps)
    state = _resume_state(cfg, model, opt, sched) if cfg.resume else {}
    net = model
    if ctx.enabled:
        ids = [ctx.local_rank] if device.type == "cuda" else None
        net = nn.parallel.DistributedDataParallel(model, device_ids=ids)
    return _Run(
        cfg=cfg,
        ctx=ctx,
        device=device,
        spec=spec,
        info=info,
        model_args=model_args,
        model=model,
        net=net,
        opt=opt,
        sched=sched,
        plan=plan,
        train_set=train_set,
        eval_set=val_set if val_set is not None else test_set,
        test_set=test_set,
        history=list(state.get("history", [])),
        best=dict(state.get("best", {"val_accuracy": -1.0, "epoch": 0})),
        seconds=float(state.get("seconds", 0.0)),
        init=init,
    )


def _model_info(cfg: TrainConfig, model: nn.Module, spec: InputSpec, classes) -> ModelInfo:
    facts = {
        "params": count_params(model),
        "macs": count_macs(model, spec.shape(1)),
        "data": cfg.data,
        "img_size": spec.height,
        "edgeres_version": __version__,
    }
    return ModelInfo(cfg.model, classes, spec, extra=facts)


def _epoch(run: _Run, epoch: int) -> None:
    """Train one epoch; on the main process score it, keep it if best, and save the state."""
    cfg, t0 = run.cfg, time.perf_counter()
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
        raise _diverged(cfg, epoch, run.steps - 1, val_loss, run.sched.get_last_lr()[0])
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


def _save_last(run: _Run) -> None:
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


def _metrics(run: _Run) -> dict[str, Any]:
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
