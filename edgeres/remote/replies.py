"""What a device's edgeres may reply, checked before anything here uses it.

A device is another machine: a broken, old or hostile edgeres there can print any JSON (wrong
types, 200k nested brackets, a million entries). Each ``--remote`` command's reply passes one
parser here, which either returns it (shape and types as the CLI and its tables expect) or raises
one ``RemoteError`` naming the first thing that is wrong, e.g. ``results[0].topk[1].score: expected
a number, got 'x'``. Free-form parts (a device's environment, a row's estimate) are only bounded
in depth and size.

Standard library only.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from typing import Any

from edgeres.errors import RemoteError
from edgeres.text import clipped, shown

# Deeper than any reply edgeres writes (a benchmark row's ops table is 4 levels).
MAX_DEPTH = 32
MAX_ITEMS = 1_000_000  # list entries and dict keys in one reply, all together


class Opt:
    """A key that may be missing: ``{"notes": Opt([str])}``."""

    def __init__(self, spec: Any) -> None:
        self.spec = spec


class Null(Opt):
    """A value that may be ``null`` (the key must be there): ``{"macs": Null(int)}``."""


class Map:
    """An object whose every value matches ``spec`` (any keys): ``Map({"gmacs": NUM})``."""

    def __init__(self, spec: Any) -> None:
        self.spec = spec


NUM = "number"  # int or float, finite; never bool
ANY = "any"  # anything JSON (bounded by the reply's depth and size)


def check(value: Any, spec: Any, where: str = "reply") -> Any:
    """``value`` if it matches ``spec``, else ``RemoteError`` naming where it does not.

    ``spec`` is ``str``/``int``/``bool``/``NUM``/``ANY``, ``[item_spec]`` for a list, a dict of
    key specs (other keys are allowed), ``Map(spec)``, ``Opt(spec)``, ``Null(spec)``, or a
    tuple of alternatives.
    """
    if isinstance(spec, Null):
        return value if value is None else check(value, spec.spec, where)
    if isinstance(spec, Opt):
        return check(value, spec.spec, where)
    if isinstance(spec, tuple):
        # The one alternative of the value's own kind (object, list) says best what is wrong.
        same = [a for a in spec if _container(a) is type(value)]
        if len(same) == 1:
            return check(value, same[0], where)
        for alternative in spec:
            try:
                return check(value, alternative, where)
            except RemoteError:
                continue
        raise RemoteError(_wrong(where, "one of the expected forms", value))
    if isinstance(spec, Map):
        check(value, {}, where)
        for key, item in value.items():
            check(item, spec.spec, f"{where}.{key}")
        return value
    if isinstance(spec, dict):
        if not isinstance(value, dict):
            raise RemoteError(_wrong(where, "an object", value))
        for key, sub in spec.items():
            if key in value:
                check(value[key], sub, f"{where}.{key}")
            elif type(sub) is not Opt:
                raise RemoteError(f"{where}: '{key}' is missing")
        return value
    if isinstance(spec, list):
        if not isinstance(value, list):
            raise RemoteError(_wrong(where, "a list", value))
        for i, item in enumerate(value):
            check(item, spec[0], f"{where}[{i}]")
        return value
    if spec == ANY:
        return value
    if spec == NUM:
        ok = isinstance(value, int | float) and not isinstance(value, bool)
        if not ok or not math.isfinite(value):
            raise RemoteError(_wrong(where, "a finite number", value))
        return value
    if spec is int and isinstance(value, bool) or not isinstance(value, spec):
        raise RemoteError(_wrong(where, f"{'an' if spec is int else 'a'} {spec.__name__}", value))
    return value


def _container(spec: Any) -> type | None:
    return dict if isinstance(spec, dict | Map) else list if isinstance(spec, list) else None


def _wrong(where: str, expected: str, value: Any) -> str:
    got = "null" if value is None else type(value).__name__
    sample = clipped(repr(value), 40) if isinstance(value, str | int | float) else got
    return f"{where}: expected {expected}, got {shown(sample)}"


def loads(data: bytes) -> Any:
    """Parse a reply; its depth and size are bounded before anything walks it recursively.

    Raises:
        RemoteError: Not JSON, nested deeper than ``MAX_DEPTH`` or larger than ``MAX_ITEMS``.
    """
    try:
        doc = json.loads(data)
    except RecursionError:
        raise RemoteError(f"reply: nested deeper than {MAX_DEPTH} levels") from None
    except ValueError as e:  # UnicodeDecodeError included
        raise RemoteError(f"reply: not JSON ({clipped(str(e), 80)})") from None
    _bounded(doc)
    return doc


def _bounded(doc: Any) -> None:
    """Walk ``doc`` without recursion: refuse it past ``MAX_DEPTH`` or ``MAX_ITEMS``."""
    stack, items = [(doc, 0)], 0
    while stack:
        value, depth = stack.pop()
        if depth > MAX_DEPTH:
            raise RemoteError(f"reply: nested deeper than {MAX_DEPTH} levels")
        if isinstance(value, dict | list):
            items += len(value)
            if items > MAX_ITEMS:
                raise RemoteError(f"reply: more than {MAX_ITEMS} entries")
            children = value.values() if isinstance(value, dict) else value
            stack += [(child, depth + 1) for child in children]


_TOPK = {"label": str, "score": NUM}
PREDICT = {"results": [{"topk": [_TOPK]}], "engine": Opt(str), "providers": Opt([str])}
EVAL = {
    "accuracy": NUM,
    "correct": int,
    "total": int,
    "engine": str,
    "providers": [str],
    "images_per_second": Opt(Null(NUM)),
}
_PROFILE = {"name": str, "description": Opt(str), "is_host": Opt(bool)}
DEVICES = ([_PROFILE], _PROFILE)
_CHECK = {"status": str, "area": str, "name": str, "detail": str, "fix": Null(str)}
DOCTOR = {"versions": Map(ANY), "checks": [_CHECK], "problems": int}
# What ``probe`` reads of ``doctor --json`` before any command.
PROBE = {"versions": Opt({})}
_LATENCY = {
    k: NUM for k in ("mean_ms", "std_ms", "min_ms", "p50_ms", "p90_ms", "p99_ms", "max_ms")
} | {"runs": int, "throughput": NUM, "outliers_low": int, "outliers_high": int}
_ENV = {
    "max_temperature_c": Opt(Null(NUM)),
    "cpu_mhz": Opt(Null([NUM])),
    "throttling": Opt(Map(ANY)),
}
_ROW = {
    **{k: str for k in ("model", "name", "format", "precision", "macs_source", "memory_method")},
    **{k: NUM for k in ("load_ms", "first_ms")},
    **{k: Null(NUM) for k in ("peak_rss_mb", "rss_before_mb")},
    **{k: int for k in ("threads", "file_size_bytes", "warmup_runs")},
    "macs": Null(int),
    "accuracy": Opt(Null(NUM)),
    "accuracy_n": Opt(Null(int)),
    "providers": [str],
    "latency": _LATENCY,
    "trial_p50_ms": [NUM],
    "env_before": Opt(_ENV),
    "env_after": Opt(_ENV),
    "estimate": Opt(Null({"p50_ms": Opt(Null(NUM))})),
    "load_warnings": Opt([str]),
    "engine": Opt(str),
    "ops": Opt(
        Null([{"name": str, "op_type": str, "kernel": ANY, "ms": NUM, "integer": Null(bool)}])
    ),
    "ops_note": Opt(str),
}
BENCHMARK = {
    **{k: str for k in ("profile", "profile_source", "label", "created")},
    "profile_is_host": bool,
    "budget": {k: ANY for k in ("warmup_runs", "warmup_seconds", "trials", "min_runs")}
    | {k: ANY for k in ("min_seconds", "pause_seconds")},
    "environment": {"governor": Opt(Null([str])), "libraries": Opt(Map(ANY))},
    "timer_overhead_ns": {},
    "results": [_ROW],
    "notes": Opt([str]),
    "peak": Opt(Null(Map({"gmacs": NUM, "engine": str}))),
}


def parse(data: bytes, spec: Any, what: str) -> Any:
    """A reply parsed and checked against ``spec``; errors say it was ``what``'s reply."""
    try:
        return check(loads(data), spec)
    except RemoteError as e:
        raise RemoteError(f"{what} replied what this edgeres cannot read: {e}") from None


def checker(spec: Any) -> Callable[[Any], Any]:
    """``check`` against ``spec``, as a function of the parsed reply."""
    return lambda doc: check(doc, spec)
