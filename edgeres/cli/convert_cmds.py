"""``edgeres convert`` and ``edgeres quantize``: parse, call the library, print.

Their options are the fields of ``ConvertConfig`` and ``QuantizeConfig``, each default and help
read from there.
"""

from __future__ import annotations

import click

from edgeres.cli.common import (
    echo_json,
    library_prints_to_stderr,
    log,
    max_image_pixels_option,
)
from edgeres.cli.fields import field_option
from edgeres.convert.options import ConvertConfig
from edgeres.errors import GateFailed
from edgeres.quantize.options import ACTIVATIONS, IO_TYPES, METHOD_CHOICES, QuantizeConfig

_MODEL_ARG = click.argument("model", type=click.Path(dir_okay=False))
_OUT_DIR = click.Path(file_okay=False)
_JSON = click.option("--json", "as_json", is_flag=True, help="Print one JSON document on stdout.")


def _to_option(cls: type):
    from edgeres.formats import export_formats

    return field_option(cls, "to", help_more=lambda: f"Valid: {', '.join(export_formats())}.")


def _c(name: str, *decls: str, **attrs):
    return field_option(ConvertConfig, name, *decls, **attrs)


def _q(name: str, *decls: str, **attrs):
    return field_option(QuantizeConfig, name, *decls, **attrs)


@click.command("convert")
@_MODEL_ARG
@_to_option(ConvertConfig)
@_c("out_dir", "--out", type=_OUT_DIR)
@_c("opset")
@_c("dynamic_batch")
@_c("force")
@_c("verify", "--no-verify", help="Skip the parity check against the checkpoint.")
@_JSON
def convert_cmd(model: str, as_json: bool, **kw) -> None:
    """Convert a checkpoint to FP32 ONNX and TFLite (NHWC input), checked against it.

    Writes <stem>.onnx and <stem>.tflite with the input spec and class names embedded, then runs
    the checkpoint and each file on random and real inputs: logits must agree within 1e-4 and
    top-1 must be identical, else the command exits 1.

    \b
    Example:
      edgeres convert runs/r8/model.pt --to onnx,tflite
      edgeres convert runs/r8/model.pt --to onnx --dynamic-batch --out export/
    """
    from edgeres.convert import convert

    with library_prints_to_stderr(as_json):
        result = convert(model, **ConvertConfig(**kw, quiet=as_json).kwargs())
    if as_json:
        echo_json(result.to_dict())
    else:
        for fmt, path in result.outputs.items():
            click.echo(f"wrote {path}  ({fmt}, {result.seconds[fmt]:.1f} s)")
        for report in result.parity:
            click.echo(report.line())
    if not result.passed:
        failed = ", ".join(p.format for p in result.parity if not p.passed)
        raise GateFailed(
            f"parity check failed for {failed}: the file does not compute what the checkpoint "
            "does, so it was not written"
        )


@click.command("quantize")
@max_image_pixels_option
@_MODEL_ARG
@_q("calib", metavar="DIR|shapes|FILE.npy")
@_to_option(QuantizeConfig)
@_q("samples")
@_q("method", metavar="|".join(METHOD_CHOICES))
@_q("per_tensor")
@_q("profile")
@_q("activations", type=click.Choice(ACTIVATIONS))
@_q("io", type=click.Choice(IO_TYPES))
@_q("eval_data", metavar="DATA")
@_q("eval_limit")
@_q("by_index")
@_q("max_drop", metavar="PTS")
@_q("no_equalize")
@_q("no_fallback")
@_q("fallback_layers")
@_q("out_dir", "--out", type=_OUT_DIR)
@_q("force")
@_q("img_size")
@_q("mean")
@_q("std")
@_JSON
def quantize_cmd(model: str, as_json: bool, **kw) -> None:
    """Quantize a checkpoint (or an FP32 ONNX file) to calibrated INT8 ONNX and TFLite.

    ONNX: ONNX Runtime static quantization (QDQ, per-channel int8 weights, uint8 activations on
    x86 / int8 on ARM per the device profile). TFLite: PT2E, full integer with int8 input and
    output, NHWC. Writes <stem>_int8.onnx, <stem>_int8.tflite and <stem>_int8_report.json
    (accuracy, agreement, worst layers, full-integer check, sizes). A file that misses
    --max-drop gets its most sensitive layers kept in float, one at a time, until it passes
    (TFLite: then made by the AI Edge Quantizer); exit 1 only when even that fails.

    \b
    Example:
      edgeres quantize runs/r8/model.pt --calib shapes --to onnx,tflite --max-drop 0.5
      edgeres quantize runs/r8/model.onnx --method auto --max-drop 1 --eval-data shapes
      edgeres quantize third_party.onnx --to onnx --calib images/ --img-size 96 \\
          --mean 0.485,0.456,0.406 --std 0.229,0.224,0.225
    """
    from edgeres.quantize import quantize

    config = QuantizeConfig(**kw, quiet=as_json)
    with library_prints_to_stderr(as_json):
        result = quantize(model, config)
    if as_json:
        echo_json(result.to_dict())
    else:
        click.echo("\n".join(result.report.lines()))
        log(f"report saved to {result.report_path}")
    if not result.passed:
        tried = _after_fallback(result.report)
        raise GateFailed(
            f"INT8 accuracy dropped more than {config.max_drop:g} points for "
            f"{', '.join(result.report.rejected)}{tried}; that file was deleted "
            "(see the report; try --method auto, more --samples or calibration images closer to "
            "the deployment data)"
        )


def _after_fallback(report) -> str:
    """What the fallback tried for the rejected formats, as a clause of the error line."""
    tried = [report.formats[f].fallback for f in report.rejected]
    counts = [len(f.layers) for f in tried if f is not None and not f.unsupported]
    if not counts:
        return ""
    return f" even with up to {max(counts)} layers kept in float"


COMMANDS = [convert_cmd, quantize_cmd]
