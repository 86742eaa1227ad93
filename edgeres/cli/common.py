"""Helpers shared by the CLI command modules."""

from __future__ import annotations

import json
from typing import Any

import click

from edgeres.text import shown_lines


def echo_json(obj: Any) -> None:
    """Print one JSON document on stdout (logs go to stderr)."""
    click.echo(json.dumps(obj, indent=2, sort_keys=True, default=str))


def log(msg: str) -> None:
    """A human log line on stderr, so stdout stays clean for --json; control characters escaped."""
    click.echo(shown_lines(msg), err=True)


def _set_max_image_pixels(ctx: click.Context, param: click.Parameter, value: int | None) -> None:
    if value is not None:
        from edgeres.data.common import set_max_image_pixels

        set_max_image_pixels(value)


def max_image_pixels_option(f):  # noqa: ANN001, ANN201 - a click decorator
    """``--max-image-pixels N``: the largest image any reader of this command decodes."""
    return click.option(
        "--max-image-pixels",
        type=click.IntRange(min=1),
        default=None,
        metavar="N",
        expose_value=False,
        callback=_set_max_image_pixels,
        help="Largest image (width x height) to decode; larger files are refused from their "
        "header, before decoding (default 67108864 = 8192x8192).",
    )(f)


def workers_option(f):  # noqa: ANN001, ANN201 - a click decorator
    """``--workers N``: processes that decode and resize the data (0: in this process)."""
    return click.option(
        "--workers",
        type=click.IntRange(min=0),
        default=None,
        metavar="N",
        help="Processes that decode and resize images while the model runs (0: in this "
        "process; default: min(4, cores - 1); more than the cores is capped).",
    )(f)
