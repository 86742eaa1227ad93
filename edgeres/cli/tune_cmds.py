"""``edgeres tune``: its options are the fields of ``TuneConfig``, each default and help read there.

Making a run folder's missing files (convert, quantize) happens here, above the bench room, which
measures files and never imports the workstation side.
"""

from __future__ import annotations

import shlex
import sys
from pathlib import Path

import click

from edgeres.cli.common import echo_json, engine_help, log
from edgeres.cli.fields import field_option
from edgeres.tune.sweep import TuneConfig


def _t(name: str, *decls: str, **attrs):
    return field_option(TuneConfig, name, *decls, **attrs)


@click.command("tune")
@click.argument("targets", nargs=-1, required=True, type=click.Path(path_type=Path))
@_t("data")
@_t("limit")
@_t("max_drop")
@_t("threads")
@_t("engines", help_more=engine_help)
@_t("calib")
@_t("min_time")
@_t("trials")
@_t("profile", "--profile", "-p")
@_t("save", metavar="PROFILE.yaml")
@_t("plot", metavar="F.png")
@_t("md", metavar="F.md")
@_t("force")
@click.option("--json", "as_json", is_flag=True, help="Print the ranked rows as JSON on stdout.")
def tune_cmd(as_json: bool, targets: tuple[Path, ...], **flags) -> None:
    """Find the fastest file x engine x threads on this machine, and whether INT8 pays here.

    Measures every file of a run folder on every installed engine at 1 to all cores, each in a
    fresh process, ranks them and recommends the fastest within --max-drop of FP32 accuracy.

    \b
    Example:
      edgeres tune runs/r8/
      edgeres tune runs/r8/ --data shapes --max-drop 0.5 --save my-device.yaml --plot tune.png
      edgeres run runs/r8/model_int8.onnx --profile my-device.yaml --source demo
    """
    from edgeres.tune import report as tune_report
    from edgeres.tune.sweep import collect_files, estimate_seconds, plan, tune

    config = TuneConfig(targets, **flags, quiet=as_json)
    files, checkpoints = collect_files(config.targets)
    made, notes = make_missing(checkpoints, files, config)
    files = list(dict.fromkeys([*files, *made]))
    rows, _ = plan(files, config)
    seconds = estimate_seconds(rows, config.budget(), config.data)
    log(f"tune: {len(rows)} rows to measure, about {seconds:.0f} s here")
    result = tune(config, files, notes)
    for note in result.notes:
        log(f"note: {note}")
    command = "edgeres " + " ".join(shlex.quote(a) for a in sys.argv[1:])
    for path in tune_report.write_outputs(result, config, command):
        log(f"wrote {path}")
    if as_json:
        echo_json(tune_report.to_dict(result))
    else:
        click.echo(tune_report.to_text(result))


def make_missing(
    checkpoints: list[Path], files: list[Path], config: TuneConfig
) -> tuple[list[Path], list[str]]:
    """Convert and quantize each checkpoint into the formats its folder lacks; new files + notes."""
    from edgeres.formats import FORMATS, export_formats

    made, notes = [], []
    for ckpt in checkpoints:
        want = {
            (fmt, tag): ckpt.with_name(f"{ckpt.stem}{tag}{FORMATS[fmt].suffix}")
            for fmt in export_formats()
            for tag in ("", "_int8")
        }
        missing = {k: p for k, p in want.items() if not p.exists() and p not in files}
        if not missing:
            continue
        try:
            made += _export(ckpt, missing, config)
        except ImportError as e:  # a device install has no torch: measure what is there
            notes.append(f"{ckpt.name}: cannot make {len(missing)} missing file(s) here ({e})")
    return made, notes


def _export(ckpt: Path, missing: dict, config: TuneConfig) -> list[Path]:
    from edgeres.convert import convert
    from edgeres.quantize import quantize

    fp32 = tuple(fmt for fmt, tag in missing if tag == "")
    int8 = tuple(fmt for fmt, tag in missing if tag == "_int8")
    made = []
    if fp32:
        log(f"tune: making {', '.join(fp32)} from {ckpt}")
        made += convert(ckpt, fp32, quiet=config.quiet).outputs.values()
    if int8:
        log(f"tune: quantizing {ckpt} to {', '.join(int8)}")
        made += quantize(ckpt, calib=config.calib, to=int8, quiet=config.quiet).outputs.values()
    return list(made)


COMMANDS = [tune_cmd]
