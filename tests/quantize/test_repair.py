"""Quantization that repairs itself: layers kept in float until --max-drop passes; --method auto."""

from __future__ import annotations

import json

import onnx
import pytest
from click.testing import CliRunner

from edgeres.cli import main
from edgeres.formats import read_metadata
from edgeres.quantize import quantize

SMALL = {"calib": "shapes", "samples": 32, "eval_data": "shapes", "eval_limit": 64, "quiet": True}


def _float_nodes(path, tensors):
    """The nodes of the INT8 graph that compute the FP32 layer outputs ``tensors``."""
    graph = onnx.load(str(path)).graph
    producer = {o: n for n in graph.node for o in n.output}
    nodes = []
    for t in tensors:
        node = producer[t]
        nodes.append(node)
        if node.op_type == "Relu":
            nodes.append(producer[node.input[0]])
    return nodes, producer


@pytest.fixture(scope="module")
def repaired(outlier_ckpt, tmp_path_factory):
    out = tmp_path_factory.mktemp("repaired")
    return quantize(outlier_ckpt, to=("onnx",), max_drop=0.0, out_dir=out, **SMALL)


def test_fallback_passes_the_gate_with_layers_in_float(repaired):
    r = repaired.report.formats["onnx"]
    assert repaired.passed and repaired.outputs["onnx"].is_file()
    assert r.drop_pts <= 0 and r.float_layers == r.fallback.layers
    assert 1 <= len(r.float_layers) <= 8
    assert len(r.fallback.steps) == len(r.float_layers)
    assert r.fallback.steps[-1]["drop_pts"] == r.drop_pts and r.fallback.passed
    assert r.fallback.size_bytes_int8 > 0 and r.fallback.latency_ms > 0
    doc = json.loads(repaired.report_path.read_text())
    assert doc["formats"]["onnx"]["float_layers"] == r.float_layers
    assert "kept in float: " in "\n".join(repaired.report.lines())


def test_float_layers_really_are_float_in_the_graph(repaired):
    path = repaired.outputs["onnx"]
    tensors = read_metadata(path).extra["quantization"]["float_layers"]
    assert len(tensors) == len(repaired.report.formats["onnx"].float_layers)
    nodes, producer = _float_nodes(path, tensors)
    for node in nodes:
        feeders = [producer[i].op_type for i in node.input if i in producer]
        assert "DequantizeLinear" not in feeders, (node.name, feeders)
    # The rest of the network is still INT8.
    ops = [n.op_type for n in onnx.load(str(path)).graph.node]
    assert ops.count("Conv") + ops.count("Gemm") > len([n for n in nodes if n.op_type != "Relu"])
    assert ops.count("QuantizeLinear") >= 3


def test_fallback_that_runs_out_of_layers_exits_1(outlier_ckpt, tmp_path):
    args = ["quantize", str(outlier_ckpt), "--to", "onnx", "--calib", "shapes", "--samples", "32"]
    args += ["--eval-data", "shapes", "--eval-limit", "64", "--max-drop", "0"]
    res = CliRunner().invoke(main, [*args, "--fallback-layers", "1", "--out", str(tmp_path)])
    assert res.exit_code == 1, res.output
    assert "even with up to 1 layers kept in float" in res.output
    report = json.loads((tmp_path / "outlier_int8_report.json").read_text())
    fallback = report["formats"]["onnx"]["fallback"]
    assert len(fallback["layers"]) == 1 and fallback["passed"] is False
    assert not (tmp_path / "outlier_int8.onnx").exists()


def test_method_auto_keeps_the_best_agreeing_and_reports_three(fp32_onnx, tmp_path):
    small = dict(SMALL, samples=16, eval_limit=32)
    result = quantize(fp32_onnx, to=("onnx",), method="auto", out_dir=tmp_path, **small)
    r = result.report.formats["onnx"]
    assert set(r.methods) == {"minmax", "entropy", "percentile"}
    best = max(s["agreement"] for s in r.methods.values())
    assert r.methods[r.method]["agreement"] == best and r.agreement == best
    assert read_metadata(result.outputs["onnx"]).extra["quantization"]["method"] == r.method
    assert result.report.options["method"] == "auto"
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "model_int8.onnx",
        "model_int8_report.json",
    ]


def test_tflite_says_it_cannot_keep_layers_in_float(tmp_path):
    from edgeres.quantize.options import QuantOptions
    from edgeres.quantize.repair import repair

    staged = tmp_path / "model_int8.tflite"
    path, _, fallback = repair("tflite", None, staged, QuantOptions(), None, 0.0, 8)
    assert path == staged and fallback.layers == [] and not fallback.passed
    assert "cannot keep single layers in float" in fallback.unsupported
