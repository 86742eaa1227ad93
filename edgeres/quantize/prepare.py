"""The FP32 network made easier to round, before either quantizer sees it.

Cross-layer equalization (``equalize``) then empirical bias correction (``bias``), on the PyTorch
network of a checkpoint source; the function it computes stays the same up to float rounding
(equalization) or moves toward what the INT8 file will compute (bias correction). An ONNX source
has no PyTorch network and is quantized as it is.
"""

from __future__ import annotations

from typing import Any

from edgeres.quantize.calib import calibration_batches
from edgeres.quantize.options import QuantOptions
from edgeres.spec import ModelInfo

# Calibration samples bias correction averages over: a mean per channel needs few.
BIAS_SAMPLES = 64


def prepare_network(model, info: ModelInfo, opts: QuantOptions) -> dict[str, Any]:
    """Equalize ``model`` (eval mode) in place and correct its biases for ``opts``' weight
    rounding on the calibration data; returns what was done, for the report."""
    from edgeres.quantize.bias import correct_biases
    from edgeres.quantize.equalize import equalize

    model.eval()
    done = equalize(model)
    batches = calibration_batches(
        opts.calib, info.spec, min(opts.samples, BIAS_SAMPLES), quiet=True
    )
    layers = correct_biases(model, batches, opts.per_channel)
    return {**done, "bias_corrected_layers": layers}
