"""Session fixtures shared by every area: small real checkpoints, trained once per test run."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

os.environ.setdefault("EDGERES_QUIET", "1")  # no progress bars in test logs

# Exported artifacts (fp32/int8 ONNX and TFLite) built once from `tiny_ckpt`.
pytest_plugins = (
    ["fixtures_artifacts"] if (Path(__file__).parent / "fixtures_artifacts.py").exists() else []
)


@pytest.fixture(scope="session")
def tiny_ckpt(tmp_path_factory) -> Path:
    """A `test_resnet` checkpoint trained for a few seconds on shapes at 32 px (~20% accuracy)."""
    from edgeres.train import TrainConfig, train

    out = tmp_path_factory.mktemp("tiny_run")
    cfg = TrainConfig(
        model="test_resnet",
        data="shapes",
        out=out,
        epochs=3,
        batch_size=64,
        limit=3000,
        eval_limit=300,
        threads=1,
        quiet=True,
    )
    return train(cfg).checkpoint


@pytest.fixture(scope="session")
def r8_ckpt(tmp_path_factory) -> Path:
    """A briefly trained `resnet8` checkpoint (one short epoch): real weights, real statistics."""
    from edgeres.train import TrainConfig, train

    out = tmp_path_factory.mktemp("r8_run")
    cfg = TrainConfig(
        model="resnet8",
        data="shapes",
        out=out,
        epochs=1,
        batch_size=64,
        limit=600,
        eval_limit=200,
        threads=1,
        quiet=True,
    )
    return train(cfg).checkpoint
