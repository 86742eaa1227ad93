"""What ``edgeres doctor`` checks: one frozen dataclass, so ``--remote`` rebuilds its flags the
one way every command's are (``edgeres.cli.fields.argv``)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class DoctorConfig:
    """Which checks ``doctor`` runs.

    Attributes:
        no_cameras: Skip probing /dev/video* devices (``--no-cameras``).
        peak: Measure this machine's attained FP32/INT8 GMAC/s (a few seconds); benchmark and
            tune then show each result as a share of it (``--peak``).
    """

    no_cameras: bool = False
    peak: bool = False
