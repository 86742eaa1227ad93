"""``edgeres convert``: a checkpoint becomes FP32 ONNX and TFLite files, each checked for parity.

The formats come from ``edgeres.formats.FORMATS``; each one's ``exporter`` is called as
``exporter(model, info, out_path, **options)``.
"""

from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from edgeres.configs import build
from edgeres.convert.common import export_info
from edgeres.convert.options import ConvertConfig
from edgeres.convert.parity import ParityReport, check_parity, real_images
from edgeres.errors import ModelFileError, UsageError
from edgeres.fileio import check_overwrite, publish, staging_dir
from edgeres.formats import FORMATS, export_formats, format_for_path, output_name, resolve
from edgeres.formats.source_options import SourceOptions
from edgeres.text import shown

__all__ = ["ConvertResult", "ParityReport", "convert", "load_source_checkpoint"]


@dataclass
class ConvertResult:
    """What ``convert`` wrote and how each file compared with the checkpoint.

    Attributes:
        checkpoint: The source checkpoint.
        outputs: Format name -> written file.
        parity: One report per file (empty when ``verify=False``).
        seconds: Format name -> export time in seconds.
    """

    checkpoint: Path
    outputs: dict[str, Path] = field(default_factory=dict)
    parity: list[ParityReport] = field(default_factory=list)
    seconds: dict[str, float] = field(default_factory=dict)

    @property
    def passed(self) -> bool:
        return all(p.passed for p in self.parity)

    def to_dict(self) -> dict[str, Any]:
        return {
            "checkpoint": str(self.checkpoint),
            "outputs": {k: str(v) for k, v in self.outputs.items()},
            "parity": [p.to_dict() for p in self.parity],
            "seconds": {k: round(v, 3) for k, v in self.seconds.items()},
            "passed": self.passed,
        }


def load_source_checkpoint(path: str | Path, source: SourceOptions | None = None):
    """Load a PyTorch source (checkpoint, state dict + ``--model``, ``.pt2``) or an FP32 ONNX file
    (read back into PyTorch), or refuse in one line."""
    path = Path(path)
    fmt = format_for_path(path)
    if fmt.torch_reader is not None:
        return resolve(fmt.torch_reader)(path, source)
    if not fmt.needs_torch:
        raise ModelFileError(
            f"'{shown(path)}' is a {fmt.name} file; convert takes a PyTorch source: an edgeres "
            "checkpoint (.pt), a torch.export program (.pt2), a state dict (.pth, .pt, "
            ".safetensors) with --model, or an FP32 ONNX file"
        )
    from edgeres.formats.checkpoint import check_finite_weights
    from edgeres.formats.torch_source import load_torch_source

    ckpt = load_torch_source(path, source)
    check_finite_weights(ckpt.model, path)
    return ckpt


def source_targets(path: Path, to) -> tuple[str, ...]:
    """The formats to write from ``path``: ``to``, or every export format but the source's own;
    a format the source already is is refused (the output would be a copy, or the source)."""
    fmt = format_for_path(path)
    targets = tuple(to or (f for f in export_formats() if f != fmt.name))
    if fmt.name in targets:
        raise UsageError(
            f"'{shown(path)}' is already {fmt.name}; --to names the formats to make from it"
        )
    return targets


def _exporter_options(fmt: str, opset: int, dynamic_batch: bool) -> dict[str, Any]:
    # Each format's exporter names the options it takes (litert-torch's TFLite takes none).
    offered = {"opset": opset, "dynamic_batch": dynamic_batch}
    return {k: v for k, v in offered.items() if k in FORMATS[fmt].export_options}


def convert(
    checkpoint_path: str | Path, config: ConvertConfig | None = None, /, **options: Any
) -> ConvertResult:
    """Export a checkpoint to each format of ``config.to`` and check every file against it.

    Args:
        checkpoint_path: An edgeres checkpoint (``.pt``), ``.pt2`` program, state dict (with
            ``source.model``) or FP32 ONNX file.
        config: Every option, one field per ``edgeres convert`` flag (``ConvertConfig``
            documents them and holds the defaults; ``source`` holds what describes a file
            without edgeres metadata).
        **options: ``ConvertConfig`` fields, when no ``config`` is given:
            ``convert("model.pt", to=("onnx",), out_dir="export")``.

    A file that fails the parity check (NaN logits included) is not written; ``result.passed``
    is then False (the CLI exits 1 with the report).

    Raises:
        OutputExistsError: An output exists and ``force`` is false (checked before any work, and
            again when each file is published: another command may have written it meanwhile).
        ModelFileError: Not a PyTorch source, NaN or infinite weights (nothing is converted), or a
            converter cannot handle an op (the other formats are still written; the error names
            the op after they are).
    """
    from edgeres.progress import progress

    cfg = build(ConvertConfig, config, **options)
    checkpoint_path = Path(checkpoint_path)
    names = source_targets(checkpoint_path, cfg.to)
    targets = {fmt: output_name(checkpoint_path, fmt, out_dir=cfg.out_dir) for fmt in names}
    for fmt, path in targets.items():
        check_overwrite(path, cfg.force, companions=FORMATS[fmt].companions)
    ckpt = load_source_checkpoint(checkpoint_path, cfg.source)
    info = export_info(ckpt.info, checkpoint_path, model_args=ckpt.model_args)
    result = ConvertResult(checkpoint=checkpoint_path)
    images = real_images(info) if cfg.verify else None
    failed: list[ModelFileError] = []
    export = (cfg.opset, cfg.dynamic_batch, cfg.force)
    for fmt in progress(list(targets), quiet=cfg.quiet, desc="convert", unit="format"):
        try:
            _convert_one(ckpt.model, info, fmt, targets[fmt], result, images, export)
        except ModelFileError as e:
            failed.append(e)  # one format's converter failing leaves the others to be written
    if failed:
        written = (
            f" ({', '.join(map(str, result.outputs.values()))} written)" if result.outputs else ""
        )
        raise ModelFileError("; and ".join(str(e) for e in failed) + written)
    return result


def _convert_one(model, info, fmt: str, target: Path, result, images, options) -> None:
    opset, dynamic_batch, force = options
    # Export and check in a staging folder: a run killed before the parity check leaves no
    # unverified file under the final name (and the next run removes the staging folder).
    with staging_dir(target.parent, "convert") as staging:
        staged = staging / target.name
        exporter = resolve(FORMATS[fmt].exporter)
        start = time.perf_counter()
        exporter(model, info, staged, **_exporter_options(fmt, opset, dynamic_batch))
        result.seconds[fmt] = time.perf_counter() - start
        if images is not None:
            parity = check_parity(model, staged, info, images)
            result.parity.append(dataclasses.replace(parity, path=str(target)))
            if not parity.passed:
                return  # never under the final name; the staging folder goes with it
        publish(staged, target, overwrite=force, companions=FORMATS[fmt].companions)
    result.outputs[fmt] = target
