"""Click options built from config dataclass fields, so each default and help text is typed once.

    @field_option(TrainConfig, "epochs")      # --epochs: type, default and help from the field

The flag is the field's name with dashes; the type comes from the field's annotation (``bool``
becomes a flag); the default is the field's; the help is the field's entry in the class
docstring's ``Attributes:`` section, without its reST markup and its ``(``--flag``)`` pointer
(which is there for readers of the code). Keyword arguments override any of these.
"""

from __future__ import annotations

import dataclasses
import functools
import inspect
import re
from collections.abc import Callable, Collection
from pathlib import Path
from typing import Any

import click

_ENTRY = re.compile(r"(\w+)(?: \([^)]*\))?: (.*)")
_FLAG_POINTER = re.compile(r"\s*\(``--[\w-]+``\)")


class FieldOption(click.Option):
    """A click option that remembers the config field it was built from (see the CLI tests).

    ``help_more`` is called when the help is shown and its text appended: a list read from the
    format table then (``--engine``'s engines, ``--to``'s formats), never copied at import.
    """

    def __init__(
        self,
        *args: Any,
        field_source: tuple[type, str],
        help_more: Callable[[], str] | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(*args, **kwargs)
        self.field_source = field_source
        self.help_more = help_more
        self.base_help = self.help

    def get_help_record(self, ctx: click.Context) -> tuple[str, str] | None:
        if self.help_more is not None:
            self.help = f"{self.base_help} {self.help_more()}"
        return super().get_help_record(ctx)


@functools.cache
def attribute_docs(cls: type) -> dict[str, str]:
    """Field name -> its text in the Google-style ``Attributes:`` section of ``cls``' docstring."""
    docs: dict[str, str] = {}
    current, indent, inside = None, None, False
    for line in inspect.cleandoc(cls.__doc__ or "").splitlines():
        text, depth = line.strip(), len(line) - len(line.lstrip())
        if not inside:
            inside = text == "Attributes:"
            continue
        if not text:
            continue
        if depth == 0:
            break
        match = _ENTRY.fullmatch(text)
        if match and depth == (indent or depth):
            indent, current = depth, match[1]
            docs[current] = match[2]
        elif current is not None:
            docs[current] += " " + text
    return docs


def field_help(cls: type, name: str) -> str:
    """The CLI help of field ``name``: its docstring entry as plain text."""
    try:
        text = attribute_docs(cls)[name]
    except KeyError:
        raise LookupError(
            f"{cls.__name__}'s docstring has no Attributes entry for '{name}'"
        ) from None
    return _FLAG_POINTER.sub("", text).replace("``", "")


def field_default(cls: type, name: str) -> Any:
    """The default of field ``name`` (``None`` when it has none)."""
    field = _field(cls, name)
    if field.default is not dataclasses.MISSING:
        return field.default
    if field.default_factory is not dataclasses.MISSING:
        return field.default_factory()
    return None


def cli_default(cls: type, name: str) -> Any:
    """The field's default as the command line writes it: a tuple becomes ``a,b`` (or nothing)."""
    default = field_default(cls, name)
    if isinstance(default, tuple):
        return ",".join(map(str, default)) or None
    return default


def field_option(cls: type, name: str, *decls: str, **attrs: Any) -> Callable[[Any], Any]:
    """``click.option`` for field ``name`` of dataclass ``cls``; the parameter is named ``name``.

    Args:
        cls: The config dataclass.
        name: The field.
        *decls: Flag names (default ``--field-name``).
        **attrs: ``click.Option`` arguments overriding what is read from the field.
    """
    field = _field(cls, name)
    attrs.setdefault("help", field_help(cls, name))
    kind = _first_type(field)
    if kind == "bool":
        attrs.setdefault("is_flag", True)
        if field.default is True:  # an "off" flag such as --no-verify
            attrs.setdefault("flag_value", False)
    else:
        attrs.setdefault("type", _CLICK_TYPES.get(kind, click.STRING))
    if not attrs.get("required"):
        attrs.setdefault("default", cli_default(cls, name))
        attrs.setdefault("show_default", kind != "bool" and attrs["default"] is not None)
    decls = decls or (f"--{name.replace('_', '-')}",)
    if name not in decls:
        decls = (*decls, name)
    return click.option(*decls, cls=FieldOption, field_source=(cls, name), **attrs)


_CLICK_TYPES: dict[str, Any] = {
    "int": click.INT,
    "float": click.FLOAT,
    "Path": click.Path(path_type=Path),
}


def _field(cls: type, name: str) -> dataclasses.Field:
    try:
        return {f.name: f for f in dataclasses.fields(cls)}[name]
    except KeyError:
        raise LookupError(f"{cls.__name__} has no field '{name}'") from None


def _first_type(field: dataclasses.Field) -> str:
    """The first non-None member of the field's annotation (a string: annotations are postponed)."""
    annotation = field.type
    if not isinstance(annotation, str):
        annotation = getattr(annotation, "__name__", str(annotation))
    members = [m.strip() for m in annotation.split("|") if m.strip() != "None"]
    return members[0].split("[")[0] if members else "str"


def config_value(config: Any, cls: type, name: str) -> tuple[bool, Any]:
    """Field ``name`` of the ``cls`` instance in ``config``: itself or a dataclass inside it."""
    if isinstance(config, cls):
        return True, getattr(config, name)
    if dataclasses.is_dataclass(config):
        for f in dataclasses.fields(config):
            inner = getattr(config, f.name)
            if dataclasses.is_dataclass(inner) and not isinstance(inner, type):
                found, value = config_value(inner, cls, name)
                if found:
                    return True, value
    return False, None


def argv(command: click.Command, config: Any, skip: Collection[str] = ()) -> list[str]:
    """The flags of ``command`` that give ``config`` back: every field option whose value is not
    its default, as the command line writes it (``--threads 1,2``, ``--no-verify``).

    The one way a command's config becomes a device's command line (``--remote``), so no flag
    is dropped on the way; ``skip`` names the fields the caller handles itself (files copied
    into the device's cache, outputs written here).
    """
    words: list[str] = []
    for param in command.params:
        if not isinstance(param, FieldOption) or param.name in skip:
            continue
        cls, name = param.field_source
        found, value = config_value(config, cls, name)
        if not found or value == field_default(cls, name):
            continue
        if param.is_flag:
            words.append(param.opts[0])
        elif isinstance(value, tuple):
            words += [param.opts[0], ",".join(map(str, value))]
        else:
            words += [param.opts[0], str(value)]
    return words
