"""Feeding the network from a ``Source``: DataLoader workers, DDP shards, pinned copies, AMP.

Each optimizer step's images are one index array; a worker process reads, decodes and augments
that whole batch (numpy, vectorised) and hands back uint8 tensors, so memory holds at most
``workers x PREFETCH`` batches whatever the data set's size. The augmentation of batch ``k`` is
seeded by ``(seed, epoch, rank, k)``: the same images, labels and order with any number of
workers. Normalisation runs on the training device, after the (pinned, non-blocking) copy of
the uint8 batch, a quarter of the bytes of a float one.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass
from typing import Any

import cv2
import numpy as np
import torch

from edgeres.data.augment import augment
from edgeres.data.sources import Source
from edgeres.data.stream import PREFETCH
from edgeres.errors import DataError
from edgeres.spec import InputSpec


def shard(count: int, world_size: int, rank: int, seed: int, epoch: int) -> np.ndarray:
    """This rank's share of one epoch's shuffled order (``DistributedSampler``'s rule).

    The order is a permutation seeded by ``(seed, epoch)``, the same on every rank; it is padded
    with its own first indices to a multiple of ``world_size``, then rank ``r`` takes every
    ``world_size``-th index from ``r``. The shards are disjoint up to that padding (fewer than
    ``world_size`` repeats) and together hold every image.
    """
    perm = np.random.default_rng([seed, epoch]).permutation(count)
    pad = (-count) % world_size
    perm = np.concatenate([perm, np.resize(perm, pad)]) if pad else perm
    return perm[rank::world_size]


def step_batches(mine: np.ndarray, per_proc: int, steps: int) -> list[np.ndarray]:
    """``steps`` full batches of ``per_proc`` from a shard (the last partial batch is dropped:
    every rank takes the same number of steps); each sorted, for sequential reads."""
    return [np.sort(mine[s * per_proc : (s + 1) * per_proc]) for s in range(steps)]


class _Batches(torch.utils.data.Dataset):
    """Batch ``k`` = the images of index array ``k``, readable ones only, augmented if asked."""

    def __init__(self, src: Source, batches: list[np.ndarray], augs=(), key=()) -> None:
        self.src, self.batches, self.augs, self.key = src, batches, tuple(augs), tuple(key)

    def __len__(self) -> int:
        return len(self.batches)

    def __getitem__(self, k: int):
        index = self.batches[k]
        images, ok = self.src.read_batch(index)
        if not ok.all():
            images, index = images[ok], index[ok]
        if self.augs and len(index):
            rng = np.random.default_rng([*self.key, k])
            images = augment(images, rng, crop="crop" in self.augs, flip="flip" in self.augs)
        labels = self.src.labels[index]
        return (
            torch.from_numpy(np.ascontiguousarray(images)),
            torch.from_numpy(labels),
            int((~ok).sum()),
        )


def _worker_init(_: int) -> None:
    # OpenCV's thread count is set in the parent before the fork (``_forked_workers``): called
    # here, in a child forked from a process whose OpenCV pool had run, it hangs forever.
    torch.set_num_threads(1)


@contextmanager
def _forked_workers(workers: int) -> Iterator[None]:
    """Fork the DataLoader's workers with OpenCV at one thread: each worker then decodes on one
    thread without touching the pool it would inherit (``cv2.setNumThreads`` in such a child
    waits forever for pool threads the fork did not copy). The parent's count comes back."""
    if not workers:
        yield
        return
    threads = cv2.getNumThreads()
    cv2.setNumThreads(1)
    try:
        yield
    finally:
        cv2.setNumThreads(threads)


def loader_options(device: torch.device, workers: int) -> dict[str, Any]:
    """DataLoader options for ``device``: pinned host memory for a GPU, prefetch with workers."""
    opts: dict[str, Any] = {"num_workers": workers, "pin_memory": device.type == "cuda"}
    if workers:
        opts.update(prefetch_factor=PREFETCH, worker_init_fn=_worker_init)
    return opts


def iterate(
    src: Source, batches: list[np.ndarray], device: torch.device, workers: int, augs=(), key=()
) -> Iterator[tuple[torch.Tensor, torch.Tensor, int]]:
    """``(uint8 NHWC images, labels, skipped)`` per batch, read by ``workers`` processes.

    Raises:
        DataError: A worker process died (killed, out of memory): one line, no hang.
    """
    ds = _Batches(src, batches, augs, key)
    dl = torch.utils.data.DataLoader(ds, batch_size=None, **loader_options(device, workers))
    with _forked_workers(workers):
        it = iter(dl)  # the workers start here
    try:
        with worker_errors():
            yield from it
    finally:
        # Stop the workers now: while they are watched, a later SIGCHLD would raise again.
        stop = getattr(it, "_shutdown_workers", None)
        if stop is not None:
            stop()


@contextmanager
def worker_errors() -> Iterator[None]:
    """A dead DataLoader worker as one ``DataError``. torch raises it from its SIGCHLD handler,
    which may run anywhere in the training process: the loops that consume batches wrap
    themselves in this too."""
    try:
        yield
    except RuntimeError as e:
        if "DataLoader worker" not in str(e):
            raise
        raise DataError(
            "a data worker process stopped unexpectedly (killed, or out of memory?); run again, "
            "or pass --workers 0 to read the data in the training process"
        ) from None


def to_device(images: torch.Tensor, spec: InputSpec, device: torch.device) -> torch.Tensor:
    """A uint8 NHWC batch as the normalised float NCHW (channels_last memory) network input.

    Equal to ``spec.normalize``; done after the copy, on the device, with a non-blocking copy
    from pinned memory on a GPU.
    """
    x = images.to(device, non_blocking=device.type == "cuda")
    if spec.channel_order == "RGB":
        x = x.flip(-1)
    std = torch.tensor(spec.std, dtype=torch.float32, device=device)
    a = (torch.tensor(float(spec.scale), device=device) / std).view(1, 3, 1, 1)
    b = (-torch.tensor(spec.mean, dtype=torch.float32, device=device) / std).view(1, 3, 1, 1)
    # NHWC viewed as NCHW is channels_last memory; the multiply-add keeps that layout.
    return x.permute(0, 3, 1, 2).float() * a + b


@dataclass(frozen=True)
class Amp:
    """Mixed precision for a device: the autocast dtype (None: off) and a GradScaler (fp16)."""

    dtype: torch.dtype | None = None
    scaler: Any = None

    def autocast(self, device: torch.device):
        if self.dtype is None:
            return nullcontext()
        return torch.autocast(device.type, dtype=self.dtype)


def amp_plan(enabled: bool, device: torch.device, bf16_supported: bool | None = None) -> Amp:
    """``--amp``: bf16 on CPUs and on GPUs that have it; fp16 with a loss scaler on older GPUs."""
    if not enabled:
        return Amp()
    if device.type != "cuda":
        return Amp(torch.bfloat16)
    if bf16_supported is None:
        bf16_supported = torch.cuda.is_bf16_supported()
    if bf16_supported:
        return Amp(torch.bfloat16)
    return Amp(torch.float16, torch.amp.GradScaler("cuda"))
