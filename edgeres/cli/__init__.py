"""The ``edgeres`` command line: a click group; each command parses, calls one function, prints.

Commands live in one module per area (``train_cmds``, ``convert_cmds``, ...), each exposing
``COMMANDS``. User errors (``EdgeresError``) become one line on stderr and the error's exit code;
``--debug`` shows the traceback instead.
"""

from __future__ import annotations

import importlib
import signal
import sys
import threading
import warnings

import click

from edgeres import __version__
from edgeres.errors import EdgeresError, ParamError, warning_text
from edgeres.fileio import disk_full_error, is_disk_full
from edgeres.text import shown

_COMMAND_MODULES = (
    "train_cmds",
    "convert_cmds",
    "runtime_cmds",
    "bench_cmds",
    "tune_cmds",
    "stream_cmds",
    "demo_cmds",
    "fit_cmds",
)


class Terminated(KeyboardInterrupt):
    """SIGTERM, raised where the main thread is, so that what a command started (a benchmark
    worker, ssh and the device's command) is stopped on the way out, as for Ctrl-C."""


def _terminate(signum: int, frame: object) -> None:
    raise Terminated


class _Group(click.Group):
    """A group that turns ``EdgeresError`` into one line and an exit code."""

    def invoke(self, ctx: click.Context):
        # Python's default SIGTERM ends the process at once and orphans its children.
        main = threading.current_thread() is threading.main_thread()
        old = signal.signal(signal.SIGTERM, _terminate) if main else None
        try:
            with warnings.catch_warnings():
                warnings.showwarning = _show_warning
                return self._invoke(ctx)
        finally:
            if main:
                signal.signal(signal.SIGTERM, old)

    def _invoke(self, ctx: click.Context):
        try:
            return super().invoke(ctx)
        except EdgeresError as e:
            if ctx.meta.get("edgeres.debug"):
                raise
            # One line, whatever file name or message it carries (newlines, escape codes).
            click.echo(f"error: {shown(as_flag(ctx, e))}", err=True)
            ctx.exit(e.exit_code)
        except KeyboardInterrupt as e:
            terminated = isinstance(e, Terminated)
            click.echo("terminated" if terminated else "interrupted", err=True)
            ctx.exit(128 + (signal.SIGTERM if terminated else signal.SIGINT))
        except Exception as e:
            # A full disk found by a writer that is not ours (an engine, a library's own save):
            # still one line, naming the file where the error says which.
            if ctx.meta.get("edgeres.debug") or not is_disk_full(e):
                raise
            click.echo(f"error: {disk_full_error(getattr(e, 'filename', None), e)}", err=True)
            ctx.exit(2)


def _show_warning(message, category, filename, lineno, file=None, line=None) -> None:  # noqa: ANN001
    """A library warning as one ``warning:`` line, its advice naming flags (``FlagWarning``)."""
    click.echo(f"warning: {shown(warning_text(message, for_cli=True))}", err=True)


def as_flag(ctx: click.Context, e: EdgeresError) -> str:
    """The error's text, a ``ParamError``'s parameter shown as the command's flag for it."""
    command = main.commands.get(ctx.invoked_subcommand or "")
    if not isinstance(e, ParamError) or command is None:
        return str(e)
    flag = next((p.opts[0] for p in command.params if p.name == e.param), None)
    return f"{flag} {e.detail}" if flag else str(e)


@click.group(cls=_Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="edgeres")
@click.option("--debug", is_flag=True, help="Show full tracebacks for errors.")
@click.pass_context
def main(ctx: click.Context, debug: bool) -> None:
    """Train small ResNets, convert and quantize them to ONNX/TFLite, and run them on edge devices.

    \b
    A typical path:
      edgeres train --model resnet8 --data shapes --out runs/r8
      edgeres convert runs/r8/model.pt --to onnx,tflite
      edgeres quantize runs/r8/model.pt --calib shapes --to onnx,tflite
      edgeres benchmark runs/r8/*.onnx runs/r8/*.tflite
      edgeres tune runs/r8/ --data shapes --save my-device.yaml
      edgeres run runs/r8/model_int8.tflite --source demo
    """
    ctx.meta["edgeres.debug"] = debug


for _name in _COMMAND_MODULES:
    _module = importlib.import_module(f"edgeres.cli.{_name}")
    for _cmd in _module.COMMANDS:
        main.add_command(_cmd)


def run() -> None:  # pragma: no cover - convenience for `python -m edgeres.cli`
    sys.exit(main())
