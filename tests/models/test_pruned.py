"""Narrowing a registered architecture to a pruned network's recorded widths."""

import pytest
import torch
from torch import nn

from edgeres.models.pruned import differs, layer_widths, narrow


def test_narrow_keeps_a_depthwise_layer_depthwise_and_refuses_unknown_layers():
    net = nn.Sequential(nn.Conv2d(3, 8, 1), nn.BatchNorm2d(8), nn.Conv2d(8, 8, 3, groups=8))
    ref = nn.Sequential(nn.Conv2d(3, 8, 1), nn.BatchNorm2d(8), nn.Conv2d(8, 8, 3, groups=8))
    narrow(net, {"0": [4, 3], "1": [4, 4], "2": [4, 4]})
    assert net[2].groups == 4 and net[2].weight.shape == (4, 1, 3, 3)
    assert net(torch.zeros(1, 3, 8, 8)).shape == (1, 4, 6, 6)
    assert layer_widths(net)["2"] == [4, 4] and differs(net, ref)
    assert not differs(ref, ref) and not differs(nn.Sequential(nn.Linear(2, 2)), ref)
    with pytest.raises(ValueError, match="no conv/linear/BN layer"):
        narrow(net, {"9": [1, 1]})
    with pytest.raises(ValueError, match="0x4 channels"):
        narrow(net, {"2": [0, 4]})
