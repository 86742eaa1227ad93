"""Session fixtures shared by every area: small real checkpoints, trained once per test run."""

from __future__ import annotations

import os
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


@pytest.fixture(scope="session")
def device_env(tmp_path_factory) -> Path:
    """The torch-free device install (``REPO/.venv-device``, cached; see tests/device_venv.py)."""
    from device_venv import build_env

    return build_env("device", None, tmp_path_factory.mktemp("device_src"))
