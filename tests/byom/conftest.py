"""Files a user brings, written here in plain PyTorch (``plain_resnet``), never by edgeres."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

WIDTH = 0.125  # 8..64 channels: torchvision's names, tiny shapes
SIZE = 32
LABELS = ("cat", "dog", "fox", "owl")


@pytest.fixture(scope="session")
def plain(tmp_path_factory) -> dict[str, Path]:
    """sd.pth, timm-style sd.safetensors, m.pt2, whole.pt, ts.pt, labels.txt, and the network."""
    from plain_resnet import PlainResNet18
    from safetensors.torch import save_file

    d = tmp_path_factory.mktemp("plain")
    torch.manual_seed(0)
    net = PlainResNet18(len(LABELS), WIDTH).eval()
    x = torch.randn(1, 3, SIZE, SIZE)
    torch.save(net.state_dict(), d / "sd.pth")
    # timm's hub files: the same keys, tensors only, in safetensors
    save_file({k: v.contiguous() for k, v in net.state_dict().items()}, str(d / "sd.safetensors"))
    torch.export.save(torch.export.export(net, (x,)), str(d / "m.pt2"))
    torch.save(net, d / "whole.pt")
    torch.jit.save(torch.jit.trace(net, x), str(d / "ts.pt"))
    (d / "labels.txt").write_text("\n".join(LABELS) + "\n")
    (d / "three.txt").write_text("a\nb\nc\n")
    return {"dir": d, "net": net, **{p.stem + p.suffix.replace(".", "_"): p for p in d.iterdir()}}
