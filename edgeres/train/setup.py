"""Setting a run up: the run folder checked, the data split, the network (fresh, from ``--init``,
or fake-quantized), its optimizer and schedule, a resumed state, the tensors it eats, and the plan
printed before the first epoch (with the time of one measured step). ``loop`` trains what
``start_run`` returns.
"""

from __future__ import annotations

import copy
import os
import time
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import nn

from edgeres import __version__
from edgeres.data.sources import Source
from edgeres.errors import OutputExistsError, ParamError, UsageError
from edgeres.formats.pytorch import RESUME_CHECKPOINT
from edgeres.models import count_macs, count_params, create_model, model_config
from edgeres.models.registry import check_input_size
from edgeres.spec import InputSpec, ModelInfo
from edgeres.text import shown
from edgeres.train.checkpoint import load_checkpoint
from edgeres.train.config import TrainConfig
from edgeres.train.distributed import DistContext
from edgeres.train.init import InitFacts, init_model, read_init
from edgeres.train.inputs import load_data, sample
from edgeres.train.loader import Amp, amp_plan
from edgeres.train.schedule import Schedule, plan_schedule

RUN_FILES = ("model.pt", RESUME_CHECKPOINT, "metrics.json", "history.csv")


QAT_FILES = ("model_int8.onnx", "model_int8.tflite", "model_int8_report.json")


@dataclass
class Run:
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
    train_set: Source
    eval_set: Source  # picks the best epoch: the held-out share, else the test split
    test_set: Source
    workers: int  # data worker processes of this rank
    amp: Amp
    history: list[dict[str, Any]]
    best: dict[str, Any]
    seconds: float
    init: InitFacts | None = None
    best_qat_state: dict[str, Any] | None = None  # the QAT graph at the best epoch
    teacher: nn.Module | None = None  # --teacher: frozen, takes the student's input tensor

    def float_model(self) -> nn.Module:
        """What model.pt holds: the network, or the QAT graph's weights in its architecture."""
        return self.model.float_model() if self.cfg.qat else self.model


def start_run(cfg: TrainConfig, ctx: DistContext) -> Run:
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
    check_input_size(cfg.model, size)
    splits = load_data(cfg, size, ctx)
    train_set, val_set, test_set = splits.train, splits.val, splits.test
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
        qat=cfg.qat, world_size=ctx.world_size, finetune=cfg.init is not None,
    )  # fmt: skip
    opt, sched = _optimizer(model, cfg, plan.total_steps)
    state = _resume_state(cfg, model, opt, sched) if cfg.resume else {}
    net = model
    if ctx.enabled:
        ids = [ctx.local_rank] if device.type == "cuda" else None
        net = nn.parallel.DistributedDataParallel(model, device_ids=ids)
    return Run(
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
        workers=splits.workers,
        amp=amp_plan(cfg.amp, device),
        history=list(state.get("history", [])),
        best=dict(state.get("best", {"val_accuracy": -1.0, "epoch": 0})),
        seconds=float(state.get("seconds", 0.0)),
        init=init,
        teacher=_teacher(cfg, train_set.classes, spec, device),
    )


def _teacher(cfg: TrainConfig, classes, spec: InputSpec, device: torch.device):
    if cfg.teacher is None:
        return None
    from edgeres.train.distill import load_teacher

    return load_teacher(cfg.teacher, tuple(classes), spec).to(device)


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
    for p in (cfg.out, *cfg.out.parents):  # a file there: an os.mkdir traceback otherwise
        if p.exists():
            if not p.is_dir():
                raise ParamError(
                    "out", f"'{shown(cfg.out)}' cannot be a run folder: '{shown(p)}' is a file"
                )
            break
    existing = [f for f in RUN_FILES + QAT_FILES if (cfg.out / f).exists()]
    if cfg.resume:
        if not (cfg.out / RESUME_CHECKPOINT).exists():
            raise UsageError(f"--resume: '{cfg.out}' holds no interrupted run (no last.pt)")
    elif existing and not cfg.force:
        # A --qat run cannot be resumed (its fake-quantized state is not in last.pt).
        again = (
            "pass --force to train it again from the start"
            if cfg.qat
            else "pass --resume to continue it, --force to replace it"
        )
        raise OutputExistsError(
            f"'{shown(cfg.out)}' already holds a run ({', '.join(existing)}); {again}, "
            "or choose another --out"
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


def _optimizer(model: nn.Module, cfg: TrainConfig, steps: int):
    params = [p for p in model.parameters() if p.requires_grad]  # --freeze-backbone: the head
    decay = [p for p in params if p.ndim > 1]
    no_decay = [p for p in params if p.ndim <= 1]
    groups = [
        {"params": decay, "weight_decay": cfg.weight_decay},
        {"params": no_decay, "weight_decay": 0.0},
    ]
    opt = torch.optim.SGD(groups, lr=cfg.lr, momentum=0.9, nesterov=True)
    sched = torch.optim.lr_scheduler.OneCycleLR(
        opt, max_lr=cfg.lr, total_steps=max(1, steps), pct_start=0.2, div_factor=10.0
    )
    return opt, sched


def _resume_state(cfg: TrainConfig, model: nn.Module, opt, sched) -> dict[str, Any]:
    ckpt = load_checkpoint(cfg.out / RESUME_CHECKPOINT)
    state = ckpt.train_state or {}
    saved = {"augment": "crop,flip", **state.get("config", {})}  # older runs: crop,flip
    if saved.get("qat"):
        raise UsageError(
            f"--resume: '{shown(cfg.out)}' holds an interrupted --qat run, which cannot be "
            "resumed; pass --qat --force to train it again from the start"
        )
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


def to_tensor(images: np.ndarray, spec: InputSpec, device: torch.device) -> torch.Tensor:
    """uint8 BGR images as the normalised NCHW tensor (channels_last memory) the network takes."""
    # Normalise in NHWC and view as NCHW: that is exactly torch's channels_last memory format.
    x = torch.from_numpy(spec.with_layout("NHWC").normalize(images)).permute(0, 3, 1, 2)
    return x.to(device, non_blocking=True)


def build_model(cfg: TrainConfig, ckpt, classes) -> tuple[nn.Module, dict[str, Any], Any]:
    """A fresh network, or one holding the ``--init`` checkpoint's weights."""
    if ckpt is None:
        model_args = {"num_classes": len(classes), **cfg.model_args}
        return create_model(cfg.model, **model_args), model_args, None
    return init_model(ckpt, cfg.init, tuple(classes), cfg.model_args, cfg.qat, cfg.freeze_backbone)


def qat_model(model: nn.Module, spec: InputSpec, cfg: TrainConfig, data: Source, device):
    """The fake-quantized network of the equalized ``model`` (``quantize.equalize``: the same
    function, channels whose ranges INT8 can hold), its ranges first set from a few training
    batches."""
    from edgeres.quantize.equalize import equalize
    from edgeres.train.qat import QATNet

    model = model.cpu().eval()
    # ReLU6 kept: model.pt holds the architecture by name, which has ReLU6, so QAT must train it
    equalize(model, relu6="keep")
    qat = QATNet(model, spec, per_channel=not cfg.per_tensor).to(device)
    rng = np.random.default_rng([cfg.seed, 11])
    idx = rng.permutation(len(data))[: 4 * min(cfg.batch_size, 64)]
    qat.observe(
        to_tensor(sample(data, np.sort(chunk)), spec, device) for chunk in np.array_split(idx, 4)
    )
    return qat


def plan_text(run) -> str:
    """The plan line(s): sizes, epochs, steps, time from one timed step, augmentation, --init."""
    lines = [run.plan.describe(seconds_per_step(run))]
    lines.append(
        f"augment: {run.cfg.augment}; lr {run.cfg.lr:g}; best epoch picked on "
        f"{'the held-out share' if run.eval_set is not run.test_set else 'the test split'}"
    )
    if run.init is not None:
        lines.append(run.init.describe())
    if run.teacher is not None:
        lines.append(
            f"distilling from {shown(run.cfg.teacher)}: weight {run.cfg.distill_weight:g}, "
            f"temperature {run.cfg.distill_temperature:g}"
        )
    return "\n".join(lines)


def seconds_per_step(run) -> float | None:
    """One forward/backward pass on a copy of the network, timed after a warm-up pass."""
    n = min(len(run.train_set), max(1, run.cfg.batch_size // run.ctx.world_size))
    model = run.model if run.cfg.qat else copy.deepcopy(run.model)
    saved = copy.deepcopy(model.state_dict()) if run.cfg.qat else None
    x = to_tensor(sample(run.train_set, np.arange(n)), run.spec, run.device)
    model.train()
    times = []
    for _ in range(2):
        t0 = time.perf_counter()
        with run.amp.autocast(run.device):
            out = model(x)
        out.float().logsumexp(1).mean().backward()
        times.append(time.perf_counter() - t0)
    model.zero_grad(set_to_none=True)
    if saved is not None:
        model.load_state_dict(saved)  # the timing passes moved the QAT ranges: put them back
    return times[-1]
