"""Setting a run up: the network (fresh, from ``--init``, or fake-quantized), the tensors it eats,
and the plan printed before the first epoch (with the time of one measured step).
"""

from __future__ import annotations

import copy
import time
from typing import Any

import numpy as np
import torch
from torch import nn

from edgeres.data import ImageSet
from edgeres.models import create_model
from edgeres.spec import InputSpec
from edgeres.train.config import TrainConfig
from edgeres.train.init import init_model


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
    return init_model(ckpt, cfg.init, tuple(classes), cfg.model_args, cfg.qat)


def qat_model(model: nn.Module, spec: InputSpec, cfg: TrainConfig, data: ImageSet, device):
    """The fake-quantized network, its ranges first set from a few training batches."""
    from edgeres.train.qat import QATNet

    qat = QATNet(model.cpu().eval(), spec, per_channel=not cfg.per_tensor).to(device)
    rng = np.random.default_rng([cfg.seed, 11])
    idx = rng.permutation(len(data))[: 4 * min(cfg.batch_size, 64)]
    qat.observe(
        to_tensor(data.images[np.sort(chunk)], spec, device) for chunk in np.array_split(idx, 4)
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
    return "\n".join(lines)


def seconds_per_step(run) -> float | None:
    """One forward/backward pass on a copy of the network, timed after a warm-up pass."""
    n = min(len(run.train_set), max(1, run.cfg.batch_size // run.ctx.world_size))
    model = run.model if run.cfg.qat else copy.deepcopy(run.model)
    saved = copy.deepcopy(model.state_dict()) if run.cfg.qat else None
    x = to_tensor(run.train_set.images[:n], run.spec, run.device)
    model.train()
    times = []
    for _ in range(2):
        t0 = time.perf_counter()
        model(x).float().logsumexp(1).mean().backward()
        times.append(time.perf_counter() - t0)
    model.zero_grad(set_to_none=True)
    if saved is not None:
        model.load_state_dict(saved)  # the timing passes moved the QAT ranges: put them back
    return times[-1]
