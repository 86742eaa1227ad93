"""CLI commands of the bench area: ``benchmark``, ``devices``, ``doctor``."""

from __future__ import annotations

import dataclasses
import os
import shlex
import sys
import tempfile
from pathlib import Path

import click

from edgeres.cli.common import echo_json, log
from edgeres.errors import GateFailed, UsageError

QUICK = {
    "warmup_runs": 3,
    "warmup_seconds": 0.0,
    "min_runs": 20,
    "min_seconds": 0.1,
    "trials": 2,
    "pause_seconds": 0.0,
}


@click.command("devices")
@click.argument("name", required=False)
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table/YAML.")
def devices_cmd(name: str | None, as_json: bool) -> None:
    """List device profiles, or show one (NAME: a profile name or a YAML file path).

    The profile matching this machine is marked with '*'; 'host' is computed from this machine
    and is used when no shipped profile matches.

    \b
    Example:
      edgeres devices
      edgeres devices raspberry-pi-5
      edgeres devices ./my-board.yaml --json
    """
    from edgeres.bench.tables import profile_rows, text_table
    from edgeres.profiles import list_profiles, load_profile

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


def parse_threads(text: str | None) -> tuple[int, ...]:
    """``--threads 4`` or ``--threads 1,2,4`` into a tuple of positive ints."""
    if not text:
        return ()
    try:
        values = tuple(dict.fromkeys(int(t) for t in text.split(",") if t.strip()))
    except ValueError:
        raise UsageError(f"--threads takes N or a list like 1,2,4, got '{text}'") from None
    if not values or any(v < 1 for v in values):
        raise UsageError(f"--threads values must be >= 1, got '{text}'")
    return values


def check_writable(path: Path | None, flag: str, force: bool) -> None:
    """Refuse an output that exists (without --force) or whose folder cannot be written, early."""
    if path is None:
        return
    from edgeres.fileio import check_overwrite

    check_overwrite(path, force)
    if path.is_dir():
        raise UsageError(f"{flag} '{path}' is a folder; give a file name")
    ancestor = path.parent.absolute()
    while not ancestor.exists():
        ancestor = ancestor.parent
    # os.access says yes to root everywhere (even /proc): create and delete a probe file instead.
    try:
        fd, probe = tempfile.mkstemp(prefix=".edgeres-probe-", dir=ancestor)
        os.close(fd)
        os.unlink(probe)
    except OSError as e:
        raise UsageError(
            f"cannot write {flag} '{path}': '{ancestor}' is not writable ({e.strerror}); "
            "choose another path"
        ) from None


def build_budget(profile, runs, warmup, min_time, warmup_time, trials, pause, quick):
    """The profile's budget with the flags' overrides; each bad flag named in the error."""
    values = {
        "min_runs": runs,
        "warmup_runs": warmup,
        "min_seconds": min_time,
        "warmup_seconds": warmup_time,
        "trials": trials,
        "pause_seconds": pause,
    }
    flags = {
        "min_runs": "--runs",
        "warmup_runs": "--warmup",
        "min_seconds": "--min-time",
        "warmup_seconds": "--warmup-time",
        "trials": "--trials",
        "pause_seconds": "--pause",
    }
    for key, value in values.items():
        low = 1 if key in ("min_runs", "trials") else 0
        if value is not None and value < low:
            raise UsageError(f"{flags[key]} must be >= {low}, got {value}")
    base = {**dataclasses.asdict(profile.budget), **(QUICK if quick else {})}
    base.update({k: v for k, v in values.items() if v is not None})
    return dataclasses.replace(profile.budget, **base)


@click.command("benchmark")
@click.argument("models", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option(
    "--profile",
    "-p",
    "profile_name",
    help="Device profile name or YAML path (default: this machine's).",
)
@click.option(
    "--runs", type=int, help="Minimum measured runs per trial (profile's budget otherwise)."
)
@click.option("--warmup", type=int, help="Minimum warm-up runs.")
@click.option("--threads", help="Threads: N, or a list 1,2,4 to sweep (default: the profile's).")
@click.option("--data", help="Also measure accuracy on shapes | DIR | cifar10:DIR.")
@click.option("--limit", type=int, help="Evaluate at most N images of --data.")
@click.option("--min-time", type=float, help="Minimum seconds per trial.")
@click.option("--warmup-time", type=float, help="Minimum warm-up seconds.")
@click.option("--trials", type=int, help="Number of trials.")
@click.option("--pause", type=float, help="Seconds of pause between trials.")
@click.option(
    "--quick",
    is_flag=True,
    help="A tiny budget for smoke tests (2 trials of 20 runs); not for quoting.",
)
@click.option("--json", "as_json", is_flag=True, help="Print the full result as JSON on stdout.")
@click.option(
    "--csv", "csv_path", type=click.Path(path_type=Path), help="Write one CSV row per result."
)
@click.option("--md", "md_path", type=click.Path(path_type=Path), help="Write a Markdown table.")
@click.option(
    "--plot",
    "plot_path",
    type=click.Path(path_type=Path),
    help="Write a PNG: distributions + p50/p90 bars.",
)
@click.option(
    "--save",
    "save_path",
    type=click.Path(path_type=Path),
    help="Write the JSON result to a file (a future --baseline).",
)
@click.option(
    "--baseline",
    type=click.Path(path_type=Path),
    help="Compare with an earlier JSON result; exit 1 on regression.",
)
@click.option(
    "--tolerance",
    type=float,
    default=10.0,
    show_default=True,
    help="Allowed p50/accuracy worsening in percent.",
)
@click.option("--force", is_flag=True, help="Replace existing output files.")
def benchmark_cmd(
    models,
    profile_name,
    runs,
    warmup,
    threads,
    data,
    limit,
    min_time,
    warmup_time,
    trials,
    pause,
    quick,
    as_json,
    csv_path,
    md_path,
    plot_path,
    save_path,
    baseline,
    tolerance,
    force,
) -> None:
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
    """
    from edgeres.bench import report as rep
    from edgeres.bench.baseline import compare, load_baseline
    from edgeres.bench.runner import BenchConfig, run_benchmark
    from edgeres.profiles import load_profile

    profile = load_profile(profile_name)
    budget = build_budget(profile, runs, warmup, min_time, warmup_time, trials, pause, quick)
    if limit is not None and limit < 1:
        raise UsageError(f"--limit must be >= 1, got {limit}")
    for path, flag in (
        (csv_path, "--csv"),
        (md_path, "--md"),
        (plot_path, "--plot"),
        (save_path, "--save"),
    ):
        check_writable(path, flag, force)
    if plot_path:
        from edgeres.bench.plot import load_pyplot as _pyplot

        _pyplot()  # a missing matplotlib should fail before minutes of measuring
    old = load_baseline(baseline) if baseline else None
    config = BenchConfig(
        tuple(models), profile, parse_threads(threads), budget, data, limit, quiet=as_json
    )
    result = run_benchmark(config)
    for note in result.notes:
        log(f"warning: {note}")
    _write_outputs(result, csv_path, md_path, plot_path, save_path)
    if as_json:
        echo_json(result.to_dict())
    else:
        click.echo(rep.to_text(result))
    if old is not None:
        comparisons, unmatched = compare(old, result, tolerance)
        for line in [c.describe() for c in comparisons] + unmatched:
            log(line)
        worse = [c for c in comparisons if c.worse]
        if worse:
            raise GateFailed(
                f"{len(worse)} regression(s) beyond {tolerance}% against '{baseline}': "
                + "; ".join(c.describe() for c in worse)
            )


def _write_outputs(result, csv_path, md_path, plot_path, save_path) -> None:

    command = "edgeres " + " ".join(shlex.quote(a) for a in sys.argv[1:])
    try:
        _write_each(result, csv_path, md_path, plot_path, save_path, command)
    except OSError as e:
        raise UsageError(f"cannot write output '{e.filename}': {e.strerror}") from None
    for path in (csv_path, md_path, save_path, plot_path):
        if path:
            log(f"wrote {path}")


def _write_each(result, csv_path, md_path, plot_path, save_path, command) -> None:
    from edgeres.bench import report as rep
    from edgeres.fileio import atomic_write_text

    if csv_path:
        atomic_write_text(csv_path, rep.to_csv(result))
    if md_path:
        atomic_write_text(md_path, rep.to_markdown(result, command))
    if save_path:
        atomic_write_text(save_path, rep.to_json(result))
    if plot_path:
        from edgeres.bench.plot import save_plot

        save_plot(result, plot_path)


@click.command("doctor")
@click.option("--json", "as_json", is_flag=True, help="Print the checks as JSON.")
@click.option("--no-cameras", is_flag=True, help="Skip probing /dev/video* devices.")
def doctor_cmd(as_json: bool, no_cameras: bool) -> None:
    """Show what is installed and what works here; each problem comes with the line that fixes it.

    \b
    Example:
      edgeres doctor
      edgeres doctor --json
    """
    from edgeres.bench.doctor import run_doctor
    from edgeres.bench.tables import text_table

    result = run_doctor(cameras=not no_cameras)
    if as_json:
        echo_json(result)
        return
    click.echo("versions: " + ", ".join(f"{k} {v}" for k, v in result["versions"].items()))
    rows = [[c["status"], c["area"], c["name"], c["detail"]] for c in result["checks"]]
    click.echo(text_table(["STATUS", "AREA", "CHECK", "DETAIL"], rows))
    fixes = [c for c in result["checks"] if c["fix"]]
    for c in fixes:
        click.echo(f"fix {c['name']}: {c['fix']}")
    click.echo(f"{result['problems']} problem(s)")


COMMANDS: list = [benchmark_cmd, devices_cmd, doctor_cmd]
