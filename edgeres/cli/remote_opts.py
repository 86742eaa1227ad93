"""``--remote`` and its options, for every command whose row in ``edgeres.cli.table`` has a
device side: each flag's default and help come from ``RemoteConfig``; ``on_device`` is the one
place a command goes to the devices instead of working here."""

from __future__ import annotations

import dataclasses
import importlib
from collections.abc import Callable, Collection
from typing import Any

import click

from edgeres.cli.common import MAX_PIXELS_KEY, echo_json, log
from edgeres.cli.fields import argv, field_option
from edgeres.cli.table import COMMAND_TABLE
from edgeres.errors import GateFailed, UsageError
from edgeres.remote.config import RemoteConfig

REMOTE_NAMES = tuple(f.name for f in dataclasses.fields(RemoteConfig))


def remote_options(command: Callable[..., Any]) -> Callable[..., Any]:
    """Add every ``RemoteConfig`` field as an option of ``command``."""
    for name in reversed(REMOTE_NAMES):
        command = field_option(RemoteConfig, name)(command)
    return command


def pop_remote(flags: dict[str, Any]) -> RemoteConfig | None:
    """Take the remote options out of ``flags``; a ``RemoteConfig`` when ``--remote`` was given."""
    values = {name: flags.pop(name) for name in REMOTE_NAMES}
    return RemoteConfig(**values) if values["remote"] else None


def on_device(ctx: click.Context, remote: RemoteConfig, config: Any, as_json: bool) -> None:
    """Run the command of ``ctx`` on the devices ``remote`` names, by its table row: refuse its
    local-only flags, turn ``config`` back into the device's flags, call its device side."""
    row = COMMAND_TABLE[ctx.command.name]
    refuse_local_only(ctx, row.local_only, row.local_why)
    words = device_flags(ctx, config, skip={*row.here, *row.local_only})
    module, name = row.device.split(":")
    getattr(importlib.import_module(module), name)(remote, config, words, as_json)


def device_flags(ctx: click.Context, config: Any, skip: Collection[str] = ()) -> list[str]:
    """The command's config as the device's edgeres takes it (``argv``), plus the flags that
    act before any config (``--max-image-pixels``); ``skip``: fields the caller places itself."""
    words = argv(ctx.command, config, skip)
    if (pixels := ctx.meta.get(MAX_PIXELS_KEY)) is not None:
        words += ["--max-image-pixels", str(pixels)]
    return words


def refuse_local_only(ctx: click.Context, names: Collection[str], why: str) -> None:
    """Refuse (exit 2) the options in ``names`` given with ``--remote``: they act here only."""
    given = [p for p in ctx.command.params if p.name in names and ctx.params.get(p.name)]
    if given:
        flags = " and ".join(p.opts[0] for p in given)
        raise UsageError(f"{flags} cannot be used with --remote: {why}")


def show_remote(
    results: list, as_json: bool, text: Callable[[list], str], result_dict=None
) -> None:
    """Print the devices' results (a table, or ``--json``), then fail (exit 2) if any failed."""
    from edgeres.remote.fleet import raise_failures
    from edgeres.remote.tables import to_json

    if as_json:
        echo_json(to_json(results, result_dict or (lambda r: r)))
    elif any(r.ok for r in results) or len(results) > 1:
        click.echo(text(results))
    raise_failures(results)


# The device sides of the table's rows: (remote, config, words, as_json).


def eval_on_devices(remote: RemoteConfig, config: Any, words: list[str], as_json: bool) -> None:
    from edgeres.remote.commands import remote_eval
    from edgeres.remote.tables import eval_text

    show_remote(remote_eval(remote, config, words), as_json, eval_text)


def predict_on_devices(remote: RemoteConfig, config: Any, words: list[str], as_json: bool) -> None:
    from edgeres.remote.commands import remote_predict
    from edgeres.remote.tables import predict_text

    show_remote(remote_predict(remote, config, words), as_json, predict_text)


def devices_on_devices(remote: RemoteConfig, config: Any, words: list[str], as_json: bool) -> None:
    from edgeres.remote import replies
    from edgeres.remote.commands import remote_json
    from edgeres.remote.tables import devices_text

    args = ["devices", *([config.name] if config.name else []), *words, "--json"]
    show_remote(remote_json(remote, args, replies.DEVICES), as_json, devices_text)


def doctor_on_devices(remote: RemoteConfig, config: Any, words: list[str], as_json: bool) -> None:
    from edgeres.remote import replies
    from edgeres.remote.commands import remote_json
    from edgeres.remote.tables import doctor_text

    args = ["doctor", "--json", *words]
    show_remote(remote_json(remote, args, replies.DOCTOR), as_json, doctor_text)


def benchmark_on_devices(
    remote: RemoteConfig, config: Any, words: list[str], as_json: bool
) -> None:
    from edgeres.remote.commands import remote_benchmark
    from edgeres.remote.tables import benchmark_text

    results = remote_benchmark(remote, config, words)
    for r in results:
        for path in r.result.written if r.ok else []:
            log(f"wrote {path}")
    try:
        show_remote(results, as_json, benchmark_text, lambda run: run.report.to_dict())
    finally:
        for r in results:
            for line in r.result.comparison_lines() if r.ok else []:
                log(f"{r.name}: {line}")
    # Outputs that could not be written are a user error (exit 2), after the figures are shown.
    unwritten = [str(e) for r in results if r.ok and (e := r.result.write_error()) is not None]
    if unwritten:
        raise UsageError("; ".join(unwritten))
    worse = [
        f"{r.name}: {r.result.gate_message()}" for r in results if r.ok and not r.result.passed
    ]
    if worse:
        raise GateFailed("; ".join(worse))
