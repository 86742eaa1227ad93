"""Errors a user can cause, each turned into one line and an exit code by the CLI.

Library code raises these with a message that says what was received, what is valid and what
to do next. ``assert`` stays for invariants of our own code.
"""

from __future__ import annotations

import difflib
import math
from collections.abc import Iterable


class EdgeresError(Exception):
    """Base of every error caused by input, files or the environment (exit code 2)."""

    exit_code = 2


class UsageError(EdgeresError):
    """A flag, name or combination of options that is not valid."""


class ParamError(UsageError):
    """A bad value of one parameter, named as the library calls it (``samples``); the CLI shows
    the flag instead (``--samples``), so library errors never name a command line.

    Attributes:
        param: The parameter (a config field or keyword argument).
    """

    def __init__(self, param: str, message: str) -> None:
        super().__init__(f"{param} {message}")
        self.param = param
        self.detail = message


class FlagWarning(UserWarning):
    """A warning whose advice names library parameters (``spec_override=``); ``cli`` is the same
    advice naming the command line's flags (``--img-size``), which the CLI shows instead.

    Attributes:
        cli: The text for a command-line user.
    """

    def __init__(self, message: str, cli: str) -> None:
        super().__init__(message)
        self.cli = cli


def warning_text(message: Warning | str, for_cli: bool) -> str:
    """A caught warning's text, for a command-line user when ``for_cli`` (see ``FlagWarning``)."""
    if for_cli and isinstance(message, FlagWarning):
        return message.cli
    return str(message)


class DataError(EdgeresError):
    """A data set, image folder or calibration source that cannot be used."""


class ModelFileError(EdgeresError):
    """A model file that is missing, truncated, of the wrong kind or unsafe to load."""


class MissingDependencyError(EdgeresError):
    """An optional engine or library is not installed; the message names the extra."""


class EngineUnavailable(MissingDependencyError):
    """An inference engine cannot be imported or started here; ``runtime.load`` tries the next."""


class OutputExistsError(EdgeresError):
    """An output would overwrite an existing file or run (use --force)."""


class RemoteError(EdgeresError):
    """A device reached over SSH cannot be used: unreachable, refused, no edgeres, or it failed."""


class GateFailed(EdgeresError):
    """A quality gate failed: accuracy drop, parity, a benchmark regression (exit code 1)."""

    exit_code = 1


def unknown_name(kind: str, name: str, valid: Iterable[str]) -> UsageError:
    """Build the error for an unknown name, offering close matches.

    Args:
        kind: What was named, e.g. ``"model"`` or ``"device profile"``.
        name: What the user typed.
        valid: Every accepted name.
    """
    valid = sorted(valid)
    close = difflib.get_close_matches(name, valid, n=3, cutoff=0.5)
    hint = f"; did you mean {', '.join(close)}?" if close else ""
    return UsageError(f"unknown {kind} '{name}'{hint} (valid: {', '.join(valid)})")


def missing_dependency(module: str, extra: str, what: str) -> MissingDependencyError:
    """Build the error for an optional module that is not installed."""
    return MissingDependencyError(
        f"{what} needs the Python module '{module}', which is not installed; "
        f"install it with: pip install 'edgeres[{extra}]'"
    )


# Seeds numpy's and torch's generators both take.
SEED_MAX = 2**32 - 1


def check_number(
    value: float | None,
    flag: str,
    minimum: float | None = None,
    *,
    above: bool = False,
    maximum: float | None = None,
) -> None:
    """Refuse a number a user typed that is not finite or out of range; ``None`` passes.

    Args:
        value: What was received.
        flag: The parameter to name in the message (``"lr"``: a ``ParamError``, which the
            CLI shows with its flag), or a flag or key written out (``"--lr"``, ``"a.b"``).
        minimum: Smallest valid value; with ``above`` the value must be strictly greater.
        maximum: Largest valid value.
    """
    if value is None:
        return
    # A parameter's name (not a flag) lets the CLI show its own flag for it.
    error = UsageError if flag.startswith("-") or " " in flag else ParamError
    fail = (lambda m: error(f"{flag} {m}")) if error is UsageError else (lambda m: error(flag, m))
    if isinstance(value, float) and not math.isfinite(value):
        raise fail(f"must be a finite number, got {value}")
    if minimum is not None and (value <= minimum if above else value < minimum):
        bound = f"> {minimum:g}" if above else f">= {minimum:g}"
        raise fail(f"must be {bound}, got {value}")
    if maximum is not None and value > maximum:
        raise fail(f"must be <= {maximum:g}, got {value}")
