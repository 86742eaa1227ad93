"""What every API function returns."""

from __future__ import annotations

import sys
from dataclasses import dataclass, field
from typing import Any

from edgeres.configs import build
from edgeres.errors import EdgeresError
from edgeres.text import shown_lines

__all__ = ["Result", "build", "note"]


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


def note(message: str) -> None:
    """A progress message on stderr (stdout stays for the result and ``--json``)."""
    print(shown_lines(message), file=sys.stderr, flush=True)
