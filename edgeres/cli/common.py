"""Helpers shared by the CLI command modules."""

from __future__ import annotations

import contextlib
import json
import os
import sys
from collections.abc import Iterator
from typing import Any

import click

from edgeres.text import shown_lines


def echo_json(obj: Any) -> None:
    """Print one JSON document on stdout (logs go to stderr)."""
    click.echo(json.dumps(obj, indent=2, sort_keys=True, default=str))


@contextlib.contextmanager
def library_prints_to_stderr(enabled: bool = True) -> Iterator[None]:
    """Inside the block, anything written to stdout goes to stderr: Python ``print`` and C/C++
    writes on file descriptor 1 alike (ONNX Runtime's calibrators print their progress), so a
    ``--json`` document printed after the block is the only thing on stdout."""
    if not enabled:
        yield
        return
    sys.stdout.flush()
    saved_fd, saved_stdout = os.dup(1), sys.stdout
    os.dup2(2, 1)
    sys.stdout = sys.stderr
    try:
        yield
    finally:
        sys.stdout.flush()
        _flush_c_stdio()
        os.dup2(saved_fd, 1)
        os.close(saved_fd)
        sys.stdout = saved_stdout


def _flush_c_stdio() -> None:
    """Flush C's stdio buffers (a library's ``printf`` not yet written) before fd 1 goes back."""
    import ctypes

    with contextlib.suppress(OSError, AttributeError, TypeError):
        ctypes.CDLL(None).fflush(None)


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
