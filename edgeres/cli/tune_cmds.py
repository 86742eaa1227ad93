"""``edgeres tune``: its options are the fields of ``TuneConfig``, each default and help read there.

The work (making a run folder's missing files, the sweep, the outputs) is ``edgeres.api.tune``.
"""

from __future__ import annotations

import shlex
import sys
from pathlib import Path

import click

from edgeres.cli.common import engine_help, show
from edgeres.cli.fields import field_option
from edgeres.tune.sweep import TuneConfig


def _tune_opt(name: str, *decls: str, **attrs):
    return field_option(TuneConfig, name, *decls, **attrs)


@click.command("tune")
@click.argument("targets", nargs=-1, required=True, type=click.Path(path_type=Path))
@_tune_opt("data")
@_tune_opt("limit")
@_tune_opt("max_drop")
@_tune_opt("threads")
@_tune_opt("engines", help_more=engine_help)
@_tune_opt("calib")
@_tune_opt("min_time")
@_tune_opt("trials")
@_tune_opt("profile", "--profile", "-p")
@_tune_opt("save", metavar="PROFILE.yaml")
@_tune_opt("plot", metavar="F.png")
@_tune_opt("md", metavar="F.md")
@_tune_opt("force")
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
    from edgeres.api import tune

    command = "edgeres " + " ".join(shlex.quote(a) for a in sys.argv[1:])
    show(tune(TuneConfig(targets, **flags, quiet=as_json), command=command), as_json)


COMMANDS = [tune_cmd]
