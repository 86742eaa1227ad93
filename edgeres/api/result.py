"""What every API function returns, and how keyword arguments become a config dataclass."""

from __future__ import annotations

import dataclasses
import sys
from dataclasses import dataclass, field
from typing import Any, TypeVar

from edgeres.errors import EdgeresError, UsageError
from edgeres.text import shown_lines

T = TypeVar("T")


@dataclass
class Result:
    """One command's outcome.

    Attributes of the library's own result (``outputs``, ``report``, ``rows``...) are reached
    through this object too: ``er.convert(...).outputs``.

    Attributes:
        value: The room's own result object (``ConvertResult``, ``BenchmarkRun``, ...).
        document: The command's ``--json`` document.
        text: The lines the command prints on stdout (without ``--json``).
        notes: Log lines the command prints on stderr either way (files written, warnings).
        failure: The error a quality gate raised (exit 1), or outputs that could not be
            written (exit 2); ``None`` when everything passed.
        shown: False on a distributed training rank other than 0, which prints nothing.
    """

    value: Any
    document: Any
    text: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    failure: EdgeresError | None = None
    shown: bool = True

    @property
    def passed(self) -> bool:
        return self.failure is None

    def to_dict(self) -> Any:
        """The ``--json`` document."""
        return self.document

    def lines(self) -> list[str]:
        """What the command prints without ``--json``."""
        return list(self.text)

    def __getattr__(self, name: str) -> Any:
        if name.startswith("__") or name == "value":
            raise AttributeError(name)
        return getattr(self.value, name)


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


def note(message: str) -> None:
    """A progress message on stderr (stdout stays for the result and ``--json``)."""
    print(shown_lines(message), file=sys.stderr, flush=True)
