"""A benchmark row as a job for a fresh process, and how to run it there (``worker`` runs it).

``benchmark`` and ``tune`` hand each file x engine x threads to ``python -m edgeres.bench.worker``:
the job goes as one JSON object on stdin and the row comes back as one JSON object on stdout,
``{"result": ModelResult}`` or ``{"error": ..., "exit_code": N}`` for a row that failed with its
reason.
"""

from __future__ import annotations

import json
import subprocess
import sys
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from edgeres.errors import EdgeresError

# A row that takes longer than this is stuck (a hung engine), not slow: it is stopped.
ROW_TIMEOUT_S = 900


@dataclass(frozen=True)
class Job:
    """One row: a file on an engine at a thread count, with the run's budget and data."""

    model: str
    threads: int
    profile: str
    budget: dict[str, Any]
    engine: str | None = None
    data: str | None = None
    limit: int | None = None
    seed: int = 0
    ops: bool = False
    by_index: bool = False
    load_options: dict[str, Any] = field(default_factory=dict)


class RowFailed(EdgeresError):
    """One row of a sweep failed; ``exit_code`` is the worker's."""

    def __init__(self, message: str, exit_code: int = 2) -> None:
        super().__init__(message)
        self.exit_code = exit_code


def run_isolated(job: Job, timeout_s: float = ROW_TIMEOUT_S) -> dict[str, Any]:
    """Run ``job`` in a fresh interpreter; its row as a dict (``ModelResult.to_dict`` + samples).

    Raises:
        RowFailed: The row failed (its reason), crashed, or ran past ``timeout_s``.
    """
    cmd = [sys.executable, "-m", "edgeres.bench.worker"]
    try:
        proc = subprocess.run(
            cmd, input=json.dumps(asdict(job)), capture_output=True, text=True, timeout=timeout_s
        )
    except subprocess.TimeoutExpired:
        raise RowFailed(f"{Path(job.model).name}: no result within {timeout_s:.0f} s") from None
    try:
        doc = json.loads(proc.stdout.strip().splitlines()[-1])
    except (json.JSONDecodeError, IndexError):
        tail = (proc.stderr.strip().splitlines() or [f"exit code {proc.returncode}"])[-1]
        raise RowFailed(f"{Path(job.model).name}: the worker crashed ({tail[:200]})") from None
    if "error" in doc:
        raise RowFailed(doc["error"], int(doc.get("exit_code", 2)))
    return doc["result"]
