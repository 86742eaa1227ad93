"""Load many randomly corrupted copies of one model file in this process and report the outcomes.

Run as a subprocess by test_bad_files.py, so a crash of a native engine shows up as a signal
exit code instead of killing the test run. Prints one JSON object: counts per outcome and the
first few unexpected exceptions.
"""

from __future__ import annotations

import json
import random
import sys
import warnings
from pathlib import Path

import numpy as np


def corrupt(data: bytes, rng: random.Random) -> bytes:
    b = bytearray(data)
    mode = rng.random()
    if mode < 0.25:  # truncation anywhere
        return bytes(b[: rng.randrange(len(b))])
    # Structure (flatbuffer tables, protobuf headers) sits near the front: aim half the flips there.
    region = len(b) // 4 if mode < 0.6 else len(b)
    for _ in range(rng.randint(1, 8)):
        pos = rng.randrange(region)
        b[pos] = rng.randrange(256) if rng.random() < 0.5 else b[pos] ^ (1 << rng.randrange(8))
    return bytes(b)


def main(model: str, seed: int, count: int, workdir: str) -> None:
    from edgeres import runtime
    from edgeres.errors import EdgeresError

    warnings.simplefilter("ignore")
    src = Path(model)
    data = src.read_bytes()
    rng = random.Random(seed)
    counts = {"ok": 0, "error": 0, "unexpected": 0}
    unexpected = []
    for case in range(count):
        path = Path(workdir) / f"case{case}{src.suffix}"
        path.write_bytes(corrupt(data, rng))
        try:
            with runtime.load(path) as backend:
                backend.infer(np.zeros(backend.spec.shape(1), np.float32))
            counts["ok"] += 1
        except EdgeresError:
            counts["error"] += 1
        except Exception as e:  # noqa: BLE001 - exactly what the test is looking for
            counts["unexpected"] += 1
            unexpected.append(f"case {case}: {type(e).__name__}: {e}"[:300])
            path.rename(path.with_name(f"unexpected{case}{src.suffix}"))
            continue
        path.unlink()
    print(json.dumps({"counts": counts, "unexpected": unexpected[:5]}))


if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4])
