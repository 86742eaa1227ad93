"""Config dataclasses made from keyword arguments: flat fields fill the parts a config is
composed of (``RuntimeOptions``, ``SourceOptions``, ``StreamConfig``), so the CLI, the Python API
and a user's script build a config the same one way."""

from __future__ import annotations

import dataclasses
from typing import Any, TypeVar

from edgeres.errors import UsageError

T = TypeVar("T")


def build(cls: type[T], config: Any = None, /, **fields: Any) -> T:
    """A ``cls`` config: ``config`` itself (``fields`` replacing some of its values), or one made
    from ``config`` as the first field (a model file) and ``fields``.

    A composed part (a field whose default is a dataclass: ``runtime``, a stream ``config``) is
    filled from the flat fields it owns, so ``engine="onnxruntime"`` reaches ``runtime.engine``.
    """
    if isinstance(config, cls):
        return dataclasses.replace(config, **compose(cls, fields, config)) if fields else config
    if config is not None:
        first = dataclasses.fields(cls)[0].name
        if first in fields:
            raise UsageError(f"{first} given twice: as the first argument and as {first}=")
        fields = {first: config, **fields}
    return cls(**compose(cls, fields))


def compose(cls: type, flat: dict[str, Any], base: Any = None) -> dict[str, Any]:
    """``flat`` with the fields of ``cls``' composed parts moved into those parts."""
    flat = dict(flat)
    own = {f.name for f in dataclasses.fields(cls)}
    for f in dataclasses.fields(cls):
        default = _default(f) if base is None else getattr(base, f.name)
        if not dataclasses.is_dataclass(default) or isinstance(default, type):
            continue
        names = {g.name for g in dataclasses.fields(default)} - own
        taken = {k: flat.pop(k) for k in list(flat) if k in names}
        if taken:
            flat[f.name] = dataclasses.replace(flat.get(f.name, default), **taken)
    return flat


def _default(f: dataclasses.Field) -> Any:
    if f.default is not dataclasses.MISSING:
        return f.default
    if f.default_factory is not dataclasses.MISSING:
        return f.default_factory()
    return None
