"""``predict`` over any number of images: read in batches by worker processes, scored batch by
batch, each batch's rows written to ``--out`` as it is done.

``--out preds.csv`` or ``preds.jsonl`` is written under ``.<name>.<run>.partial`` beside the
final name (one per run: two runs never share a temporary), flushed after every batch, and
published under the final name when the last image is done, only if that name is still free
(``fileio.publish_one``; ``--force`` replaces): a killed run keeps what it wrote in its partial
file, a second run to one ``--out`` fails with one line instead of replacing the first one's
rows, and nothing half-written ever carries the final name. Images that are named on the command line must be readable (an error otherwise, as
for one image); images found inside a folder that cannot be read are skipped and counted.
"""

from __future__ import annotations

import csv
import os
import secrets
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import numpy as np

from edgeres.errors import DataError, UsageError
from edgeres.fileio import disk_errors, fsync_file, publish_one
from edgeres.runtime.base import Backend, Prediction, topk_predictions
from edgeres.text import csv_cell, json_text, shown

OUT_SUFFIXES = (".csv", ".jsonl")


@dataclass
class PredictStats:
    """What a run did: images scored, skipped as unreadable, and the time it took."""

    images: int = 0
    skipped: int = 0
    seconds: float = 0.0
    out: str | None = None
    results: list[dict[str, Any]] = field(default_factory=list)

    @property
    def images_per_second(self) -> float:
        return self.images / self.seconds if self.seconds > 0 else 0.0

    def to_dict(self) -> dict[str, Any]:
        return {
            "images": self.images,
            "skipped": self.skipped,
            "seconds": round(self.seconds, 4),
            "images_per_second": round(self.images_per_second, 1),
            "out": self.out,
        }


def list_images(paths: tuple[Path, ...]) -> tuple[list[Path], np.ndarray]:
    """The image files to score, and which of them were named (not found in a folder)."""
    from edgeres.data.common import DATASET_EXTS, Skipped, image_files, log_skipped

    files: list[Path] = []
    named: list[bool] = []
    for p in paths:
        if p.is_dir():
            skipped = Skipped()  # one summary line per folder, as the data readers give
            found = image_files(p, DATASET_EXTS, warn_other=True, skipped=skipped)
            log_skipped(skipped, p)
            files += found
            named += [False] * len(found)
        elif p.is_file():
            files.append(p)
            named.append(True)
        else:
            raise DataError(f"image '{shown(p)}' does not exist")
    if not files:
        raise DataError(f"no images found in {', '.join(shown(p) for p in paths)}")
    return files, np.array(named, dtype=bool)


class PredictionWriter:
    """Rows of ``--out`` written as they come, under a partial name until ``close``."""

    def __init__(self, path: Path, topk: int, overwrite: bool = False) -> None:
        if path.suffix.lower() not in OUT_SUFFIXES:
            raise UsageError(f"--out must end in .csv or .jsonl, got '{shown(path)}'")
        self.path, self.topk, self.overwrite = path, topk, overwrite
        run = f"{os.getpid()}-{secrets.token_hex(4)}"
        self.partial = path.with_name(f".{path.name}.{run}.partial")
        self.kind = path.suffix.lower()
        with disk_errors(path):
            path.parent.mkdir(parents=True, exist_ok=True)
            # "x": created by this run alone, never an open of another run's temporary.
            self.file: IO[str] = open(self.partial, "x", newline="", encoding="utf-8")  # noqa: SIM115
        self.csv = csv.writer(self.file) if self.kind == ".csv" else None
        if self.csv is not None:
            head = ["image"] + [f"{c}{k + 1}" for k in range(topk) for c in ("label", "score")]
            self.csv.writerow(head)

    def write(self, rows: list[tuple[str, Prediction]]) -> None:
        with disk_errors(self.path):
            for image, pred in rows:
                if self.csv is not None:
                    cells = [csv_cell(image)]
                    for lab, s in zip(pred.labels, pred.scores, strict=True):
                        cells += [csv_cell(lab), f"{s:.6f}"]
                    self.csv.writerow(cells)
                else:
                    self.file.write(json_text({"image": image, **pred.to_dict()}) + "\n")
            self.file.flush()

    def close(self) -> None:
        with disk_errors(self.path):
            self.file.close()
            fsync_file(self.partial)
            publish_one(self.partial, self.path, self.overwrite)


def _source(files: list[Path], named: np.ndarray, size: tuple[int, int]):
    from edgeres.data.sources import FolderSource

    # Named files are read without a skip warning: their failure is an error instead.
    return FolderSource("predict", files, np.zeros(len(files)), (), size, silent=named)


def _check_named(files: list[Path], named: np.ndarray, index: np.ndarray, ok: np.ndarray) -> None:
    """A named image that could not be read: the one-line error its reader gives."""
    from edgeres.data.common import read_image

    for i in index[~ok]:
        if named[i] and read_image(files[i]) is None:  # raises ImageTooLarge for a bomb
            raise DataError(
                f"'{shown(files[i])}' is not an image OpenCV can read (JPEG, PNG, BMP, "
                "WebP, TIFF...); check the file or convert it"
            )


def predict_batches(
    backend: Backend,
    files: list[Path],
    named: np.ndarray,
    *,
    topk: int,
    batch_size: int = 32,
    workers: int = 0,
    stats: PredictStats | None = None,
) -> Iterator[list[tuple[str, Prediction]]]:
    """``(image, Prediction)`` rows, one list per batch, in file order; ``stats`` counts."""
    from edgeres.data.stream import batch_indices, read_batches

    stats = stats if stats is not None else PredictStats()
    src = _source(files, named, backend.spec.size)
    start = time.perf_counter()
    for batch in read_batches(src, batch_indices(len(files), batch_size), workers=workers):
        _check_named(files, named, batch.index, batch.ok)
        stats.skipped += batch.skipped
        if not batch.ok.any():
            continue
        logits = backend.infer(backend.spec.normalize(batch.images[batch.ok]))
        preds = topk_predictions(logits, backend.info.classes, topk)
        rows = [(str(files[i]), p) for i, p in zip(batch.index[batch.ok], preds, strict=True)]
        stats.images += len(rows)
        stats.seconds = time.perf_counter() - start
        yield rows
    if stats.images == 0:
        raise DataError(f"none of the {len(files)} images could be read ({stats.skipped} skipped)")
