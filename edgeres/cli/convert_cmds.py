"""``edgeres convert`` and ``edgeres quantize``: parse, call the library, print.

Their options are the fields of ``ConvertConfig`` and ``QuantizeConfig``, each default and help
read from there.
"""

from __future__ import annotations

import click

from edgeres.cli.common import library_prints_to_stderr, max_image_pixels_option, show
from edgeres.cli.fields import field_option
from edgeres.configs import build
from edgeres.convert.options import ConvertConfig
from edgeres.formats.source_options import SourceOptions
from edgeres.quantize.options import ACTIVATIONS, IO_TYPES, METHOD_CHOICES, QuantizeConfig
from edgeres.spec import CHANNEL_ORDERS

_MODEL_ARG = click.argument("model_path", metavar="MODEL", type=click.Path(dir_okay=False))
_OUT_DIR = click.Path(file_okay=False)
_JSON = click.option("--json", "as_json", is_flag=True, help="Print one JSON document on stdout.")


def _to_option(cls: type):
    from edgeres.formats import export_formats

    return field_option(cls, "to", help_more=lambda: f"Valid: {', '.join(export_formats())}.")


def _convert_opt(name: str, *decls: str, **attrs):
    return field_option(ConvertConfig, name, *decls, **attrs)


def _quantize_opt(name: str, *decls: str, **attrs):
    return field_option(QuantizeConfig, name, *decls, **attrs)


def _source_opt(name: str, *decls: str, **attrs):
    return field_option(SourceOptions, name, *decls, **attrs)


@click.command("convert")
@_MODEL_ARG
@_to_option(ConvertConfig)
@_convert_opt("out_dir", "--out", type=_OUT_DIR)
@_convert_opt("opset")
@_convert_opt("dynamic_batch")
@_convert_opt("force")
@_convert_opt("verify", "--no-verify", help="Skip the parity check against the checkpoint.")
@_source_opt("model", metavar="NAME|pkg.module:function")
@_source_opt("labels", type=click.Path(dir_okay=False))
@_source_opt("img_size")
@_source_opt("mean")
@_source_opt("std")
@_source_opt("channel_order", type=click.Choice(CHANNEL_ORDERS, case_sensitive=False))
@_JSON
def convert_cmd(model_path: str, as_json: bool, **kw) -> None:
    """Convert a PyTorch model to FP32 ONNX and TFLite (NHWC input), checked against it.

    MODEL is an edgeres checkpoint (.pt), a torch.export program (.pt2: input size from its
    input shape), or a state dict (.pth, .pt, .safetensors) with --model naming its
    architecture. --model pkg.module:function imports and runs that function of yours (asked
    for explicitly; nothing in a file chooses code to run). Writes <stem>.onnx and <stem>.tflite with the input spec and class names embedded, then runs
    the checkpoint and each file on random and real inputs: logits must agree within 1e-4 and
    top-1 must be identical, else the command exits 1.

    \b
    Example:
      edgeres convert runs/r8/model.pt --to onnx,tflite
      edgeres convert runs/r8/model.pt --to onnx --dynamic-batch --out export/
      edgeres convert model.pt2 --labels classes.txt --mean 0.485,0.456,0.406 --std 0.229,0.224,0.225
      edgeres convert resnet18-f37072fd.pth --model resnet18 --labels imagenet.txt
      edgeres convert w.pth --model my_pkg.models:build --img-size 96
    """
    from edgeres.api import convert

    with library_prints_to_stderr(as_json):
        result = convert(model_path, build(ConvertConfig, **kw, quiet=as_json))
    show(result, as_json)


@click.command("quantize")
@max_image_pixels_option
@_MODEL_ARG
@_quantize_opt("calib", metavar="DIR|shapes|FILE.npy")
@_to_option(QuantizeConfig)
@_quantize_opt("samples")
@_quantize_opt("method", metavar="|".join(METHOD_CHOICES))
@_quantize_opt("per_tensor")
@_quantize_opt("profile")
@_quantize_opt("activations", type=click.Choice(ACTIVATIONS))
@_quantize_opt("weight_bits", type=click.IntRange(7, 8), metavar="7|8")
@_quantize_opt("io", type=click.Choice(IO_TYPES))
@_quantize_opt("eval_data", metavar="DATA")
@_quantize_opt("eval_limit")
@_quantize_opt("by_index")
@_quantize_opt("max_drop", metavar="PTS")
@_quantize_opt("no_equalize")
@_quantize_opt("no_fallback")
@_quantize_opt("fallback_layers")
@_quantize_opt("out_dir", "--out", type=_OUT_DIR)
@_quantize_opt("force")
@_source_opt("img_size")
@_source_opt("mean")
@_source_opt("std")
@_source_opt("model", metavar="NAME|pkg.module:function")
@_source_opt("labels", type=click.Path(dir_okay=False))
@_source_opt("channel_order", type=click.Choice(CHANNEL_ORDERS, case_sensitive=False))
@_JSON
def quantize_cmd(model_path: str, as_json: bool, **kw) -> None:
    """Quantize a PyTorch model (or an FP32 ONNX file) to calibrated INT8 ONNX and TFLite.

    MODEL is as for convert (.pt, .pt2, or a state dict with --model; pkg.module:function runs
    your code, asked for explicitly) or an FP32 ONNX file (ONNX output only).

    ONNX: ONNX Runtime static quantization (QDQ, per-channel int8 weights, uint8 activations on
    x86 / int8 on ARM per the device profile; with uint8, weights use 7 bits, see --weight-bits).
    TFLite: PT2E, full integer with int8 input and
    output, NHWC. Writes <stem>_int8.onnx, <stem>_int8.tflite and <stem>_int8_report.json
    (accuracy, agreement, worst layers, full-integer check, sizes). A file that misses
    --max-drop gets its most sensitive layers kept in float, one at a time, until it passes
    (TFLite: then made by the AI Edge Quantizer); exit 1 only when even that fails.

    \b
    Example:
      edgeres quantize runs/r8/model.pt --calib shapes --to onnx,tflite --max-drop 0.5
      edgeres quantize runs/r8/model.onnx --method auto --max-drop 1 --eval-data shapes
      edgeres quantize third_party.onnx --to onnx --calib images/ --img-size 96 \\
          --mean 0.485,0.456,0.406 --std 0.229,0.224,0.225 --labels classes.txt
      edgeres quantize model.pt2 --calib photos/ --labels classes.txt --eval-data photos/
    """
    from edgeres.api import quantize

    with library_prints_to_stderr(as_json):
        result = quantize(model_path, build(QuantizeConfig, **kw, quiet=as_json))
    show(result, as_json)


@click.command("inspect")
@click.argument("model_path", metavar="FILE", type=click.Path(dir_okay=False))
@_source_opt("model", metavar="NAME|pkg.module:function")
@_source_opt("labels", type=click.Path(dir_okay=False))
@_source_opt("img_size")
@_JSON
def inspect_cmd(model_path: str, model, labels, img_size, as_json: bool) -> None:
    """Show what a model file is: format, input spec, classes, parameters, MACs, operators,
    precision and full-integer check, and where it came from.

    Reads .pt (edgeres checkpoints), .pt2 (torch.export programs), .pth/.safetensors state
    dicts (with --model; without it, the architecture they look like), .onnx and .tflite.

    \b
    Example:
      edgeres inspect runs/r8/model_int8.tflite
      edgeres inspect resnet18-f37072fd.pth --json
      edgeres inspect third_party.onnx
    """
    from edgeres.api import inspect

    with library_prints_to_stderr(as_json):  # a --model pkg:fn may print
        result = inspect(model_path, model=model, labels=labels, img_size=img_size)
    show(result, as_json)


COMMANDS = [convert_cmd, quantize_cmd, inspect_cmd]
