"""``edgeres convert`` and ``edgeres quantize``: parse, call the library, print."""

from __future__ import annotations

import click

from edgeres.cli.common import echo_json, log
from edgeres.errors import GateFailed, UsageError
from edgeres.formats import EXPORT_FORMATS, parse_format_list

_TO_HELP = f"Comma-separated formats ({', '.join(EXPORT_FORMATS)})."


def _triple(text: str | None, flag: str) -> tuple[float, float, float] | None:
    if text is None:
        return None
    try:
        values = tuple(float(v) for v in text.split(","))
    except ValueError:
        values = ()
    if len(values) != 3:
        raise UsageError(f"{flag} needs three comma-separated numbers (R,G,B), got '{text}'")
    return values  # type: ignore[return-value]


@click.command("convert")
@click.argument("model", type=click.Path(dir_okay=False))
@click.option("--to", "to", default=",".join(EXPORT_FORMATS), show_default=True, help=_TO_HELP)
@click.option(
    "--out",
    "out_dir",
    type=click.Path(file_okay=False),
    help="Output folder (default: beside MODEL).",
)
@click.option("--opset", type=int, default=18, show_default=True, help="ONNX opset version.")
@click.option(
    "--dynamic-batch", is_flag=True, help="ONNX batch dimension left free (default: fixed at 1)."
)
@click.option("--force", is_flag=True, help="Replace existing output files.")
@click.option("--no-verify", is_flag=True, help="Skip the parity check against the checkpoint.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON document on stdout.")
def convert_cmd(model, to, out_dir, opset, dynamic_batch, force, no_verify, as_json) -> None:
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

    result = convert(
        model,
        parse_format_list(to),
        out_dir,
        opset=opset,
        dynamic_batch=dynamic_batch,
        force=force,
        verify=not no_verify,
        quiet=as_json,
    )
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
            f"parity check failed for {failed}: the file does not compute what the checkpoint does"
        )


@click.command("quantize")
@click.argument("model", type=click.Path(dir_okay=False))
@click.option(
    "--calib",
    metavar="DIR|shapes|FILE.npy",
    help="Calibration images: a folder, 'shapes', or a .npy of preprocessed tensors "
    "(default: the shipped calibration_data/).",
)
@click.option(
    "--to", "to", help=f"{_TO_HELP} Default: onnx,tflite from a checkpoint, onnx from an ONNX file."
)
@click.option("--samples", type=int, default=300, show_default=True, help="Calibration samples.")
@click.option(
    "--method",
    type=click.Choice(["minmax", "entropy", "percentile"]),
    default="minmax",
    show_default=True,
    help="ONNX activation range method.",
)
@click.option(
    "--per-tensor", is_flag=True, help="One weight scale per tensor (default: per channel)."
)
@click.option(
    "--profile", help="Device profile; decides the ONNX activation type (default: this host)."
)
@click.option(
    "--activations",
    type=click.Choice(["uint8", "int8"]),
    help="ONNX activation type, overriding the profile.",
)
@click.option(
    "--io",
    type=click.Choice(["int8", "float"]),
    default="int8",
    show_default=True,
    help="TFLite input/output type.",
)
@click.option(
    "--eval-data",
    metavar="DATA",
    help="Data for FP32 vs INT8 accuracy (default: what the checkpoint was trained on).",
)
@click.option(
    "--eval-limit", type=int, default=1000, show_default=True, help="At most this many eval images."
)
@click.option(
    "--max-drop",
    metavar="PTS",
    type=float,
    help="Fail (exit 1, file deleted) if INT8 top-1 drops more than PTS points.",
)
@click.option(
    "--out",
    "out_dir",
    type=click.Path(file_okay=False),
    help="Output folder (default: beside MODEL).",
)
@click.option("--force", is_flag=True, help="Replace existing output files.")
@click.option("--img-size", type=int, help="Input size of an ONNX file without edgeres metadata.")
@click.option("--mean", help="Its RGB mean after scaling to [0,1], e.g. 0.485,0.456,0.406.")
@click.option("--std", help="Its RGB std, e.g. 0.229,0.224,0.225.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON document on stdout.")
def quantize_cmd(
    model,
    calib,
    to,
    samples,
    method,
    per_tensor,
    profile,
    activations,
    io,
    eval_data,
    eval_limit,
    max_drop,
    out_dir,
    force,
    img_size,
    mean,
    std,
    as_json,
) -> None:
    """Quantize a checkpoint (or an FP32 ONNX file) to calibrated INT8 ONNX and TFLite.

    ONNX: ONNX Runtime static quantization (QDQ, per-channel int8 weights, uint8 activations on
    x86 / int8 on ARM per the device profile). TFLite: PT2E, full integer with int8 input and
    output, NHWC. Writes <stem>_int8.onnx, <stem>_int8.tflite and <stem>_int8_report.json
    (accuracy, agreement, worst layers, full-integer check, sizes).

    \b
    Example:
      edgeres quantize runs/r8/model.pt --calib shapes --to onnx,tflite --max-drop 0.5
      edgeres quantize third_party.onnx --to onnx --calib images/ --img-size 96 \\
          --mean 0.485,0.456,0.406 --std 0.229,0.224,0.225
    """
    from edgeres.quantize import quantize

    result = quantize(
        model,
        calib,
        parse_format_list(to) if to else None,
        samples=samples,
        method=method,
        per_tensor=per_tensor,
        profile=profile,
        activations=activations,
        io=io,
        eval_data=eval_data,
        eval_limit=eval_limit,
        max_drop=max_drop,
        out_dir=out_dir,
        force=force,
        img_size=img_size,
        mean=_triple(mean, "--mean"),
        std=_triple(std, "--std"),
        quiet=as_json,
    )
    if as_json:
        echo_json(result.to_dict())
    else:
        click.echo("\n".join(result.report.lines()))
        log(f"report saved to {result.report_path}")
    if not result.passed:
        raise GateFailed(
            f"INT8 accuracy dropped more than {max_drop:g} points for {', '.join(result.report.rejected)}; "
            "that file was deleted (see the report; try --method entropy, more --samples or calibration "
            "images closer to the deployment data)"
        )


COMMANDS = [convert_cmd, quantize_cmd]
