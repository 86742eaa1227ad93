"""tools/fuzz_files.py's seed files and its worker process (restarted when it hangs or dies)."""

from __future__ import annotations

import contextlib
import json
import os
import select
import signal
import subprocess
import sys
from pathlib import Path

from fuzz_worker import MEMORY_WORDS

TOOLS = Path(__file__).resolve().parent
RECYCLE = 1000  # commands per worker: a slow leak in one process cannot pile up


def make_seeds(folder: Path) -> None:
    """Valid files of every format from one tiny test_resnet (imports torch: run in a child)."""
    import shutil

    import cv2
    import numpy as np
    import torch
    from safetensors.torch import save_file

    from edgeres.convert import convert
    from edgeres.quantize import quantize
    from edgeres.train import TrainConfig, train
    from edgeres.train.checkpoint import load_checkpoint

    folder.mkdir(parents=True, exist_ok=True)
    cfg = TrainConfig(model="test_resnet", data="shapes", out=folder / "run", epochs=1,
                      limit=512, eval_limit=64, batch_size=64, threads=1, quiet=True)  # fmt: skip
    pt = folder / "model.pt"
    shutil.copy2(train(cfg).checkpoint, pt)
    convert(pt, ("onnx", "tflite"), quiet=True)
    quantize(pt, calib="shapes", to=("onnx", "tflite"), samples=32, eval_limit=64, quiet=True)
    model = load_checkpoint(pt).model.eval()
    x = torch.randn(1, 3, 32, 32)
    torch.export.save(torch.export.export(model, (x,)), str(folder / "model.pt2"))
    state = {k: v.contiguous() for k, v in model.state_dict().items()}
    save_file(state, str(folder / "model.safetensors"))
    rng = np.random.default_rng(0)
    cv2.imwrite(str(folder / "image.png"), rng.integers(0, 255, (32, 32, 3), dtype=np.uint8))
    (folder / "done").write_text("seeds complete\n")


def seed_files(folder: Path, formats: list[str]) -> tuple[dict[str, list[Path]], Path]:
    """``{format: [valid files]}`` and the image, made first if ``folder`` lacks them."""
    if not (folder / "done").exists():
        print(f"fuzz: making the seed files in {folder} (a tiny training, ~1 min)", file=sys.stderr)
        subprocess.run([sys.executable, str(TOOLS / "fuzz_files.py"), "--make-seeds",
                        str(folder)], check=True)  # fmt: skip
    seeds = {f: sorted(folder.glob(f"*.{f}")) for f in formats}
    missing = [f for f, ps in seeds.items() if not ps]
    if missing:
        raise SystemExit(f"fuzz: no seed file for {missing} in {folder}")
    return seeds, folder / "image.png"


class Worker:
    """One worker process; ``run(argv)`` answers ``{exit, outcome, message, seconds}``."""

    def __init__(self, out: Path, mem_cap_mb: int, time_cap: float, warm: list[list[str]]):
        self.log = out / "worker.log"
        self.mem_cap_mb, self.time_cap, self.warm = mem_cap_mb, time_cap, warm
        self.restarts = -1
        self.proc: subprocess.Popen | None = None
        self._start()

    def _start(self) -> None:
        self.close()
        cmd = [sys.executable, str(TOOLS / "fuzz_worker.py"), "--log", str(self.log),
               "--mem-cap-mb", str(self.mem_cap_mb), "--warm", json.dumps(self.warm)]  # fmt: skip
        self.proc = subprocess.Popen(
            cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, start_new_session=True
        )
        self.restarts += 1
        self.served = 0
        ready = self._read(600)
        if not ready or not ready.get("ready"):
            raise RuntimeError(f"the fuzz worker did not start; see {self.log}")
        not_ok = [(a[:2], w["outcome"], w["message"][-200:]) for a, w in
                  zip(self.warm, ready["warm"], strict=True) if w["outcome"] != "ok"]  # fmt: skip
        if self.restarts == 0 and not_ok:
            print(f"fuzz: valid seeds that were not ok: {not_ok}", file=sys.stderr)

    def _read(self, timeout: float) -> dict | None:
        assert self.proc is not None and self.proc.stdout is not None
        ready, _, _ = select.select([self.proc.stdout], [], [], timeout)
        if not ready:
            return None
        line = self.proc.stdout.readline()
        return json.loads(line) if line else None

    def run(self, argv: list[str]) -> dict:
        if self.served >= RECYCLE:
            self._start()
        self.served += 1
        assert self.proc is not None and self.proc.stdin is not None
        try:
            self.proc.stdin.write((json.dumps({"id": self.served, "args": argv}) + "\n").encode())
            self.proc.stdin.flush()
            answer = self._read(self.time_cap)
        except (BrokenPipeError, ValueError):
            answer = None
        if answer is not None:
            answer.pop("id", None)
            return answer
        hung = self.proc.poll() is None
        self._kill()
        result = self._hang() if hung else self._crash()
        self._start()
        return result

    def _hang(self) -> dict:
        return {"exit": None, "outcome": "hang", "seconds": self.time_cap,
                "message": f"no answer within {self.time_cap:g} s"}  # fmt: skip

    def _crash(self) -> dict:
        code = self.proc.returncode if self.proc else None
        name = signal.Signals(-code).name if code is not None and code < 0 else f"exit {code}"
        tail = _tail(self.log)
        outcome = "memory" if any(w in tail.lower() for w in MEMORY_WORDS) else "crash"
        return {"exit": code, "outcome": outcome, "seconds": None,
                "message": f"worker died ({name}); its log ends:\n{tail}"}  # fmt: skip

    def _kill(self) -> None:
        if self.proc is None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait()

    def close(self) -> None:
        """Stop the worker (closing its stdin ends it; killed if it does not end soon)."""
        if self.proc is None:
            return
        try:
            self.proc.stdin.close()
            self.proc.wait(10)
        except (subprocess.TimeoutExpired, OSError):
            pass
        self._kill()
        self.proc = None


def _tail(path: Path, n: int = 1500) -> str:
    try:
        with path.open("rb") as f:
            f.seek(max(0, path.stat().st_size - n))
            return f.read().decode("utf-8", "replace")
    except OSError:
        return ""
