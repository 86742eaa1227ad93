"""Reading a ``Source`` in batches with a small pool of worker processes (no torch).

The device side (``eval``, ``predict``, ``quantize --eval-data``, ``benchmark --data``) has no
torch and so no ``DataLoader``: ``read_batches`` keeps at most ``workers x prefetch`` batches in
flight in a process pool and yields them in order, so memory is bounded by the batch size and
the prefetch depth, never by the number of images. ``workers=0`` reads in this process.

An unreadable image is flagged in the batch's mask (and warned about by the process that read
it); a worker that dies (killed, out of memory) ends the run with one ``DataError``, never a hang.
"""

from __future__ import annotations

import multiprocessing
import os
import signal
from collections import deque
from collections.abc import Iterable, Iterator
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass

import cv2
import numpy as np

from edgeres.data.common import log, max_image_pixels, set_max_image_pixels
from edgeres.data.sources import Source
from edgeres.errors import DataError, UsageError
from edgeres.progress import progress

PREFETCH = 2  # batches in flight per worker
# Splits up to this size (decoded, at the size asked) may be held in memory by readers that
# pass over them many times (training epochs, quantization's repair loop); larger ones stream.
IN_MEMORY_BYTES = 64 << 20
_WORKER: dict[str, Source] = {}


def available_cores() -> int:
    """The cores this process may run on (its affinity mask, else the machine's count)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - macOS, Windows
        return os.cpu_count() or 1


def fits_in_memory(source: Source) -> bool:
    """Whether ``source`` decoded is at most ``IN_MEMORY_BYTES``."""
    return len(source) * source.size[0] * source.size[1] * 3 <= IN_MEMORY_BYTES


def resolve_workers(workers: int | None, flag: str = "--workers") -> int:
    """The data worker processes to start: ``workers`` capped at the cores, with a note.

    ``None`` picks ``min(4, cores - 1)``: on 2 cores one worker decodes while one core computes.
    """
    cores = available_cores()
    if workers is None:
        return max(0, min(4, cores - 1))
    if workers < 0:
        raise UsageError(f"{flag} must be 0 (read in this process) or more, got {workers}")
    if workers > cores:
        log.warning(
            "note: %s %d is more than the %d cores here; using %d", flag, workers, cores, cores
        )
        return cores
    return workers


@dataclass
class Batch:
    """Images ``index`` of a source, decoded; ``ok`` is False where a file could not be read."""

    index: np.ndarray
    images: np.ndarray
    ok: np.ndarray

    @property
    def skipped(self) -> int:
        return int((~self.ok).sum())

    def kept(self, labels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The readable images and their labels."""
        if self.ok.all():
            return self.images, labels[self.index]
        return self.images[self.ok], labels[self.index[self.ok]]


def _init_worker(source: Source, max_pixels: int) -> None:
    # Ctrl-C reaches the whole process group: the main process stops the pool; a worker that
    # took it too would print a KeyboardInterrupt traceback of its own.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    cv2.setNumThreads(1)  # the workers are the parallelism; one OpenCV thread each
    set_max_image_pixels(max_pixels)  # --max-image-pixels, which a fresh process has not seen
    _WORKER["source"] = source


def _read_in_worker(index: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    return _WORKER["source"].read_batch(index)


def _pool_context():
    # forkserver: the workers fork from a clean process, not from this one's engine threads
    # (ONNX Runtime, XNNPACK), whose locks a fork could copy in a held state.
    methods = multiprocessing.get_all_start_methods()
    return multiprocessing.get_context("forkserver" if "forkserver" in methods else "spawn")


def _worker_died() -> DataError:
    return DataError(
        "a data worker process stopped unexpectedly (killed, or out of memory?); run again, "
        "or pass --workers 0 to read the data in this process"
    )


def read_batches(
    source: Source, batches: Iterable[np.ndarray], *, workers: int = 0, prefetch: int = PREFETCH
) -> Iterator[Batch]:
    """Read each index array of ``batches`` from ``source``, in order.

    Args:
        source: What to read.
        batches: Index arrays, one per batch (e.g. ``np.array_split`` of a permutation).
        workers: Worker processes (0: read here). Already capped by ``resolve_workers``.
        prefetch: Batches in flight per worker.

    Raises:
        DataError: A worker process died.
    """
    if workers <= 0:
        for index in batches:
            index = np.asarray(index, dtype=np.int64)
            yield Batch(index, *source.read_batch(index))
        return
    pool = ProcessPoolExecutor(
        workers,
        mp_context=_pool_context(),
        initializer=_init_worker,
        initargs=(source, max_image_pixels()),
    )
    pending: deque[tuple[np.ndarray, Future]] = deque()
    todo = iter(batches)
    try:
        while True:
            while len(pending) < workers * prefetch:
                index = next(todo, None)
                if index is None:
                    break
                index = np.asarray(index, dtype=np.int64)
                pending.append((index, pool.submit(_read_in_worker, index)))
            if not pending:
                return
            index, future = pending.popleft()
            yield Batch(index, *future.result())
    except BrokenProcessPool:
        raise _worker_died() from None
    finally:
        for _, f in pending:
            f.cancel()
        pool.shutdown(wait=True, cancel_futures=True)


def read_all(
    source: Source, *, workers: int = 0, quiet: bool = False, desc: str = "reading images"
) -> tuple[np.ndarray, np.ndarray]:
    """Every image of ``source`` in one array (for small sets), and the mask of readable ones."""
    images = np.empty((len(source), *source.size, 3), dtype=np.uint8)
    ok = np.ones(len(source), dtype=bool)
    bar = progress(total=len(source), quiet=quiet, desc=desc, unit="img", delay=1.0)
    with bar:
        for batch in read_batches(source, batch_indices(len(source), 1000), workers=workers):
            images[batch.index], ok[batch.index] = batch.images, batch.ok
            bar.update(len(batch.index))
    return images, ok


def batch_indices(count: int, batch_size: int) -> list[np.ndarray]:
    """``0 .. count`` in order, cut into batches of ``batch_size`` (the last one shorter)."""
    if batch_size < 1:
        raise UsageError(f"batch size must be >= 1, got {batch_size}")
    return [np.arange(i, min(i + batch_size, count)) for i in range(0, count, batch_size)]


class LazyImages:
    """A source's images as an array-like: ``len``, ``shape``, ``[i]`` and ``[a:b]`` decode on
    demand. An unreadable image reads as black; ``StreamSet.bad`` lists it."""

    def __init__(self, owner: StreamSet) -> None:
        self._owner = owner
        src = owner.src
        self.shape = (len(src), *src.size, 3)
        self.dtype = np.dtype(np.uint8)
        self.ndim = 4

    def __len__(self) -> int:
        return self.shape[0]

    def __getitem__(self, key):
        if isinstance(key, (int, np.integer)):
            return self[np.array([int(key)])][0]
        index = np.arange(len(self))[key] if isinstance(key, slice) else np.asarray(key)
        images, ok = self._owner.src.read_batch(index)
        self._owner.note_bad(index[~ok])
        return images


class StreamSet:
    """An ``ImageSet`` that is not in memory: labels and classes now, images when read.

    ``images`` is a ``LazyImages``; ``batches`` reads in order with worker processes. Images
    found unreadable are collected in ``bad`` (indices), so a scorer can leave them out.
    """

    def __init__(self, src: Source, workers: int = 0) -> None:
        self.src, self.workers = src, workers
        self.labels, self.classes, self.source = src.labels, src.classes, src.name
        self.bad: set[int] = set()
        self.images = LazyImages(self)

    def __len__(self) -> int:
        return len(self.src)

    @property
    def skipped(self) -> int:
        return len(self.bad)

    @property
    def size(self) -> tuple[int, int]:
        return self.src.size

    def note_bad(self, index: np.ndarray) -> None:
        self.bad.update(int(i) for i in index)

    def batches(
        self, batch_size: int, *, quiet: bool = True, desc: str = "reading"
    ) -> Iterator[Batch]:
        """Every image in order, ``batch_size`` at a time; a bar in images/s unless ``quiet``."""
        bar = progress(total=len(self), quiet=quiet, desc=desc, unit="img", delay=1.0)
        with bar:
            for batch in read_batches(
                self.src, batch_indices(len(self), batch_size), workers=self.workers
            ):
                self.note_bad(batch.index[~batch.ok])
                bar.update(len(batch.index))
                yield batch
