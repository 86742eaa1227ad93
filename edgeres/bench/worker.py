"""One benchmark row in a fresh process: ``python -m edgeres.bench.worker`` reads a job, prints a row.

A spinning thread pool, a JIT cache or memory one engine keeps (torch loaded for a ``.pt`` row
made every later row read 868 MB) must not bleed into the next row, so ``benchmark`` and ``tune``
run each file x engine x threads here (``jobs.run_isolated``). A user-facing ``EdgeresError`` and
an engine's crash on one file are both reported as the row's error, with its reason.
"""

from __future__ import annotations

import json
import sys
from typing import Any

from edgeres.bench.jobs import Job
from edgeres.errors import EdgeresError
from edgeres.text import json_text


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
    sys.stdout.write(json_text(doc) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
