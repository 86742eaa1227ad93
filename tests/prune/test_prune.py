"""edgeres prune: residual-coupled channel pruning, the pruned checkpoint every command loads,
the refusals, and the whole prune -> distilled fine-tune -> quantize path."""

import json

import pytest
import torch
from click.testing import CliRunner
from torch import nn

from edgeres.cli import main
from edgeres.errors import UsageError
from edgeres.models import create_model
from edgeres.models.blocks import BasicBlock
from edgeres.prune.channels import count_macs, prune_channels, prune_to_macs
from edgeres.prune.config import PruneConfig
from edgeres.spec import InputSpec, ModelInfo
from edgeres.train.checkpoint import load_checkpoint, save_checkpoint

X32 = torch.randn(2, 3, 32, 32, generator=torch.Generator().manual_seed(0))


def _stream_widths(model: nn.Module) -> list[int]:
    return [b.conv2[0].out_channels for b in model.modules() if isinstance(b, BasicBlock)]


def test_residual_streams_keep_one_width_and_whole_filters_go():
    # resnet20: three blocks add into each stage's stream, the first through a projection.
    model = create_model("resnet20", num_classes=10).eval()
    net = prune_channels(model, X32[:1], 0.3)
    assert count_macs(net, X32[:1]) < 0.6 * count_macs(model, X32[:1])
    widths = _stream_widths(net)
    assert widths[0:3] == [widths[0]] * 3 and widths[3:6] == [widths[3]] * 3
    assert widths[0] < 16 and widths[6] < 64  # whole filters gone, not zeroed
    for block in net.modules():
        if isinstance(block, BasicBlock):
            x = torch.randn(1, block.conv1[0].in_channels, 8, 8)
            assert block(x).shape[1] == block.conv2[0].out_channels
    assert net(X32).shape == (2, 10)
    assert net.fc.out_features == 10  # the classes are never pruned


def test_a_ratio_that_removes_a_layer_is_refused():
    model = create_model("test_resnet", num_classes=10).eval()
    with pytest.raises(UsageError, match="would remove a layer entirely.*ask for --macs 0.0"):
        prune_to_macs(model, X32[:1], 0.01)
    with pytest.raises(UsageError, match="one target"):
        PruneConfig(model="m.pt", macs=0.5, latency_ms=2)
    with pytest.raises(UsageError, match="below 1"):
        PruneConfig(model="m.pt", macs=1.5)


@pytest.fixture(scope="module")
def pruned_ckpt(tiny_ckpt, tmp_path_factory):
    ckpt = load_checkpoint(tiny_ckpt)
    pruned = prune_channels(ckpt.model, X32[:1], 0.3)
    path = tmp_path_factory.mktemp("pruned") / "model.pt"
    return save_checkpoint(path, pruned, ckpt.info, ckpt.model_args, ckpt.metrics), pruned


def test_pruned_checkpoint_records_widths_and_loads_the_same_network(pruned_ckpt):
    path, pruned = pruned_ckpt
    loaded = load_checkpoint(path)
    assert loaded.layer_widths["fc"] == [10, pruned.fc.in_features] != [10, 32]
    with torch.no_grad():
        assert torch.equal(loaded.model(X32), pruned.eval()(X32))
    # An unpruned network records nothing: its registered build is its architecture.
    plain = create_model("test_resnet", num_classes=10)
    info = ModelInfo("test_resnet", tuple("abcdefghij"), InputSpec(32, 32))
    other = save_checkpoint(path.with_name("plain.pt"), plain, info, {"num_classes": 10})
    assert load_checkpoint(other).layer_widths is None


@pytest.mark.slow
def test_every_command_loads_the_pruned_network(pruned_ckpt, tmp_path):
    import cv2

    from edgeres.data.shapes import render_one

    path, _ = pruned_ckpt
    image = tmp_path / "img.png"
    cv2.imwrite(str(image), render_one(0, 32)[0])
    runner = CliRunner()
    runs = {
        "convert": ["convert", str(path), "--to", "onnx", "--out", str(tmp_path)],
        "quantize": [
            "quantize", str(path), "--calib", "shapes", "--to", "onnx",
            "--samples", "16", "--out", str(tmp_path),
        ],
        "eval": ["eval", str(path), "--data", "shapes", "--limit", "20", "--json"],
        "predict": ["predict", str(path), str(image), "--json"],
        "inspect": ["inspect", str(path), "--json"],
    }  # fmt: skip
    for name, args in runs.items():
        result = runner.invoke(main, args)
        assert result.exit_code == 0, (name, result.output)
    assert (tmp_path / "model.onnx").is_file() and (tmp_path / "model_int8.onnx").is_file()
    inspected = json.loads(runner.invoke(main, ["inspect", str(path), "--json"]).output)
    assert "test_resnet" in json.dumps(inspected)


@pytest.mark.slow
def test_prune_finetunes_distilled_and_quantizes(tiny_ckpt, tmp_path):
    out = tmp_path / "p"
    args = [
        "prune", str(tiny_ckpt), "--macs", "0.5", "--data", "shapes", "--epochs", "1",
        "--limit", "200", "--eval-limit", "60", "--to", "onnx", "--threads", "1",
        "--out", str(out), "--json",
    ]  # fmt: skip
    result = CliRunner().invoke(main, args)
    assert result.exit_code in (0, 1), result.output  # 1: the INT8 gate (tiny, barely trained)
    d = json.loads(result.output[result.output.index("{") :])
    assert d["teacher"] == str(tiny_ckpt) and d["macs_ratio"] <= 0.5
    assert load_checkpoint(out / "model.pt").layer_widths is not None
    assert json.loads((out / "metrics.json").read_text())["teacher"] == str(tiny_ckpt)
    assert (out / "model_int8_report.json").is_file()
    again = CliRunner().invoke(main, args)
    assert again.exit_code == 2 and "already holds" in again.output


def test_cli_refuses_a_ratio_that_removes_a_layer_in_one_line(tiny_ckpt, tmp_path):
    out = tmp_path / "never"
    result = CliRunner().invoke(
        main, ["prune", str(tiny_ckpt), "--macs", "0.001", "--out", str(out)]
    )
    assert result.exit_code == 2, result.output
    assert "would remove a layer entirely" in result.output and "Traceback" not in result.output
    assert not out.exists()
