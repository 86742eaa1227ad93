"""Multiply-accumulates of one inference, counted from the model file's graph.

Convolutions and matrix products are counted (``output elements x kernel elements x input
channels per group``); element-wise ops, pooling and activations are not, the same convention as
``edgeres.models.count_macs``. A count embedded by the converter (``ModelInfo.extra["macs"]``)
wins; else each format's own counter reads the graph (``Format.count_macs``): TFLite through
LiteRT's interpreter, ONNX through the ``onnx`` package when installed (a device install may lack
it: the MACs are then reported unknown), a checkpoint by running its model once with hooks.
"""

from __future__ import annotations

from pathlib import Path

from edgeres.formats import FORMATS


def count_macs(path: str | Path, fmt: str, extra: dict | None = None) -> tuple[int | None, str]:
    """MACs per image of a model file, and how they were obtained.

    Returns:
        ``(macs, source)``; ``macs`` is ``None`` when they cannot be counted here, and ``source``
        says why.
    """
    extra = extra or {}
    if isinstance(extra.get("macs"), int) and extra["macs"] > 0:
        return extra["macs"], "embedded by edgeres convert"
    if fmt not in FORMATS:
        return None, f"unknown: no graph counter for format {fmt}"
    try:
        return FORMATS[fmt].count_macs(Path(path))
    except Exception as e:  # a count is a nice-to-have: never fail a benchmark over it
        return None, f"unknown: could not read the graph ({type(e).__name__}: {e})"
