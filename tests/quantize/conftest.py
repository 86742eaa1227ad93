"""A checkpoint made to fail the INT8 gate: the same function as `tiny_ckpt`, with one outlier
activation channel that per-tensor activation scales cannot represent."""

from __future__ import annotations

from pathlib import Path

import pytest

OUTLIER_SCALE = 1000.0


def make_outlier_checkpoint(src: Path, out: Path, scale: float = OUTLIER_SCALE) -> Path:
    """Scale stem channel 0 up by ``scale`` and its readers' weights down by as much.

    ReLU commutes with a positive scale, so the FP32 network computes the same logits, but the
    stem output's INT8 scale now spans the outlier: every other channel rounds to a few levels.
    """
    import torch

    from edgeres.formats.checkpoint import read_payload

    payload = read_payload(src)
    state = payload["state_dict"]
    state["stem.0.1.weight"][0] *= scale
    state["stem.0.1.bias"][0] *= scale
    for reader in ("stages.0.0.conv1.0.weight", "stages.0.0.shortcut.0.weight"):
        state[reader][:, 0] /= scale
    torch.save(payload, out)
    return out


@pytest.fixture(scope="session")
def outlier_ckpt(tiny_ckpt, tmp_path_factory) -> Path:
    """`tiny_ckpt` with an outlier channel after the stem: INT8 loses accuracy on it."""
    return make_outlier_checkpoint(tiny_ckpt, tmp_path_factory.mktemp("outlier") / "outlier.pt")
