"""``--remote`` and its options, shared by ``benchmark``, ``eval``, ``predict``, ``devices`` and
``doctor``: each flag's default and help come from ``RemoteConfig``; the command then calls
``edgeres.remote`` instead of measuring here."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Collection
from typing import Any

import click

from edgeres.cli.common import MAX_PIXELS_KEY, echo_json
from edgeres.cli.fields import argv, field_option
from edgeres.errors import UsageError
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
