"""The helper that builds click options from config dataclass fields."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from edgeres.cli.fields import FieldOption, attribute_docs, field_help, field_option


@dataclass(frozen=True)
class Tiny:
    """A config for these tests.

    Attributes:
        size: Input size in pixels (``--size``); by default the model's, which is
            ``32`` for ``test_resnet``.
        rate: Learning rate (``--rate``).
        out: Where to write (``--out``).
        verify: Check the result.
        fast: Skip the slow part (``--fast``).
        threads: Threads, N or 1,2,4 (``--threads``).
        name: A name.

    Returns nothing: this section is not an attribute.
    """

    size: int | None = None
    rate: float = 0.1
    out: Path = Path("out")
    verify: bool = True
    fast: bool = False
    threads: tuple[int, ...] | str = ()
    name: str = "x"
    undocumented: int = field(default=3)


@click.command()
@field_option(Tiny, "size")
@field_option(Tiny, "rate")
@field_option(Tiny, "out")
@field_option(Tiny, "verify", "--no-verify", help="Do not check.")
@field_option(Tiny, "fast")
@field_option(Tiny, "threads")
@field_option(Tiny, "name", "--label", "-l")
def tiny_cmd(**kw):
    click.echo(repr(Tiny(**kw)))


def test_docstring_entries_with_continuation_lines():
    docs = attribute_docs(Tiny)
    assert docs["size"].endswith("which is ``32`` for ``test_resnet``.")
    assert "undocumented" not in docs and "Returns nothing" not in " ".join(docs.values())


def test_help_is_plain_text_without_the_flag_pointer():
    assert field_help(Tiny, "size") == (
        "Input size in pixels; by default the model's, which is 32 for test_resnet."
    )
    with pytest.raises(LookupError, match="undocumented"):
        field_help(Tiny, "undocumented")
    with pytest.raises(LookupError, match="no field"):
        field_option(Tiny, "nope")


def test_defaults_and_types_come_from_the_fields():
    res = CliRunner().invoke(tiny_cmd, [])
    assert res.exit_code == 0, res.output
    # An empty tuple default is "no flag given": the config's own parsing turns None back into ().
    assert res.output.strip() == repr(Tiny(threads=None))
    res = CliRunner().invoke(
        tiny_cmd, ["--size", "8", "--rate", "2", "--out", "o", "--no-verify", "--fast", "-l", "y"]
    )
    assert res.output.strip() == repr(
        Tiny(size=8, rate=2.0, out=Path("o"), verify=False, fast=True, threads=None, name="y")
    )
    res = CliRunner().invoke(tiny_cmd, ["--size", "big"])
    assert res.exit_code == 2 and "'big' is not a valid integer" in res.output


def test_help_shows_defaults_but_not_for_none_or_flags():
    out = CliRunner().invoke(tiny_cmd, ["--help"]).output
    assert "[default: 0.1]" in out and "[default: out]" in out and "[default: x]" in out
    assert "Do not check." in out
    options = {p.name: p for p in tiny_cmd.params}
    assert not options["size"].show_default and not options["threads"].show_default
    assert not options["fast"].show_default and options["threads"].default is None
    assert all(isinstance(p, FieldOption) for p in tiny_cmd.params)
    assert options["name"].field_source == (Tiny, "name")
