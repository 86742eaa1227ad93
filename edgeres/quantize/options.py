"""Quantization options and the model being quantized.

``QuantizeConfig`` is everything ``edgeres quantize`` takes besides the model; the CLI reads each
flag's default and help from it. ``QuantOptions`` is the part every format's quantizer gets.
"""

from __future__ import annotations

import platform
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from edgeres.errors import ParamError, UsageError
from edgeres.formats import FORMATS, parse_format_list
from edgeres.formats.source_options import SourceOptions
from edgeres.profiles.model import INT8_ACTIVATIONS
from edgeres.spec import ModelInfo

# Every calibration method a format's quantizer honours, read from the format table.
METHODS = tuple(
    dict.fromkeys(m for f in FORMATS.values() if f.quantization for m in f.quantization.methods)
)
AUTO_METHOD = "auto"
METHOD_CHOICES = (*METHODS, AUTO_METHOD)
ACTIVATIONS = INT8_ACTIVATIONS
IO_TYPES = ("int8", "float")
WEIGHT_BITS = (7, 8)
DEFAULT_SAMPLES = 300
DEFAULT_METHOD = "minmax"
DEFAULT_IO = "int8"
DEFAULT_EVAL_LIMIT = 1000
MIN_SAMPLES = 8
DEFAULT_FALLBACK_LAYERS = 8


def _check_quantizer_options(
    samples: int, method: str, activations: str | None, io: str, methods=METHODS
) -> None:
    if samples < MIN_SAMPLES:
        raise ParamError(
            "samples",
            f"{samples} is too few; use at least {MIN_SAMPLES} (default {DEFAULT_SAMPLES})",
        )
    if method not in methods:
        raise ParamError("method", f"'{method}' is not one of {', '.join(methods)}")
    if activations is not None and activations not in ACTIVATIONS:
        raise UsageError(f"activation type '{activations}' is not one of {', '.join(ACTIVATIONS)}")
    if io not in IO_TYPES:
        raise ParamError("io", f"'{io}' is not one of {', '.join(IO_TYPES)}")


def _check_weight_bits(bits: int | None) -> None:
    if bits is not None and bits not in WEIGHT_BITS:
        raise ParamError("weight_bits", f"must be 7 or 8, got {bits}")


def _check_gate(max_drop: float | None, fallback_layers: int) -> None:
    if max_drop is not None and not 0 <= max_drop <= 100:  # also false for nan
        raise ParamError("max_drop", f"must be between 0 and 100 accuracy points, got {max_drop:g}")
    if fallback_layers < 1:
        raise ParamError(
            "fallback_layers",
            f"must be at least 1, got {fallback_layers} (turning the fallback off keeps no layer in float)",
        )


@dataclass(frozen=True)
class QuantizeConfig:
    """How to quantize and check a model: ``quantize(path, config)``.

    Attributes:
        calib: Calibration images: a folder, ``shapes``, or a ``.npy`` of preprocessed tensors
            (``--calib``); by default the shipped calibration_data/.
        to: Formats to write, comma-separated (``--to``); by default onnx,tflite from a
            checkpoint, onnx from an ONNX file.
        samples: Calibration samples (``--samples``).
        method: ONNX activation range method (``--method``): minmax, entropy, percentile, or
            auto (try the three, keep the one whose INT8 agrees best with FP32 on the eval
            data); TFLite always uses a histogram.
        per_tensor: One weight scale per tensor; by default one per channel (``--per-tensor``).
        profile: Device profile; it decides the ONNX activation type (``--profile``); by
            default this host's.
        activations: ONNX activation type, overriding the profile (``--activations``): uint8
            suits x86, int8 suits ARM.
        weight_bits: ONNX weight precision, 8 or 7 (``--weight-bits``); by default 7 with uint8
            activations, 8 with int8. x86 CPUs without VNNI (AVX2, early AVX-512) multiply
            uint8 by int8 with VPMADDUBSW in ONNX Runtime and OpenVINO, whose int16 sums of
            two products saturate at full-scale 8-bit weights; 7-bit weights cannot.
        io: TFLite input/output type (``--io``): int8 is full integer; float puts a QUANTIZE op
            in front of the integer graph and a DEQUANTIZE op behind it.
        eval_data: Data for FP32 vs INT8 accuracy (``--eval-data``); by default what the
            checkpoint was trained on.
        eval_limit: At most this many eval images (``--eval-limit``).
        by_index: Score eval label i as output i whatever the class names (``--by-index``); by
            default the eval data's classes are matched by name with the model's.
        max_drop: Accuracy gate: INT8 top-1 may drop at most this many points, 0 to 100
            (``--max-drop``). A file that misses it gets its most sensitive layers kept in
            float, one at a time, until it passes; if it still fails, exit 1 and the file is
            deleted.
        no_equalize: Quantize the network as it is: no cross-layer equalization and no bias
            correction of a checkpoint's network before rounding (``--no-equalize``).
        no_fallback: Do not keep layers in float: a file that misses --max-drop is deleted
            (``--no-fallback``).
        fallback_layers: At most this many layers kept in float before giving up
            (``--fallback-layers``).
        out_dir: Output folder (``--out``); by default beside the model.
        force: Replace existing output files (``--force``).
        quiet: No progress bars (``--json``).
        source: What describes a source without edgeres metadata (``--model``, ``--labels``,
            ``--img-size``, ``--mean``, ``--std``, ``--channel-order``).
    """

    calib: str | Path | None = None
    to: tuple[str, ...] | str | None = None
    samples: int = DEFAULT_SAMPLES
    method: str = DEFAULT_METHOD
    per_tensor: bool = False
    profile: str | None = None
    activations: str | None = None
    weight_bits: int | None = None
    io: str = DEFAULT_IO
    eval_data: str | None = None
    eval_limit: int | None = DEFAULT_EVAL_LIMIT
    by_index: bool = False
    max_drop: float | None = None
    no_equalize: bool = False
    no_fallback: bool = False
    fallback_layers: int = DEFAULT_FALLBACK_LAYERS
    out_dir: str | Path | None = None
    force: bool = False
    quiet: bool = False
    source: SourceOptions = SourceOptions()

    def __post_init__(self) -> None:
        if self.to is not None:
            text = self.to if isinstance(self.to, str) else ",".join(self.to)
            object.__setattr__(self, "to", parse_format_list(text))
        _check_quantizer_options(
            self.samples, self.method, self.activations, self.io, METHOD_CHOICES
        )
        _check_weight_bits(self.weight_bits)
        if self.eval_limit is not None and self.eval_limit < 1:
            raise ParamError("eval_limit", f"must be at least 1, got {self.eval_limit}")
        _check_gate(self.max_drop, self.fallback_layers)


@dataclass(frozen=True)
class QuantOptions:
    """What each format's quantizer gets from a ``QuantizeConfig``; checked on creation.

    Attributes:
        calib: As ``QuantizeConfig.calib`` (``None``: the shipped ``calibration_data/``).
        samples: As ``QuantizeConfig.samples``.
        method: As ``QuantizeConfig.method``.
        per_channel: Per-channel weight scales (``not QuantizeConfig.per_tensor``).
        activations: ONNX activation type, resolved from the profile when not given.
        weight_bits: ONNX weight precision (ONNX Runtime's ``reduce_range`` when 7); ``None``:
            7 with uint8 activations, 8 with int8, as ``QuantizeConfig.weight_bits``.
        io: As ``QuantizeConfig.io``.
        quiet: No progress bars.
        exclude: Tensor names of the layers to keep in float, in the FP32 file of the format
            (``LayerError.tensor``); the format's quantizer maps them to its own graph.
    """

    calib: str | Path | None = None
    samples: int = DEFAULT_SAMPLES
    method: str = DEFAULT_METHOD
    per_channel: bool = True
    activations: str = "uint8"
    weight_bits: int | None = None
    io: str = DEFAULT_IO
    quiet: bool = False
    exclude: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        _check_quantizer_options(self.samples, self.method, self.activations, self.io)
        _check_weight_bits(self.weight_bits)
        if self.weight_bits is None:
            object.__setattr__(self, "weight_bits", 7 if self.activations == "uint8" else 8)

    def to_dict(self) -> dict[str, Any]:
        extra = {"float_layers": list(self.exclude)} if self.exclude else {}
        return extra | {
            "calib": str(self.calib) if self.calib is not None else "calibration_data",
            "samples": self.samples,
            "method": self.method,
            "per_channel": self.per_channel,
            "activations": self.activations,
            "weight_bits": self.weight_bits,
            "io": self.io,
        }


def default_activations(profile: str | None) -> str:
    """The activation type the device profile asks for (host profile when ``profile`` is None).

    Falls back to the CPU architecture when no profile matches: ``uint8`` on x86 (ONNX Runtime's
    u8s8 kernels, about 3x faster than s8s8 here), ``int8`` elsewhere (ARM kernels want signed).
    """
    from edgeres.profiles import load_profile

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
        prepared: What was done to the network before quantizing (``quantize.prepare``).
        reference: The network as given, when ``model`` was prepared: the FP32 the INT8 files
            are compared with.
        read_network: For an ONNX source, reads it back into a PyTorch network when a format
            needs one (TFLite); see ``network()``.
    """

    path: Path
    info: ModelInfo
    model: Any = None
    fp32_onnx: Path | None = None
    metrics: dict[str, Any] = field(default_factory=dict)
    has_metadata: bool = True
    prepared: dict[str, Any] = field(default_factory=dict)
    reference: Any = None
    read_network: Any = None

    @property
    def stem(self) -> str:
        return self.path.stem

    @property
    def given_file_is_reference(self) -> bool:
        """Whether the FP32 file the user gave (an ONNX source) is what INT8 is compared with."""
        # An ONNX source (read_network set) is compared as given, or as normalised for a third
        # party's graph: the same function on another spelling.
        return self.fp32_onnx is not None and (
            self.fp32_onnx == self.path or self.read_network is not None
        )

    def network(self) -> Any:
        """The PyTorch network: the source's, or the ONNX source read back (once); None when
        there is neither."""
        if self.model is None and self.read_network is not None:
            self.model = self.read_network()
        return self.model


def int8_info(source: QuantSource, fmt: str, quantization: dict[str, Any]) -> ModelInfo:
    """The info embedded in an INT8 file: precision int8 and how it was quantized."""
    extra = dict(source.info.extra, quantization=dict(quantization, format=fmt))
    return replace(source.info, precision="int8", extra=extra)
