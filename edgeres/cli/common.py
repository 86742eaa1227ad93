"""Helpers shared by the CLI command modules."""

from __future__ import annotations

import json
from typing import Any

import click


def echo_json(obj: Any) -> None:
    """Print one JSON document on stdout (logs go to stderr)."""
    click.echo(json.dumps(obj, indent=2, sort_keys=True, default=str))


def log(msg: str) -> None:
    """A human log line on stderr, so stdout stays clean for --json."""
    click.echo(msg, err=True)
