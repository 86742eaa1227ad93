"""CLI commands of the bench area: ``benchmark``, ``devices``, ``doctor``.

``benchmark``'s options are the fields of ``BenchConfig``, each default and help read from there.
"""

from __future__ import annotations

import shlex
import sys
from pathlib import Path

import click

from edgeres.bench.config import BenchConfig
from edgeres.cli.common import echo_json, engine_help, max_image_pixels_option, show
from edgeres.cli.fields import field_option
from edgeres.cli.remote_opts import on_device, pop_remote, remote_options
from edgeres.cli.table import COMMAND_TABLE
from edgeres.doctor.config import DoctorConfig
from edgeres.profiles.listing import DevicesConfig


@click.command("devices")
@click.argument("name", required=False)
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table/YAML.")
@remote_options
def devices_cmd(name: str | None, as_json: bool, **remote_flags) -> None:
    """List device profiles, or show one (NAME: a profile name or a YAML file path).

    The profile matching this machine is marked with '*'; 'host' is computed from this machine
    and is used when no shipped profile matches.

    \b
    Example:
      edgeres devices
      edgeres devices raspberry-pi-5
      edgeres devices ./my-board.yaml --json
      edgeres devices --remote pi@pi5.local,jetson.local
    """
    from edgeres.bench.tables import profile_rows, text_table
    from edgeres.profiles import list_profiles, load_profile

    remote = pop_remote(remote_flags)
    if remote:
        return on_device(click.get_current_context(), remote, DevicesConfig(name), as_json)

    if name:
        profile = load_profile(name)
        if as_json:
            echo_json(profile.to_dict())
        else:
            click.echo(f"# {profile.name} (from {profile.source}; this machine: {profile.is_host})")
            click.echo(profile.to_yaml().rstrip())
        return
    profiles = list_profiles()
    if as_json:
        echo_json([p.to_dict() for p in profiles])
        return
    click.echo(text_table(*profile_rows(profiles)))


def _bench_opt(name: str, *decls: str, **attrs):
    return field_option(BenchConfig, name, *decls, **attrs)


_FILE = click.Path(path_type=Path)


@click.command("benchmark")
@max_image_pixels_option
@click.argument("models", nargs=-1, required=True, type=_FILE)
@_bench_opt("profile", "--profile", "-p")
@_bench_opt("runs")
@_bench_opt("warmup")
@_bench_opt("threads")
@_bench_opt("engine", metavar="E", help_more=engine_help)
@_bench_opt("data")
@_bench_opt("limit")
@_bench_opt("by_index")
@_bench_opt("min_time")
@_bench_opt("warmup_time")
@_bench_opt("trials")
@_bench_opt("pause")
@_bench_opt("quick")
@_bench_opt("ops")
@click.option("--json", "as_json", is_flag=True, help="Print the full result as JSON on stdout.")
@_bench_opt("csv")
@_bench_opt("md")
@_bench_opt("plot")
@_bench_opt("save")
@_bench_opt("baseline")
@_bench_opt("tolerance")
@_bench_opt("force")
@_bench_opt("in_process")
@_bench_opt("seed")
@remote_options
@click.pass_context
def benchmark_cmd(ctx: click.Context, as_json: bool, **flags) -> None:
    """Measure latency (p50/p90/p99...), memory, size, MACs and accuracy of model files.

    Warm-up by count and time, then trials of runs until both a minimum count and a minimum
    time are reached; outliers are counted, not removed. With a profile for another device, the
    figures are measured here with its settings and an estimate for the device is added.

    \b
    Example:
      edgeres benchmark runs/r8/model.onnx runs/r8/model_int8.onnx runs/r8/model_int8.tflite
      edgeres benchmark model_int8.tflite --threads 1,2,4 --md bench.md --plot bench.png
      edgeres benchmark model.onnx --profile raspberry-pi-5 --data shapes --limit 500
      edgeres benchmark model.onnx --json > base.json
      edgeres benchmark model.onnx --baseline base.json --tolerance 10
      edgeres benchmark model_int8.onnx --engine openvino --ops
      edgeres benchmark model_int8.tflite model.onnx --remote pi@pi5.local,jetson.local
    """
    from edgeres.api import benchmark

    remote = pop_remote(flags)
    config = benchmark_config(flags, as_json)
    if remote:
        return on_device(ctx, remote, config, as_json)
    show(benchmark(config), as_json)


def benchmark_config(flags: dict, as_json: bool) -> BenchConfig:
    """``benchmark``'s parsed flags (remote ones taken out) as its config."""
    command = "edgeres " + " ".join(shlex.quote(a) for a in sys.argv[1:])
    return BenchConfig(**flags, quiet=as_json, command=command)


# Fields a remote benchmark handles here (its row of the command table).
BENCH_HERE = COMMAND_TABLE["benchmark"].here


@click.command("doctor")
@click.option("--json", "as_json", is_flag=True, help="Print the checks as JSON.")
@field_option(DoctorConfig, "no_cameras")
@field_option(DoctorConfig, "peak")
@remote_options
@click.pass_context
def doctor_cmd(ctx: click.Context, as_json: bool, **flags) -> None:
    """Show what is installed and what works here; each problem comes with the line that fixes it.

    \b
    Example:
      edgeres doctor
      edgeres doctor --json
      edgeres doctor --peak
      edgeres doctor --remote pi@pi5.local
    """
    from edgeres.doctor.checks import doctor_text, run_doctor

    remote = pop_remote(flags)
    config = DoctorConfig(**flags)
    if remote:
        return on_device(ctx, remote, config, as_json)
    result = run_doctor(cameras=not config.no_cameras, peak=config.peak)
    if as_json:
        echo_json(result)
        return
    click.echo(doctor_text(result))


COMMANDS: list = [benchmark_cmd, devices_cmd, doctor_cmd]
