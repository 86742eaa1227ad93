"""Session fixtures shared by every area: small real checkpoints, trained once per test run."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

os.environ.setdefault("EDGERES_QUIET", "1")  # no progress bars in test logs

# Every exported model file (fp32/int8 ONNX and TFLite, NCHW TFLite, copies without metadata),
# built once from `tiny_ckpt` and shared by every area.
pytest_plugins = ["fixtures_artifacts"]


def _train_once(tmp_path_factory, name: str, **kw) -> Path:
    from edgeres.train import TrainConfig, train

    out = tmp_path_factory.mktemp(f"{name}_run")
    # One thread: deterministic, and no OpenMP spinning when other jobs share the cores.
    cfg = TrainConfig(
        model=name, data="shapes", out=out, batch_size=64, threads=1, quiet=True, **kw
    )
    return train(cfg).checkpoint


@pytest.fixture(scope="session")
def tiny_ckpt(tmp_path_factory) -> Path:
    """A `test_resnet` checkpoint trained for a few seconds on shapes at 32 px (~20% accuracy)."""
    return _train_once(tmp_path_factory, "test_resnet", epochs=3, limit=3000, eval_limit=300)


_LIMITED = (
    "import resource, runpy, signal, sys; signal.signal(signal.SIGXFSZ, signal.SIG_IGN); "
    "n = int(sys.argv.pop(1)); resource.setrlimit(resource.RLIMIT_FSIZE, (n, n)); "
    "sys.argv[0] = 'edgeres'; runpy.run_module('edgeres', run_name='__main__')"
)


def run_cli_with_fsize_limit(args: list[str], limit: int, cwd: Path) -> subprocess.CompletedProcess:
    """Run ``edgeres ARGS`` in a child whose files cannot grow past ``limit`` bytes: a full disk.

    SIGXFSZ is ignored, so a write past the limit fails with EFBIG as on a full file system.
    """
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])}
    return subprocess.run(
        [sys.executable, "-c", _LIMITED, str(limit), *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        env=env,
        timeout=600,
    )


@pytest.fixture
def fsize_limited_cli():
    """``run_cli_with_fsize_limit`` as a fixture (tests import no conftest names)."""
    return run_cli_with_fsize_limit
