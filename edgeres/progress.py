"""Progress bars: on stderr, quiet when asked (``--json``) or when stderr is not a terminal."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterable
from typing import Any, TypeVar

from tqdm import tqdm

T = TypeVar("T")


def progress(iterable: Iterable[T] | None = None, *, quiet: bool = False, **kw: Any) -> tqdm:
    """A tqdm bar on stderr; ``quiet`` (or ``EDGERES_QUIET=1``) disables it.

    Non-terminal stderr (CI logs) still gets the bar's final line, which records the totals.
    """
    disable = quiet or os.environ.get("EDGERES_QUIET") == "1"
    kw.setdefault("dynamic_ncols", True)
    kw.setdefault("leave", True)
    kw.setdefault("mininterval", 0.5 if sys.stderr.isatty() else 5.0)
    return tqdm(iterable, file=sys.stderr, disable=disable, **kw)
