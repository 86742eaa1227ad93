"""Quantization options and the model being quantized."""

from __future__ import annotations

import platform
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from edgeres.errors import UsageError
from edgeres.spec import ModelInfo

METHODS = ("minmax", "entropy", "percentile")
ACTIVATIONS = ("uint8", "int8")
IO_TYPES = ("int8", "float")
DEFAULT_SAMPLES = 300
MIN_SAMPLES = 8


@dataclass(frozen=True)
class QuantOptions:
    """How to quantize; checked on creation, messages name the flag.

    Attributes:
        calib: Calibration source: image folder, ``"shapes"``, a ``.npy`` of preprocessed tensors,
            or ``None`` for the shipped ``calibration_data/`` (``--calib``).
        samples: Calibration samples (``--samples``).
        method: ONNX activation range method (``--method``); TFLite always uses a histogram.
        per_channel: Per-channel weight scales (``--per-tensor`` turns this off).
        activations: ONNX activation type, ``"uint8"`` (x86) or ``"int8"`` (ARM) (from ``--profile``).
        io: TFLite input/output type (``--io``): ``"int8"`` (full integer) or ``"float"``
            (a QUANTIZE op in front and a DEQUANTIZE op behind the integer graph).
        quiet: No progress bars.
    """

    calib: str | Path | None = None
    samples: int = DEFAULT_SAMPLES
    method: str = "minmax"
    per_channel: bool = True
    activations: str = "uint8"
    io: str = "int8"
    quiet: bool = False

    def __post_init__(self) -> None:
        if self.samples < MIN_SAMPLES:
            raise UsageError(
                f"--samples {self.samples} is too few; use at least {MIN_SAMPLES} (default {DEFAULT_SAMPLES})"
            )
        if self.method not in METHODS:
            raise UsageError(f"--method '{self.method}' is not one of {', '.join(METHODS)}")
        if self.activations not in ACTIVATIONS:
            raise UsageError(
                f"activation type '{self.activations}' is not one of {', '.join(ACTIVATIONS)}"
            )
        if self.io not in IO_TYPES:
            raise UsageError(f"--io '{self.io}' is not one of {', '.join(IO_TYPES)}")

    def to_dict(self) -> dict[str, Any]:
        return {
            "calib": str(self.calib) if self.calib is not None else "calibration_data",
            "samples": self.samples,
            "method": self.method,
            "per_channel": self.per_channel,
            "activations": self.activations,
            "io": self.io,
        }


def default_activations(profile: str | None) -> str:
    """The activation type the device profile asks for (host profile when ``profile`` is None).

    Falls back to the CPU architecture when no profile matches: ``uint8`` on x86 (ONNX Runtime's
    u8s8 kernels, about 3x faster than s8s8 here), ``int8`` elsewhere (ARM kernels want signed).
    """
    try:
        from edgeres.profiles import load_profile
    except ImportError:
        load_profile = None
    if load_profile is not None:
        try:
            return load_profile(profile).int8_activations
        except UsageError:
            if profile is not None:
                raise
    machine = platform.machine().lower()
    return "uint8" if machine in ("x86_64", "amd64", "i686", "x86") else "int8"


@dataclass
class QuantSource:
    """The FP32 model being quantized.

    Attributes:
        path: The file the user gave (``.pt`` or ``.onnx``).
        info: Its info (from the checkpoint, the ONNX metadata, or ``--img-size/--mean/--std``).
        model: The PyTorch network (None for an ONNX source).
        fp32_onnx: An FP32 ONNX file of it (the source itself, or one exported to a temp folder).
        metrics: Metrics saved in the checkpoint.
        has_metadata: Whether the info came from the file (False: third-party ONNX).
    """

    path: Path
    info: ModelInfo
    model: Any = None
    fp32_onnx: Path | None = None
    metrics: dict[str, Any] = field(default_factory=dict)
    has_metadata: bool = True

    @property
    def stem(self) -> str:
        return self.path.stem


def int8_info(source: QuantSource, fmt: str, quantization: dict[str, Any]) -> ModelInfo:
    """The info embedded in an INT8 file: precision int8 and how it was quantized."""
    extra = dict(source.info.extra, quantization=dict(quantization, format=fmt))
    return replace(source.info, precision="int8", extra=extra)
