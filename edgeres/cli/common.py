"""Helpers shared by the CLI command modules."""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Iterator
from typing import Any

import click

from edgeres.data.common import DEFAULT_MAX_IMAGE_PIXELS
from edgeres.text import json_text, shown_lines


def echo_json(obj: Any) -> None:
    """Print one JSON document on stdout (logs go to stderr)."""
    click.echo(json_text(obj, indent=2, sort_keys=True, default=str))


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


MAX_PIXELS_KEY = "edgeres.max_image_pixels"


def _set_max_image_pixels(ctx: click.Context, param: click.Parameter, value: int | None) -> None:
    if value is not None:
        ctx.meta[MAX_PIXELS_KEY] = value  # forwarded to a device with --remote
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
        f"header, before decoding (default {DEFAULT_MAX_IMAGE_PIXELS}).",
    )(f)


def engine_help() -> str:
    """The engines of the format table, read when the help is shown."""
    from edgeres.formats import engine_names

    return f"One of: {', '.join(engine_names())}."


def runtime_options(command: Any) -> Any:
    """``--profile``, ``--engine``, ``--threads``, ``--strict``: the fields of ``RuntimeOptions``."""
    from edgeres.cli.fields import field_option
    from edgeres.runtime.options import RuntimeOptions

    extra = {"engine": {"metavar": "E", "help_more": engine_help}}
    for name in reversed(RUNTIME_FIELDS):
        command = field_option(RuntimeOptions, name, **extra.get(name, {}))(command)
    return command


RUNTIME_FIELDS = ("profile", "engine", "threads", "strict")


def pop_runtime(flags: dict[str, Any]) -> Any:
    """Take the runtime options out of a command's flags."""
    from edgeres.runtime.options import RuntimeOptions

    return RuntimeOptions(**{name: flags.pop(name) for name in RUNTIME_FIELDS})


def show(result: Any, as_json: bool) -> None:
    """Print an API function's result the one way every command does: its notes on stderr, then
    its ``--json`` document or its lines on stdout; then raise the gate that failed, if any."""
    if not result.shown:
        return
    for note in result.notes:
        log(note)
    if as_json:
        echo_json(result.to_dict())
    else:
        for line in result.lines():
            click.echo(line)
    if result.failure is not None:
        raise result.failure
