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
def outlier_ckpt(learned_ckpt, tmp_path_factory) -> Path:
    """`learned_ckpt` with an outlier channel after the stem: INT8 loses accuracy on it.

    Not `tiny_ckpt`: on a network that close to chance, INT8 noise decides the 64-image scores
    and the fallback's steps (seen on a Zen 4 EPYC: keeping the outlier layer float made the
    drop worse)."""
    return make_outlier_checkpoint(learned_ckpt, tmp_path_factory.mktemp("outlier") / "outlier.pt")


def add_outliers(model, factor: float) -> int:
    """Make the widest channel of every rescalable channel space ``factor`` times wider (inside
    blocks and along residual streams), without changing what ``model`` computes; returns how
    many spaces were touched."""
    import torch

    from edgeres.quantize.equalize import channel_spaces

    spaces = channel_spaces(model)
    for space in spaces:
        c = int(torch.stack([w.ranges() for w in space.writers]).amax(0).argmax())
        s = torch.ones(space.channels)
        s[c] = 1 / factor
        space.scale(s)
    return len(spaces)


def _outlier_source(name: str, folder: Path, size: int, factor: float = 16.0, **kwargs):
    """A ``QuantSource`` of zoo network ``name`` at ``size`` px, BatchNorm statistics set from a
    few shapes batches (real activation ranges, no training), with outliers added."""
    import numpy as np
    import torch

    from edgeres.convert.onnx import export_onnx
    from edgeres.models import create_model
    from edgeres.quantize.calib import calibration_batches
    from edgeres.quantize.options import QuantSource
    from edgeres.spec import InputSpec, ModelInfo

    torch.manual_seed(0)
    model = create_model(name, **kwargs)
    info = ModelInfo(name, tuple(str(i) for i in range(10)), InputSpec(size, size))
    for m in model.modules():
        if isinstance(m, torch.nn.BatchNorm2d):
            m.momentum = None  # a plain average over the batches
    model.train()
    with torch.no_grad():
        for batch in calibration_batches("shapes", info.spec, 64, quiet=True):
            model(torch.from_numpy(np.asarray(batch)))
    model.eval()
    add_outliers(model, factor)
    fp32 = export_onnx(model, info, folder / f"{name}.fp32.onnx")
    return QuantSource(path=folder / f"{name}.pt", info=info, model=model, fp32_onnx=fp32)


@pytest.fixture(scope="session")
def outlier_source():
    """``outlier_source(name, folder, size, factor=16, **model_args)``: a zoo network with
    outliers at every rescalable position, as a ``QuantSource``."""
    return _outlier_source
