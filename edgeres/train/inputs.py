"""The training run's data: splits opened by index, held in memory, cached or streamed, and
scored in shards (every rank a disjoint part, counted once over all ranks).

``--cache`` decides where the training images live: ``memory`` decodes each split once into RAM,
a folder keeps a pre-resized memory-mapped copy there (``edgeres.data.cache``), ``none`` decodes
every epoch in the workers. By default a split that fits in ``IN_MEMORY_BYTES`` at the training
size (64 MB) is held in memory (the built-in shapes at 32 px: 61 MB), anything larger streams.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from edgeres.data import open_split
from edgeres.data.common import log
from edgeres.data.sources import ArraySource, Source, SubsetSource
from edgeres.data.stream import (
    available_cores,
    batch_indices,
    fits_in_memory,
    read_all,
    resolve_workers,
)
from edgeres.errors import DataError, UsageError
from edgeres.spec import InputSpec
from edgeres.text import shown
from edgeres.train.config import TrainConfig
from edgeres.train.distributed import DistContext
from edgeres.train.loader import iterate, to_device, worker_errors

MEMORY, NONE = "memory", "none"
EVAL_BATCH = 256


@dataclass
class Splits:
    train: Source
    val: Source | None
    test: Source
    workers: int


def _hold(src: Source, cfg: TrainConfig, ctx: DistContext, workers: int, quiet: bool) -> Source:
    """``src`` in memory, from its cache, or as it is (streamed), as ``--cache`` asks."""
    mode = cfg.cache
    if mode is None:
        mode = MEMORY if fits_in_memory(src) else NONE
    if mode == NONE:
        return src
    if mode == MEMORY:
        images, ok = read_all(src, workers=workers, quiet=quiet, desc="reading images")
        return ArraySource(src.name, images, src.labels, src.classes, ok)
    from edgeres.data.cache import cached

    if ctx.is_main:  # rank 0 builds; the others then open it (or build their node's own)
        src_c = cached(src, mode, workers=workers, quiet=quiet)
    ctx.barrier()
    if not ctx.is_main:
        src_c = cached(src, mode, workers=workers, quiet=True)
    return src_c


def _default_workers(cfg: TrainConfig, ctx: DistContext) -> int:
    if cfg.workers is not None:
        return resolve_workers(cfg.workers)
    if cfg.cache == MEMORY:
        return 0
    return max(0, min(4, available_cores() // ctx.world_size - 1))


def load_data(cfg: TrainConfig, size: int, ctx: DistContext) -> Splits:
    """Open the splits (nothing decoded yet), hold them as ``--cache`` says, split off ``val``."""
    quiet = cfg.quiet or not ctx.is_main
    train = open_split(cfg.data, "train", size, limit=cfg.limit)
    test = open_split(cfg.data, "test", size, limit=cfg.eval_limit)
    if tuple(test.classes) != tuple(train.classes):
        raise UsageError(
            f"train and test splits of '{shown(cfg.data)}' have different classes "
            f"({len(train.classes)} vs {len(test.classes)}); every split needs the same class folders"
        )
    workers = _default_workers(cfg, ctx)
    train, test = (_hold(s, cfg, ctx, workers, quiet) for s in (train, test))
    if isinstance(train, ArraySource) and cfg.workers is None:
        workers = 0  # nothing to decode: the training process augments its own batches
    train, val = split_val(train, cfg.val_fraction, cfg.seed)
    return Splits(train, val, test, workers)


def split_val(data: Source, fraction: float, seed: int) -> tuple[Source, Source | None]:
    """Hold out ``fraction`` of the training split (by seed) to pick the best epoch."""
    n_val = int(len(data) * fraction)
    if n_val < 10:
        return data, None
    perm = np.random.default_rng([seed, 7]).permutation(len(data))
    return SubsetSource(data, np.sort(perm[n_val:])), SubsetSource(data, np.sort(perm[:n_val]))


def sample(src: Source, index: np.ndarray) -> np.ndarray:
    """A few images of ``src`` in memory (QAT's range setting, the timed step)."""
    images, ok = src.read_batch(np.asarray(index, dtype=np.int64))
    return images[ok]


@torch.no_grad()
def evaluate_source(
    model: nn.Module,
    src: Source,
    spec: InputSpec,
    device,
    ctx: DistContext,
    workers: int = 0,
    batch: int = EVAL_BATCH,
) -> tuple[float, float]:
    """Mean loss and top-1 accuracy over ``src``: each rank scores the images ``rank::world``
    and the sums are added over ranks, so every image counts exactly once."""
    model.eval()
    mine = np.arange(ctx.rank, len(src), ctx.world_size)
    batches = [mine[b] for b in batch_indices(len(mine), batch)]
    loss_sum = correct = seen = skipped = 0.0
    with worker_errors():
        for images, labels, bad in iterate(src, batches, device, workers):
            skipped += bad
            if not len(labels):
                continue
            logits = model(to_device(images, spec, device)).float()
            y = labels.to(device)
            loss_sum += float(F.cross_entropy(logits, y, reduction="sum"))
            correct += int((logits.argmax(1) == y).sum())
            seen += len(labels)
    loss_sum, correct, seen, skipped = ctx.all_sum([loss_sum, correct, seen, skipped])
    if seen == 0:
        raise DataError(f"none of the {len(src)} images of '{shown(src.name)}' could be read")
    if skipped and ctx.is_main:
        log.warning("warning: %d unreadable images left out of the score", int(skipped))
    return loss_sum / seen, correct / seen
