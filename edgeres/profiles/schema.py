"""Strict YAML-to-dataclass conversion for device profiles.

A profile file is user input: an unknown key, a missing field or a value of the wrong type must
give one line naming the file and the dotted key (``camera.fps``), never a ``TypeError`` from deep
inside a dataclass constructor. The rules come from the dataclasses' own type hints, so the schema
and the code cannot drift apart.
"""

from __future__ import annotations

import dataclasses
import math
import types
import typing
from typing import Any

from edgeres.errors import UsageError

_TYPE_NAMES = {str: "a string", int: "an integer", float: "a number", bool: "true/false"}


class SchemaError(UsageError):
    """A profile file that does not match the schema; ``key`` is the dotted path."""

    def __init__(self, key: str, msg: str) -> None:
        super().__init__(f"key '{key}': {msg}" if key else msg)
        self.key = key
        self.detail = msg


def build(cls: type, data: Any, key: str = "") -> Any:
    """Build dataclass ``cls`` from plain YAML ``data``, checking keys and types recursively.

    Raises:
        SchemaError: Unknown key, missing field or wrong type, with the dotted key.
    """
    if not isinstance(data, dict):
        raise SchemaError(key, f"expected a mapping, got {_describe(data)}")
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls) if f.init and f.metadata.get("yaml", True)}
    # Keys a class no longer accepts, each with the reason and what to use instead.
    for name, why in getattr(cls, "REMOVED_KEYS", {}).items():
        if name in data:
            raise SchemaError(f"{key}.{name}" if key else name, why)
    unknown = sorted(set(map(str, data)) - set(fields))
    if unknown:
        where = f"{key}." if key else ""
        raise SchemaError(
            f"{where}{unknown[0]}", f"unknown key (valid here: {', '.join(sorted(fields))})"
        )
    kwargs = {}
    for name, f in fields.items():
        sub = f"{key}.{name}" if key else name
        if name not in data:
            if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
                raise SchemaError(sub, "missing (this field is required)")
            continue
        kwargs[name] = convert(hints[name], data[name], sub)
    try:
        return cls(**kwargs)
    except SchemaError:
        raise
    except UsageError as e:
        raise SchemaError(key, str(e)) from None


def convert(tp: Any, value: Any, key: str) -> Any:
    """Check ``value`` against type hint ``tp`` and convert lists to tuples."""
    origin = typing.get_origin(tp)
    args = typing.get_args(tp)
    if origin in (typing.Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        inner = [a for a in args if a is not type(None)]
        if len(inner) == 1:
            return convert(inner[0], value, key)
        for a in inner:
            try:
                return convert(a, value, key)
            except SchemaError:
                continue
        raise SchemaError(key, f"expected {_type_name(tp)}, got {_describe(value)}")
    if dataclasses.is_dataclass(tp):
        return build(tp, value, key)
    if origin is tuple:
        if not isinstance(value, list | tuple):
            raise SchemaError(
                key, f"expected a list of {_type_name(args[0])}, got {_describe(value)}"
            )
        return tuple(convert(args[0], v, f"{key}[{i}]") for i, v in enumerate(value))
    if origin is dict:
        if not isinstance(value, dict):
            raise SchemaError(key, f"expected a mapping, got {_describe(value)}")
        return {
            convert(args[0], k, key): convert(args[1], v, f"{key}.{k}") for k, v in value.items()
        }
    return _scalar(tp, value, key)


def _scalar(tp: Any, value: Any, key: str) -> Any:
    # bool is an int subclass in Python; YAML `yes` must not pass as a thread count.
    if tp is float and isinstance(value, int | float) and not isinstance(value, bool):
        if not math.isfinite(value):  # YAML's .nan and .inf: no setting means either
            raise SchemaError(key, f"expected a finite number, got {value}")
        return float(value)
    if tp is int and isinstance(value, int) and not isinstance(value, bool):
        return value
    if tp in (str, bool) and isinstance(value, tp):
        return value
    raise SchemaError(key, f"expected {_type_name(tp)}, got {_describe(value)}")


def _type_name(tp: Any) -> str:
    if tp in _TYPE_NAMES:
        return _TYPE_NAMES[tp]
    args = [a for a in typing.get_args(tp) if a is not type(None)]
    if typing.get_origin(tp) in (typing.Union, types.UnionType):
        return " or ".join(_type_name(a) for a in args) + " (or null)"
    if typing.get_origin(tp) is tuple:
        return f"a list of {_type_name(args[0])}"
    return getattr(tp, "__name__", str(tp))


def _describe(value: Any) -> str:
    if value is None:
        return "null"
    text = repr(value)
    return f"{type(value).__name__} {text[:40]}"


def to_plain(obj: Any) -> Any:
    """Turn a profile dataclass back into YAML/JSON-ready plain data (tuples become lists)."""
    if dataclasses.is_dataclass(obj):
        return {
            f.name: to_plain(getattr(obj, f.name))
            for f in dataclasses.fields(obj)
            if f.metadata.get("yaml", True)
        }
    if isinstance(obj, dict):
        return {k: to_plain(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [to_plain(v) for v in obj]
    return obj
