"""A pre-resized cache (``--cache DIR``): a split decoded once at the training size, memory-mapped.

Layout, in ``DIR``: ``<h>x<w>-<key>.npy`` (an ``N x H x W x 3`` uint8 array, numpy's own format)
and ``<h>x<w>-<key>.json`` (the manifest: key, count, shape, the unreadable indices, the source).
The key is a SHA-256 of the source's identity (every file's name, size and modification time
and its label, or the shapes seed and split, or the CIFAR batch files) with the image size, the
resize rule and this format's version: a changed folder or another size gets another file name,
so a cache is never used for data it was not made from.

Written atomically: the array is filled under ``<stem>.tmp-<pid>.npy`` (space reserved first
with ``posix_fallocate``, so a full disk is an error up front, never a crash mid-write), then
renamed, then the manifest is written and renamed last. A killed build leaves a temp file
(removed by the next build) and no manifest: nothing a later run trusts. A manifest or array
that cannot be read, or that disagrees with the key, count or shape, is rebuilt with a note.
A disk without room (or a folder that cannot be written) falls back to streaming with one
warning.
"""

from __future__ import annotations

import errno
import hashlib
import json
import os
from pathlib import Path
from typing import Any

import numpy as np

from edgeres.data.common import log
from edgeres.data.sources import ArraySource, Source
from edgeres.data.stream import batch_indices, read_batches
from edgeres.fileio import DiskFullError, atomic_write_text
from edgeres.progress import progress
from edgeres.text import shown

VERSION = 1
_BATCH = 256


def cache_key(src: Source) -> str:
    """The hex SHA-256 of what the cached pixels depend on."""
    what = {"version": VERSION, "size": list(src.size), "resize": "InputSpec.resize_image"}
    what["source"] = src.identity()
    return hashlib.sha256(json.dumps(what, sort_keys=True).encode()).hexdigest()


def cache_paths(folder: Path, src: Source) -> tuple[Path, Path, str]:
    """``(array, manifest, key)`` of ``src``'s cache in ``folder``."""
    key = cache_key(src)
    stem = folder / f"{src.size[0]}x{src.size[1]}-{key[:20]}"
    return stem.with_suffix(".npy"), stem.with_suffix(".json"), key


def _open(npy: Path, manifest: Path, key: str, src: Source) -> ArraySource | None:
    """The cache if it is complete and matches; ``None`` (with a note if one was there)."""
    if not manifest.exists():
        return None
    try:
        doc = json.loads(manifest.read_text())
        images = np.load(npy, mmap_mode="r")
        want = [len(src), *src.size, 3]
        if doc.get("key") != key or doc.get("shape") != want:
            raise ValueError("it was made from other data or at another size")
        if list(images.shape) != want or images.dtype != np.uint8:
            raise ValueError(f"its array is {images.dtype} {list(images.shape)}, not uint8 {want}")
        valid = np.ones(len(src), dtype=bool)
        bad = np.asarray(doc.get("unreadable", []), dtype=np.int64)
        if bad.ndim != 1 or ((bad < 0) | (bad >= len(src))).any():  # -1 would mark the last
            raise ValueError("its list of unreadable images names images it does not hold")
        valid[bad] = False
    except (OSError, ValueError, TypeError, KeyError, AttributeError, OverflowError,
            RecursionError) as e:  # fmt: skip
        log.warning(
            "note: the cache '%s' is unusable (%s); rebuilding it", shown(npy), shown(str(e))
        )
        return None
    return ArraySource(src.name, images, src.labels, src.classes, valid)


def _remove_stale(npy: Path) -> None:
    for tmp in npy.parent.glob(f"{npy.stem}.tmp-*.npy"):
        try:
            os.kill(int(tmp.suffixes[-2].removeprefix(".tmp-")), 0)  # a build still running
        except (ProcessLookupError, ValueError):
            tmp.unlink(missing_ok=True)
        except PermissionError:
            pass


def _reserve(path: Path, shape: tuple[int, ...]) -> int:
    """Create the ``.npy`` file with its header, reserve its full size; return the data offset."""
    mm = np.lib.format.open_memmap(path, mode="w+", dtype=np.uint8, shape=shape)
    offset = int(mm.offset)
    del mm
    with open(path, "r+b") as f:
        os.posix_fallocate(f.fileno(), 0, offset + int(np.prod(shape)))
    return offset


def _fill(src: Source, tmp: Path, offset: int, workers: int, quiet: bool) -> list[int]:
    """Write every image at its place (plain writes: the cache never maps pages while built)."""
    bad: list[int] = []
    per_image = src.size[0] * src.size[1] * 3
    bar = progress(total=len(src), quiet=quiet, desc="caching images", unit="img", delay=1.0)
    with bar, open(tmp, "r+b") as f:
        for batch in read_batches(src, batch_indices(len(src), _BATCH), workers=workers):
            os.pwrite(f.fileno(), batch.images.tobytes(), offset + int(batch.index[0]) * per_image)
            bad += batch.index[~batch.ok].tolist()
            bar.update(len(batch.index))
        f.flush()
        os.fsync(f.fileno())
    return bad


def _build(src: Source, npy: Path, manifest: Path, key: str, workers: int, quiet: bool) -> None:
    npy.parent.mkdir(parents=True, exist_ok=True)
    _remove_stale(npy)
    tmp = npy.with_name(f"{npy.stem}.tmp-{os.getpid()}.npy")
    try:
        offset = _reserve(tmp, (len(src), *src.size, 3))
        bad = _fill(src, tmp, offset, workers, quiet)
        os.replace(tmp, npy)
    finally:
        tmp.unlink(missing_ok=True)
    doc: dict[str, Any] = {"key": key, "version": VERSION, "shape": [len(src), *src.size, 3]}
    doc.update(source=src.name, unreadable=bad)
    atomic_write_text(manifest, json.dumps(doc))


def cached(src: Source, folder: str | Path, *, workers: int = 0, quiet: bool = False) -> Source:
    """``src`` from its pre-resized cache in ``folder``, built first if missing or unusable.

    Returns ``src`` itself (streaming) when the cache cannot be written: no room on the disk,
    a read-only folder; one warning says so.
    """
    npy, manifest, key = cache_paths(Path(folder), src)
    found = _open(npy, manifest, key, src)
    if found is not None:
        return found
    try:
        manifest.unlink(missing_ok=True)  # an unusable one: never trusted, even if this fails
        _build(src, npy, manifest, key, workers, quiet)
    except (OSError, DiskFullError) as e:
        full = isinstance(e, DiskFullError) or e.errno in (errno.ENOSPC, errno.EDQUOT)
        why = "no space left on the disk" if full else str(e)
        log.warning(
            "warning: cannot write the cache in '%s' (%s); streaming the images instead",
            shown(folder), shown(why),
        )  # fmt: skip
        return src
    opened = _open(npy, manifest, key, src)
    assert opened is not None, "a cache just written must open"
    return opened
