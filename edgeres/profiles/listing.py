"""What ``edgeres devices`` shows: one frozen dataclass (see ``edgeres.cli.table``)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class DevicesConfig:
    """Which profiles ``devices`` lists.

    Attributes:
        name: A profile name or a YAML file path: show that one (by default every profile).
    """

    name: str | None = None
