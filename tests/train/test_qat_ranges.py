"""QAT keeps its ranges still after the warm-up: frozen observers stay frozen in train mode."""

from __future__ import annotations

import torch

from edgeres.models import create_model
from edgeres.spec import InputSpec


def _ranges(qat) -> list[torch.Tensor]:
    return [m.scale.clone() for m in qat.graph.modules() if hasattr(m, "enable_observer")]


def test_frozen_ranges_do_not_move_in_train_mode():
    from edgeres.train.qat import QATNet

    torch.manual_seed(0)
    qat = QATNet(create_model("test_resnet").eval(), InputSpec(16, 16), per_channel=True)
    x = torch.randn(4, 3, 16, 16)
    qat.observe([x])
    warm = _ranges(qat)
    qat.train()
    qat(10 * x)  # observers on: the activation ranges widen
    assert any(not torch.equal(a, b) for a, b in zip(warm, _ranges(qat), strict=True))
    qat.freeze_ranges()
    qat.train()
    frozen = _ranges(qat)
    qat(100 * x)
    assert all(torch.equal(a, b) for a, b in zip(frozen, _ranges(qat), strict=True))
