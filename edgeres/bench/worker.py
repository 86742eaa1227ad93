"""One benchmark row in a fresh process: ``python -m edgeres.bench.worker`` reads a job, prints a row.

A spinning thread pool, a JIT cache or memory one engine keeps (torch loaded for a ``.pt`` row
made every later row read 868 MB) must not bleed into the next row, so ``benchmark`` and ``tune``
run each file x engine x threads here. The job comes as one JSON object on stdin and the row goes
back as one JSON object on stdout: ``{"result": ModelResult}`` or ``{"error": ..., "exit_code": N}``
for a row that failed with its reason (a user-facing ``EdgeresError``; anything else is a crash
and is reported the same way, with its type).
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


def _run(job: Job) -> dict[str, Any]:
    from edgeres.bench.runner import measure_row
    from edgeres.profiles import Budget, load_profile

    profile = load_profile(job.profile)
    result = measure_row(job, profile, Budget(**job.budget))
    return {**result.to_dict(), "samples_ms": result.samples_ms}


def main() -> int:
    """Read a job on stdin, print its row (or its error) as JSON on stdout."""
    import os
    import warnings

    os.environ.setdefault("EDGERES_QUIET", "1")
    warnings.simplefilter("ignore")  # the row carries the load warnings it needs
    try:
        doc = {"result": _run(Job(**json.loads(sys.stdin.read())))}
    except EdgeresError as e:
        doc = {"error": str(e), "exit_code": e.exit_code}
    except Exception as e:  # noqa: BLE001 - an engine crashing on one file must not end a sweep
        doc = {"error": f"{type(e).__name__}: {e}", "exit_code": 2}
    sys.stdout.write(json.dumps(doc) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
