"""The in-process worker of tools/fuzz_files.py: runs many `edgeres` commands in one process.

Started by the fuzzer; reads one JSON request a line on stdin (``{"id": .., "args": [...]}``) and
answers one JSON line per request on the stdout it was given (everything the commands or the
engines print, C libraries included, goes to ``--log`` instead). Before the first request it runs
the ``--warm`` commands (valid files: every engine and lazy import loaded), then caps its address
space (RLIMIT_AS) at what it uses plus ``--mem-cap-mb``, so a file that makes edgeres allocate
without bound hits the cap in this process instead of the machine.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import sys
import time
import traceback
from pathlib import Path

MEMORY_WORDS = ("can't allocate memory", "bad_alloc", "bad allocation", "cannot allocate memory",
                "unable to allocate", "out of memory", "memoryerror", "failed to allocate")  # fmt: skip
TRACEBACK = "Traceback (most recent call last)"


def classify(exit_code: int, stderr: str, output: str, exc_text: str | None) -> tuple[str, str]:
    """``(outcome, message)``: ``ok``, ``clean`` (exit 2 and one ``error:`` line), ``memory`` (the
    cap was hit: an uncaught allocation failure), or ``traceback`` (anything else)."""
    if exc_text is not None:
        lowered = exc_text.lower()
        if any(w in lowered for w in MEMORY_WORDS):
            return "memory", exc_text
        return "traceback", exc_text
    if TRACEBACK in output:
        return "traceback", output[output.index(TRACEBACK) :]
    errors = [line for line in stderr.splitlines() if line.startswith("error:")]
    if exit_code == 0:
        return "ok", ""
    if exit_code == 2 and len(errors) == 1:
        return "clean", errors[0]
    return (
        "traceback",
        f"exit {exit_code} with {len(errors)} error: lines; output: {output[-1500:]}",
    )


def run_one(runner, main, args: list[str]) -> dict:
    """One command through click's test runner (in this process), classified."""
    t0 = time.perf_counter()
    result = runner.invoke(main, args, prog_name="edgeres", catch_exceptions=True)
    seconds = time.perf_counter() - t0
    exc_text = None
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        exc_text = "".join(traceback.format_exception(*result.exc_info))
    outcome, message = classify(result.exit_code, result.stderr, result.output, exc_text)
    return {"exit": result.exit_code, "outcome": outcome, "message": message[-4000:],
            "seconds": round(seconds, 3)}  # fmt: skip


def _vm_size_bytes() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmSize:"):
            return int(line.split()[1]) * 1024
    raise RuntimeError("no VmSize in /proc/self/status")


def _quiet_fds(log_path: str):
    """Keep a private copy of stdout for the answers; fds 1 and 2 go to the log."""
    answers = os.fdopen(os.dup(1), "w", buffering=1)
    log = os.open(log_path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    os.dup2(log, 1)
    os.dup2(log, 2)
    os.close(log)
    return answers


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--log", required=True)
    ap.add_argument("--mem-cap-mb", type=int, default=2048)
    ap.add_argument("--warm", default="[]", help="JSON list of argument lists run first")
    args = ap.parse_args()
    answers = _quiet_fds(args.log)
    os.environ["EDGERES_QUIET"] = "1"
    from click.testing import CliRunner

    from edgeres.cli import main as cli

    runner = CliRunner()
    warm = [run_one(runner, cli, a) for a in json.loads(args.warm)]
    limit = _vm_size_bytes() + args.mem_cap_mb * 2**20
    resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    answers.write(json.dumps({"ready": True, "warm": warm, "limit_mb": limit // 2**20}) + "\n")
    for line in sys.stdin:
        request = json.loads(line)
        try:
            answer = run_one(runner, cli, request["args"])
        except MemoryError:  # the runner itself could not allocate
            answer = {"exit": None, "outcome": "memory", "message": "MemoryError", "seconds": 0}
        answers.write(json.dumps({"id": request["id"], **answer}) + "\n")


if __name__ == "__main__":
    main()
