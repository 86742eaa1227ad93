"""Calibration samples streamed from ``edgeres.data.calibration`` in the batch size a graph takes."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np

from edgeres.errors import DataError
from edgeres.spec import InputSpec
from edgeres.text import shown

# ORT calibrators keep every output of one collect_data() call in memory: collecting in chunks of
# this many model runs keeps memory flat however many samples are asked for.
CHUNK = 32


def calibration_batches(
    calib: str | Path | None,
    spec: InputSpec,
    samples: int,
    *,
    quiet: bool = False,
    desc: str = "calibrate",
) -> Iterator[np.ndarray]:
    """Float batches in ``spec.layout``, ``samples`` in all, streamed (never all in memory).

    Raises:
        DataError: The source is missing, empty, unreadable or holds fewer than ``samples``.
    """
    from edgeres.data.calibration import default_calibration_source, iter_calibration
    from edgeres.progress import progress

    source = default_calibration_source() if calib is None else calib
    seen = 0
    bar = progress(total=samples, quiet=quiet, desc=desc, unit="img")
    try:
        for batch in iter_calibration(str(source), spec, samples, batch_size=CHUNK, quiet=True):
            batch = np.asarray(batch, dtype=np.float32)[: samples - seen]
            seen += len(batch)
            bar.update(len(batch))
            yield batch
            if seen >= samples:
                break
    finally:
        bar.close()
    if seen < samples:
        raise DataError(
            f"calibration source '{shown(source)}' gave {seen} samples but {samples} are needed; "
            f"add images or pass --samples {max(seen, 1)} or fewer"
        )


def rebatch(batches: Iterator[np.ndarray], size: int | None) -> Iterator[np.ndarray]:
    """Split batches into pieces of ``size`` (a graph's fixed batch); ``None`` passes them through."""
    for batch in batches:
        if size is None:
            yield batch
            continue
        for i in range(0, len(batch) - size + 1, size):
            yield batch[i : i + size]


def streaming_reader(stream: Iterator[np.ndarray], input_name: str, runs: int):
    """A ``StreamingReader`` (ONNX Runtime imported only when quantizing ONNX)."""
    from onnxruntime.quantization import CalibrationDataReader

    class _Reader(StreamingReader, CalibrationDataReader):
        pass

    return _Reader(stream, input_name, runs)


class StreamingReader:
    """An ONNX Runtime ``CalibrationDataReader`` over a stream, fed in chunks of ``CHUNK`` runs.

    ``quantize_static`` with ``CalibStridedMinMax`` asks ``len()`` and calls ``set_range`` per
    chunk; every calibrator then merges its statistics between chunks, so only one chunk of
    activations is ever held. ``len()`` is rounded up to whole chunks; the last chunk simply ends
    early when the stream does.
    """

    def __init__(self, stream: Iterator[np.ndarray], input_name: str, runs: int) -> None:
        self._stream = stream
        self._name = input_name
        self._len = -(-runs // CHUNK) * CHUNK
        self._left = runs

    def __len__(self) -> int:
        return self._len

    def set_range(self, start_index: int, end_index: int) -> None:
        self._left = end_index - start_index

    def get_next(self) -> dict[str, np.ndarray] | None:
        if self._left <= 0:
            return None
        batch = next(self._stream, None)
        if batch is None:
            return None
        self._left -= 1
        return {self._name: batch}

    def rewind(self) -> None:  # part of ORT's reader protocol; a stream is read once
        pass
