"""``edgeres prune`` and ``edgeres fit``: options are the fields of ``PruneConfig`` / ``FitConfig``,
each default and help read there; the work is ``edgeres.api.prune`` / ``edgeres.api.fit``."""

from __future__ import annotations

from pathlib import Path

import click

from edgeres.cli.common import show
from edgeres.cli.fields import field_option
from edgeres.fit.config import FitConfig
from edgeres.prune.config import PruneConfig


def _p(name: str, *decls: str, **attrs):
    return field_option(PruneConfig, name, *decls, **attrs)


@click.command("prune")
@click.argument("model", type=click.Path(path_type=Path))
@_p("data")
@_p("out", required=True)
@_p("macs")
@_p("latency_ms")
@_p("teacher")
@_p("no_teacher")
@_p("arch")
@_p("epochs")
@_p("lr")
@_p("batch_size")
@_p("limit")
@_p("eval_limit")
@_p("profile", "--profile", "-p")
@_p("to")
@_p("max_drop")
@_p("seed")
@_p("threads")
@_p("force")
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON on stdout.")
def prune_cmd(as_json: bool, **kw) -> None:
    """Remove whole channels from a trained network, fine-tune it distilled from the original,
    and quantize it.

    Channels added into one residual stream are pruned together (Torch-Pruning's
    DependencyGraph). The pruned network is a checkpoint recording each layer's width: convert,
    quantize, eval, predict, inspect, train --init and --teacher load it like any other.

    \b
    Example:
      edgeres prune runs/r18/model.pt --data photos/ --macs 0.5 --out runs/r18-p50
      edgeres prune runs/r18/model.pt --data photos/ --macs 0.5 --no-teacher --out runs/r18-p50-ce
      edgeres prune runs/r18/model.pt --data photos/ --latency-ms 2 --out runs/r18-2ms
      edgeres prune weights.pth --arch resnet18s --data photos/ --macs 0.4 --out runs/mine
    """
    from edgeres.api import prune

    show(prune(PruneConfig(**kw, quiet=as_json)), as_json)


def _f(name: str, *decls: str, **attrs):
    return field_option(FitConfig, name, *decls, **attrs)


@click.command("fit")
@_f("data")
@_f("out", required=True)
@_f("latency_ms")
@_f("fps")
@_f("profile", "--profile", "-p")
@_f("remote")
@_f("families", type=str)
@_f("sizes", type=str)
@_f("widths", type=str)
@_f("trials")
@_f("proxy_epochs")
@_f("proxy_limit")
@_f("epochs")
@_f("limit")
@_f("eval_limit")
@_f("study")
@_f("study_name")
@_f("teacher")
@_f("max_drop")
@_f("threads")
@_f("measure_threads", type=str)
@_f("measure_time")
@_f("search_only")
@_f("seed")
@_f("force")
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON on stdout.")
def fit_cmd(as_json: bool, **kw) -> None:
    """Find the most accurate network that runs within a latency budget on the target.

    Every family of the model registry x width x input size is exported to INT8 with random
    weights and measured on the target (this machine, a --profile, or the board over --remote)
    with the engine tune picks; the candidates within the budget get short proxy runs in an
    Optuna study (multi-objective sampler, median pruner), the winner is trained fully,
    quantized with the accuracy gate and tuned. Writes pareto.md/.csv/.png, fit.json and
    chosen/. The study is stored (sqlite in --out): the same command resumes a killed search,
    and several processes given one --study share it.

    \b
    Example:
      edgeres fit --data photos/ --latency-ms 5 --out runs/fit
      edgeres fit --data photos/ --fps 30 --remote pi@pi5.local --out runs/fit-pi
      edgeres fit --data shapes --latency-ms 1 --families resnet8,resnet18s --sizes 32,64 \\
          --trials 30 --study sqlite:////shared/fit.db --out runs/fit-a   (and -b on a second)
    """
    from edgeres.api import fit

    show(fit(FitConfig(**kw, quiet=as_json)), as_json)


COMMANDS = [prune_cmd, fit_cmd]
