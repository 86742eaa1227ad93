"""``edgeres quantize``: calibrated INT8 ONNX and TFLite files, with a report and an accuracy gate.

Each format's quantizer comes from ``edgeres.formats.FORMATS`` and is called as
``quantizer(source, out_path, options)``. Files are written to a hidden staging folder first and
moved to their final names only when the ``max_drop`` gate passes; a file that misses it is
quantized again with its most sensitive layers in float (``options.exclude``, see
``edgeres.quantize.repair``), and deleted if even that fails.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from functools import partial
from pathlib import Path
from typing import Any

from edgeres.configs import build
from edgeres.errors import ModelFileError, UsageError
from edgeres.fileio import (
    atomic_write_text,
    check_overwrite,
    created_folder,
    publish,
    staging_dir,
)
from edgeres.formats import FORMATS, Format, format_for_path, output_name, resolve
from edgeres.quantize.options import (
    AUTO_METHOD,
    DEFAULT_METHOD,
    QuantizeConfig,
    QuantOptions,
    default_activations,
)
from edgeres.quantize.prepare import prepare_network
from edgeres.quantize.report import QuantReport
from edgeres.quantize.source import describe_sources, load_source
from edgeres.text import json_text

__all__ = ["QuantOptions", "QuantReport", "QuantizeConfig", "QuantizeResult", "quantize"]


@dataclass
class QuantizeResult:
    """What ``quantize`` kept and measured.

    Attributes:
        outputs: Format name -> INT8 file kept (rejected files are absent).
        report: The full report.
        report_path: Where the report JSON was saved.
    """

    outputs: dict[str, Path] = field(default_factory=dict)
    report: QuantReport | None = None
    report_path: Path | None = None

    @property
    def passed(self) -> bool:
        return self.report is None or self.report.passed

    def to_dict(self) -> dict[str, Any]:
        return {
            "outputs": {k: str(v) for k, v in self.outputs.items()},
            "report_path": str(self.report_path) if self.report_path else None,
            "report": self.report.to_dict() if self.report else None,
            "passed": self.passed,
        }


def _targets(model_path: Path, to, out_dir, force: bool) -> tuple[dict[str, Path], Path]:
    targets = {fmt: output_name(model_path, fmt, int8=True, out_dir=out_dir) for fmt in to}
    report_path = next(iter(targets.values())).with_name(f"{model_path.stem}_int8_report.json")
    for fmt, path in targets.items():
        check_overwrite(path, force, companions=FORMATS[fmt].companions)
    check_overwrite(report_path, force)
    return targets, report_path


def targets_from(source: Format, asked: bool = True) -> tuple[str, ...]:
    """Names of the formats whose INT8 file can be made from a ``source`` file, in table order;
    ``asked=False``: those made by default (without the ones ``--to`` must name)."""
    return tuple(
        name
        for name, f in FORMATS.items()
        if f.quantization
        and source.name in f.quantization.sources
        and (asked or source.name not in f.quantization.asked_sources)
    )


def _check_source(model_path: Path, to) -> None:
    fmt = format_for_path(model_path)
    if fmt.quant_source is None:
        raise ModelFileError(
            f"'{model_path}' is a {fmt.name} file; quantize takes {describe_sources()}"
        )
    possible = targets_from(fmt)
    for name in to:
        target = FORMATS.get(name)
        if target is None or target.quantization is None:
            valid = [n for n, f in FORMATS.items() if f.quantization]
            raise UsageError(f"cannot quantize to '{name}' (valid: {', '.join(valid)})")
        if name not in possible:
            made_from = ", ".join(FORMATS[s].suffix for s in target.quantization.sources)
            raise UsageError(
                f"{name} INT8 is made from {made_from} files and '{model_path}' is {fmt.name}; "
                f"use --to {','.join(possible)}, or pass the .pt checkpoint"
            )


def quantize(
    model_path: str | Path, config: QuantizeConfig | None = None, **options: Any
) -> QuantizeResult:
    """Quantize a checkpoint or FP32 ONNX file to INT8 in each format of ``config.to``.

    Files are staged in a hidden folder beside the outputs (one a killed run left is removed by
    the next) and moved to their final names only when the ``max_drop`` gate passes; a file that
    misses it first gets its most sensitive layers kept in float, one at a time (unless
    ``no_fallback``). The report is written either way.

    Args:
        model_path: An edgeres checkpoint (``.pt``) or FP32 ONNX file (``.onnx``, ONNX output only).
        config: Every option, one field per ``edgeres quantize`` flag (``QuantizeConfig`` documents
            them and holds the defaults).
        **options: ``QuantizeConfig`` fields, when no ``config`` is given:
            ``quantize("model.pt", calib="shapes", to=("onnx",), max_drop=1.0)``.

    Returns:
        The kept files and the report; ``result.passed`` is False when the gate rejected a file.
    """
    cfg = build(QuantizeConfig, config, **options)
    model_path = Path(model_path)
    to = cfg.to or targets_from(format_for_path(model_path), asked=False)
    _check_source(model_path, to)
    targets, report_path = _targets(model_path, to, cfg.out_dir, cfg.force)
    with created_folder(report_path.parent):
        return _quantize(model_path, cfg, targets, report_path)


def _quantize(
    model_path: Path, cfg: QuantizeConfig, targets: dict[str, Path], report_path: Path
) -> QuantizeResult:
    from edgeres.quantize.evaluate import default_eval_data, evaluate, open_eval

    opts = _quant_options(cfg)
    with staging_dir(report_path.parent, "quantize") as tmp:
        source = load_source(
            model_path,
            Path(tmp),
            cfg.source,
            prepare=None if cfg.no_equalize else partial(prepare_network, opts=opts),
        )
        report = QuantReport(
            str(model_path),
            source.info.name,
            dict(opts.to_dict(), method=cfg.method, **source.prepared),
            max_drop=cfg.max_drop,
        )
        data = open_eval(
            report,
            source,
            cfg.eval_data or default_eval_data(source),
            cfg.eval_limit,
            cfg.quiet,
            cfg.by_index,
        )
        staged = _Staged(source, Path(tmp), targets, report, data)
        staged.quantize_each(opts, cfg.method)
        evaluate(report, data, staged.paths)
        if report.gate_failures() and not cfg.no_fallback:
            staged.repair(report.gate_failures(), cfg.max_drop, cfg.fallback_layers)
            evaluate(report, data, staged.paths)
        report.rejected = report.gate_failures()
        result = QuantizeResult(report=report, report_path=report_path)
        for fmt, path in staged.paths.items():
            if fmt not in report.rejected:
                publish(path, targets[fmt], overwrite=cfg.force, companions=FORMATS[fmt].companions)
                result.outputs[fmt] = targets[fmt]
    text = json_text(report.to_dict(), indent=2, sort_keys=True) + "\n"
    atomic_write_text(report_path, text, overwrite=cfg.force)
    return result


def _quant_options(cfg: QuantizeConfig) -> QuantOptions:
    """What each format's quantizer needs from the config (the profile resolved)."""
    return QuantOptions(
        calib=cfg.calib,
        samples=cfg.samples,
        method=DEFAULT_METHOD if cfg.method == AUTO_METHOD else cfg.method,
        per_channel=not cfg.per_tensor,
        activations=cfg.activations or default_activations(cfg.profile),
        weight_bits=cfg.weight_bits,
        io=cfg.io,
        quiet=cfg.quiet,
    )


class _Staged:
    """The INT8 files of one run in the hidden staging folder, with the options each was made with."""

    def __init__(self, source, stage: Path, targets: dict[str, Path], report, data) -> None:
        self.source, self.stage, self.targets = source, stage, targets
        self.report, self.data = report, data
        self.paths: dict[str, Path] = {}
        self.options: dict[str, QuantOptions] = {}
        self.fp32_sizes: dict[str, int | None] = {}

    def quantize_each(self, opts: QuantOptions, method: str) -> None:
        """Write each format's INT8 file (each method's, for ``auto``) and its graph facts."""
        from edgeres.progress import progress
        from edgeres.quantize.repair import choose_method

        for fmt in progress(list(self.targets), quiet=opts.quiet, desc="quantize", unit="format"):
            quant = FORMATS[fmt].quantization
            out = self.stage / self.targets[fmt].name
            scores, chosen = {}, None
            if method == AUTO_METHOD and quant.methods:
                out, chosen, scores = choose_method(fmt, self.source, out, opts, self.data)
            else:
                out = resolve(quant.quantizer)(self.source, out, opts)
            self.options[fmt] = replace(opts, method=chosen) if chosen else opts
            self._record(fmt, out)
            self.report.formats[fmt].method = chosen or (opts.method if quant.methods else None)
            self.report.formats[fmt].methods = scores

    def repair(self, failing: list[str], max_drop: float, limit: int) -> None:
        """Keep layers of each failing file in float until it passes (see ``repair``)."""
        from edgeres.quantize.repair import repair

        for fmt in failing:
            old = self.report.formats[fmt]
            path, opts, fallback = repair(
                fmt,
                self.source,
                self.paths[fmt],
                self.options[fmt],
                self.data,
                max_drop,
                limit,
                start_drop=old.drop_pts,
            )
            if fallback.unsupported:
                old.fallback = fallback
                continue
            self.options[fmt] = opts
            self._record(fmt, path)
            new = self.report.formats[fmt]
            new.method, new.methods = old.method, old.methods
            new.fallback, new.float_layers = fallback, list(fallback.layers)

    def _record(self, fmt: str, path: Path) -> None:
        from edgeres.quantize.evaluate import format_report

        self.paths[fmt] = path
        if fmt not in self.fp32_sizes:
            self.fp32_sizes[fmt] = _fp32_size(fmt, self.source, self.stage)
        self.report.formats[fmt] = format_report(
            fmt, path, self.targets[fmt], self.source, self.options[fmt], self.fp32_sizes[fmt]
        )


def _fp32_size(fmt: str, source, stage: Path) -> int | None:
    """Size of the FP32 file in ``fmt``: the one quantized, one beside the source, or an export."""
    target = FORMATS[fmt]
    if source.fp32_onnx is not None and source.fp32_onnx.suffix in target.suffixes:
        return source.fp32_onnx.stat().st_size
    beside = source.path.with_suffix(target.suffix)
    if beside.is_file() and _same_source(beside, source):
        return beside.stat().st_size
    if target.exporter is None or source.network() is None:
        return None
    exporter = resolve(target.exporter)
    return exporter(source.model, source.info, stage / f"fp32{target.suffix}").stat().st_size


def _same_source(path: Path, source) -> bool:
    """Whether an existing FP32 file was exported from this very checkpoint (by its hash)."""
    from edgeres.formats import read_metadata

    try:
        info = read_metadata(path)
    except Exception:  # noqa: BLE001 - an unreadable neighbour is simply not used
        return False
    want = source.info.extra.get("source_sha256")
    return info is not None and want is not None and info.extra.get("source_sha256") == want
