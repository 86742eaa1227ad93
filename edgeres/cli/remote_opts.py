"""``--remote`` and its options, shared by ``benchmark``, ``eval``, ``predict``, ``devices`` and
``doctor``: each flag's default and help come from ``RemoteConfig``; the command then calls
``edgeres.remote`` instead of measuring here."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

import click
from click.core import ParameterSource

from edgeres.cli.common import echo_json
from edgeres.cli.fields import field_option
from edgeres.remote.config import RemoteConfig

_NAMES = tuple(f.name for f in dataclasses.fields(RemoteConfig))


def remote_options(command: Callable[..., Any]) -> Callable[..., Any]:
    """Add every ``RemoteConfig`` field as an option of ``command``."""
    for name in reversed(_NAMES):
        command = field_option(RemoteConfig, name)(command)
    return command


def pop_remote(flags: dict[str, Any]) -> RemoteConfig | None:
    """Take the remote options out of ``flags``; a ``RemoteConfig`` when ``--remote`` was given."""
    values = {name: flags.pop(name) for name in _NAMES}
    return RemoteConfig(**values) if values["remote"] else None


def given_flags(ctx: click.Context, skip: set[str]) -> list[str]:
    """The options given on this command line (not defaults), as the device's edgeres takes
    them, except those named in ``skip`` and the remote ones."""
    words: list[str] = []
    for param in ctx.command.params:
        if not isinstance(param, click.Option) or param.name in skip or param.name in _NAMES:
            continue
        source = ctx.get_parameter_source(param.name)
        if source not in (ParameterSource.COMMANDLINE, ParameterSource.ENVIRONMENT):
            continue
        value = ctx.params.get(param.name)
        if param.is_flag:
            words += [param.opts[0]] if value else list(param.secondary_opts[:1])
        elif value is not None:
            words += [param.opts[0], str(value)]
    return words


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
