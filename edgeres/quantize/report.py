"""The quantization report: accuracy, agreement, per-layer error, integer check, sizes."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from edgeres.quantize.checks import IntegerCheck
from edgeres.quantize.sensitivity import LayerError


@dataclass
class Fallback:
    """Layers kept in float to pass ``--max-drop``, and what that cost.

    Attributes:
        layers: PyTorch module paths (or ONNX node names) kept in float, in the order added.
        steps: One entry per file tried: the layer added, the SQNR it lost, and the file's
            accuracy, agreement and drop.
        passed: Whether the last file tried passes the gate.
        size_bytes_int8: Size of the all-INT8 file.
        latency_ms_int8: Its median latency in a short run on this machine's default engine.
        latency_ms: The same for the last file tried.
        unsupported: Why nothing was tried (the format cannot keep layers in float), or None.
        stopped: Why the repair stopped before the gate passed or the layers ran out (a step
            made the drop worse; that step's layer is not kept), or None.
    """

    layers: list[str] = field(default_factory=list)
    steps: list[dict[str, Any]] = field(default_factory=list)
    passed: bool = False
    size_bytes_int8: int = 0
    latency_ms_int8: float | None = None
    latency_ms: float | None = None
    unsupported: str | None = None
    stopped: str | None = None


@dataclass
class FormatReport:
    """One INT8 file against its FP32 source.

    Attributes:
        format: ``"onnx"`` or ``"tflite"``.
        path: Final path of the INT8 file (it is not there when the gate rejected it).
        accuracy: INT8 top-1 on the eval data (None without eval data).
        agreement: Share of eval samples where INT8 and FP32 give the same top-1.
        drop_pts: FP32 minus INT8 accuracy, in percentage points.
        size_bytes: INT8 file size.
        fp32_size_bytes: Size of the FP32 file of the same format.
        integer: Full-integer check.
        layers: Worst layers by SQNR (ONNX only).
        method: Calibration method of the file (None: the format has one method).
        methods: ``--method auto``: each method's accuracy, agreement and drop.
        float_layers: Layers kept in float (see ``fallback``).
        fallback: What keeping layers in float tried and cost (None: not tried).
    """

    format: str
    path: str
    accuracy: float | None = None
    agreement: float | None = None
    drop_pts: float | None = None
    size_bytes: int = 0
    fp32_size_bytes: int | None = None
    integer: IntegerCheck | None = None
    layers: list[LayerError] = field(default_factory=list)
    method: str | None = None
    methods: dict[str, dict[str, float]] = field(default_factory=dict)
    float_layers: list[str] = field(default_factory=list)
    fallback: Fallback | None = None

    @property
    def size_ratio(self) -> float | None:
        return self.size_bytes / self.fp32_size_bytes if self.fp32_size_bytes else None

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["integer"] = self.integer.to_dict() if self.integer else None
        d["layers"] = [e.to_dict() for e in self.layers]
        d["size_ratio"] = None if self.size_ratio is None else round(self.size_ratio, 4)
        return d


@dataclass
class QuantReport:
    """Everything ``edgeres quantize`` measured; saved as ``<stem>_int8_report.json``.

    Attributes:
        source: The FP32 model quantized.
        model: Model name.
        options: The quantization options used.
        eval_data: Data set the accuracies come from (None: not evaluated).
        eval_samples: Number of eval images.
        fp32_accuracy: FP32 top-1 on them.
        formats: Per-format results.
        cross_agreement: Share of samples where the two INT8 files agree (two formats only).
        max_drop: The ``--max-drop`` gate in points (None: no gate).
        rejected: Formats whose file was deleted because the gate failed.
    """

    source: str
    model: str
    options: dict[str, Any]
    eval_data: str | None = None
    eval_samples: int = 0
    fp32_accuracy: float | None = None
    formats: dict[str, FormatReport] = field(default_factory=dict)
    cross_agreement: float | None = None
    max_drop: float | None = None
    rejected: list[str] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        return not self.rejected

    def gate_failures(self) -> list[str]:
        """Formats whose accuracy drop exceeds ``max_drop``."""
        if self.max_drop is None:
            return []
        return [
            f
            for f, r in self.formats.items()
            if r.drop_pts is not None and r.drop_pts > self.max_drop
        ]

    def to_dict(self) -> dict[str, Any]:
        d = {k: v for k, v in asdict(self).items() if k != "formats"}
        d["formats"] = {k: v.to_dict() for k, v in self.formats.items()}
        d["passed"] = self.passed
        return _finite(d)

    def lines(self) -> list[str]:
        """The report as text lines for the terminal."""
        out = [f"quantization report: {self.model} ({self.source})"]
        if self.fp32_accuracy is not None:
            out.append(
                f"  eval: {self.eval_samples} images of {self.eval_data}; FP32 top-1 {_pct(self.fp32_accuracy)}"
            )
        else:
            out.append("  eval: skipped (no eval data; pass --eval-data)")
        if "equalized_spaces" in self.options:
            out.append(
                f"  before rounding: {self.options['equalized_spaces']} channel spaces equalized, "
                f"{self.options['bias_corrected_layers']} layer biases corrected"
                + _relu6(self.options.get("relu6_replaced", 0))
            )
        for r in self.formats.values():
            out.extend(_format_lines(r))
        if self.cross_agreement is not None:
            pair = " vs ".join(f"INT8 {name}" for name in self.formats)
            out.append(f"  {pair} top-1 agreement: {_pct(self.cross_agreement)}")
        if self.max_drop is not None:
            verdict = "passed" if self.passed else f"FAILED, deleted: {', '.join(self.rejected)}"
            out.append(f"  gate --max-drop {self.max_drop:g} pts: {verdict}")
        return out


def _relu6(n: int) -> str:
    return f", {n} ReLU6 made ReLU to equalize across them" if n else ""


def _format_lines(r: FormatReport) -> list[str]:
    lines = [f"  {r.format} INT8: {r.path}"]
    if r.accuracy is not None:
        lines.append(
            f"    top-1 {_pct(r.accuracy)} (drop {r.drop_pts:+.2f} pts), agrees with FP32 on {_pct(r.agreement)}"
        )
    ratio = f" ({r.size_ratio:.0%} of FP32 {_kb(r.fp32_size_bytes)})" if r.size_ratio else ""
    lines.append(f"    size {_kb(r.size_bytes)}{ratio}")
    if r.integer:
        c = r.integer
        state = "full integer" if c.full_integer else "NOT full integer"
        lines.append(
            f"    {state}: input {c.input_dtype}, output {c.output_dtype}, {c.integer_ops} integer ops, "
            f"{c.weights_int8} int8 weight tensors"
        )
        # An op with float weights computes in float too: each is listed once.
        for label in list(dict.fromkeys(c.float_ops + c.weights_float))[:10]:
            lines.append(f"      left in float: {label}")
    if r.layers:
        worst = ", ".join(f"{e.layer} {e.sqnr_db:.1f} dB" for e in r.layers)
        lines.append(f"    worst layers (SQNR): {worst}")
    for method, s in r.methods.items():
        mark = " (kept)" if method == r.method else ""
        lines.append(
            f"    --method {method}: agrees with FP32 on {_pct(s['agreement'])}, "
            f"drop {s['drop_pts']:+.2f} pts{mark}"
        )
    if r.fallback is not None:
        lines.extend(_fallback_lines(r.fallback, r.size_bytes))
    return lines


def _fallback_lines(f: Fallback, size: int) -> list[str]:
    if f.unsupported:
        return [f"    kept in float: nothing ({f.unsupported})"]
    if not f.steps:
        return ["    kept in float: nothing (no layer to rank)"]
    lines = [f"    kept in float: {', '.join(f.layers) or 'nothing'}"]
    for s in f.steps:
        lines.append(
            f"      + {s['layer']} (loses {s['sqnr_lost_db']:.1f} dB): drop {s['drop_pts']:+.2f} pts"
        )
    lat = ""
    if f.latency_ms is not None and f.latency_ms_int8:
        lat = (
            f", latency {f.latency_ms_int8:.3f} -> {f.latency_ms:.3f} ms (short run, this machine)"
        )
    lines.append(f"    cost: size {_kb(f.size_bytes_int8)} -> {_kb(size)}{lat}")
    if f.stopped:
        lines.append(f"    {f.stopped}")
    if not f.passed:
        lines.append(f"    still over the gate with {len(f.layers)} layers in float")
    return lines


def _pct(x: float | None) -> str:
    return "n/a" if x is None else f"{100 * x:.2f}%"


def _kb(n: int | None) -> str:
    return "n/a" if not n else f"{n / 1024:.1f} KiB"


def _finite(obj: Any) -> Any:
    """JSON has no inf/nan: replace them with None."""
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    if isinstance(obj, dict):
        return {k: _finite(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [_finite(v) for v in obj]
    return obj


def top1(logits: np.ndarray) -> np.ndarray:
    return np.asarray(logits).argmax(axis=1)


def agreement(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.mean(a == b)) if len(a) else 0.0
