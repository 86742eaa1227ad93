"""The search space: every registered family x its architecture options x input sizes, read from
the model registry, so a family registered later joins the search without a change here.

A family's options come from its ``ModelConfig.search`` when it sets one, else from its
constructor's signature: a ``width`` option gets ``WIDTHS``, a ``depth`` option ``DEPTHS``.
Input sizes run from the family's smallest sensible size to its default, in multiples of 8.
"""

from __future__ import annotations

import inspect
import itertools
from dataclasses import dataclass
from typing import Any

from edgeres.errors import UsageError, unknown_name

WIDTHS = (0.25, 0.5, 0.75, 1.0)
DEPTHS = (1, 2, 3)
_DERIVED = {"width": WIDTHS, "depth": DEPTHS}


@dataclass(frozen=True)
class Candidate:
    """One architecture at one input size."""

    family: str
    options: tuple[tuple[str, Any], ...]
    size: int

    @property
    def key(self) -> str:
        """A stable name, used as the study's categorical choice and its stored latency's key."""
        opts = "".join(
            f",{k}={v:g}" if isinstance(v, float) else f",{k}={v}" for k, v in self.options
        )
        return f"{self.family}{opts},size={self.size}"

    @property
    def model_args(self) -> dict[str, Any]:
        return dict(self.options)


def family_options(name: str) -> tuple[tuple[str, tuple[Any, ...]], ...]:
    """The (option, values) pairs searched for one registered family."""
    from edgeres.models.registry import model_config, model_constructor

    declared = model_config(name).search
    if declared is not None:
        return declared
    params = inspect.signature(model_constructor(name)).parameters
    return tuple((opt, values) for opt, values in _DERIVED.items() if opt in params)


def family_sizes(name: str) -> tuple[int, ...]:
    """Input sizes from the family's smallest to its default, multiples of 8 (three at most)."""
    from edgeres.models.registry import model_config

    cfg = model_config(name)
    lo, hi = cfg.min_img_size, cfg.img_size
    mid = max(lo, int(round((lo + hi) / 2 / 8)) * 8)
    return tuple(sorted({lo, mid, hi}))


def default_families() -> tuple[str, ...]:
    """Every registered family that does not opt out (``search=()``: test networks)."""
    from edgeres.models import list_models
    from edgeres.models.registry import model_config

    return tuple(n for n in list_models() if model_config(n).search != ())


def candidates(
    families: tuple[str, ...] = (), sizes: tuple[int, ...] = (), widths: tuple[float, ...] = ()
) -> list[Candidate]:
    """Every candidate of ``families`` (default: ``default_families``), at ``sizes`` when given
    (else each family's), with ``widths`` replacing a family's width values when given."""
    from edgeres.models import list_models

    names = families or default_families()
    for name in names:
        if name not in list_models():
            raise unknown_name("family", name, list_models())
    out = []
    for name in names:
        options = [
            (opt, widths if opt == "width" and widths else values)
            for opt, values in family_options(name)
        ]
        combos = itertools.product(*[[(opt, v) for v in values] for opt, values in options])
        for combo in combos:
            for size in sizes or family_sizes(name):
                out.append(Candidate(name, tuple(combo), int(size)))
    if not out:
        raise UsageError(f"the families {', '.join(names)} give no candidate to search")
    return out
