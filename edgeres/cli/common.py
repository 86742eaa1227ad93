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
