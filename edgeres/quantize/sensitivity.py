"""Per-layer quantization error, whatever the format: one record per layer and the ranking.

Each format measures its own layers (``quantize.onnx.layers`` on a QDQ graph,
``quantize.tflite.float_layers`` on a TFLite file) and returns :class:`LayerError` rows; the
report and the float-layer fallback read only these.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

# Layers a quantization report names by their error, worst first.
WORST_LAYERS = 5


@dataclass(frozen=True)
class LayerError:
    """Signal-to-quantization-noise ratio of one layer output.

    Attributes:
        tensor: ONNX tensor name.
        layer: PyTorch module path when the exporter recorded it, else the ONNX node name.
        op: ONNX op type.
        sqnr_db: ``10 log10(sum(fp32^2) / sum((fp32 - int8)^2))``; higher is better.
        rel_error: ``||fp32 - int8|| / ||fp32||``.
        after: Tensor of the nearest measured layer its input comes from (None: the graph input).
    """

    tensor: str
    layer: str
    op: str
    sqnr_db: float
    rel_error: float
    after: str | None = None

    def to_dict(self) -> dict:
        return asdict(self)


# SQNR of the network input, as the first layer sees it: int8 input noise is about 48 dB down.
INPUT_SQNR_DB = 48.0


def rank_by_loss(errors: list[LayerError]) -> list[tuple[LayerError, float]]:
    """Layers ordered by the SQNR each one loses, most sensitive first, with that loss in dB.

    The SQNR of a layer includes the noise of every layer before it, so a layer's own harm is the
    drop from the layer its input comes from (``LayerError.after``). Ties go to the lower SQNR.
    """
    sqnr = {e.tensor: e.sqnr_db for e in errors}
    ranked = []
    for e in errors:
        # A float layer (99 dB) is no higher baseline than the int8 network input.
        before = min(sqnr.get(e.after, INPUT_SQNR_DB) if e.after else INPUT_SQNR_DB, INPUT_SQNR_DB)
        ranked.append((e, round(before - e.sqnr_db, 2)))
    return sorted(ranked, key=lambda pair: (-pair[1], pair[0].sqnr_db))
