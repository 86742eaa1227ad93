"""benchmark --ops: each engine's own per-operator profiler on the suite's real INT8 files."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from edgeres.bench.report import ops_lines
from edgeres.bench.results import BenchmarkReport, ModelResult
from edgeres.cli import main


def _bench(*args):
    res = CliRunner().invoke(main, ["benchmark", *map(str, args), "--quick", "--ops", "--json"])
    assert res.exit_code == 0, res.output
    return json.loads(res.stdout)["results"]


@pytest.mark.parametrize("engine", ["onnxruntime", "openvino"])
def test_int8_onnx_ops_are_profiled_and_run_in_integers(int8_onnx, engine):
    if engine == "openvino":
        pytest.importorskip("openvino")
    (r,) = _bench(int8_onnx, "--engine", engine)
    ops = r["ops"]
    assert ops and r["engine"] == engine
    assert [o["ms"] for o in ops] == sorted((o["ms"] for o in ops), reverse=True)
    compute = [o for o in ops if o["integer"] is not None]
    assert compute and all(o["integer"] for o in compute)  # every conv/gemm runs in int8


def test_an_engine_without_a_profiler_says_so(int8_tflite):
    (r,) = _bench(int8_tflite)
    assert r["ops"] is None and "not available for the litert engine" in r["ops_note"]


def test_float_compute_inside_an_int8_file_is_flagged(int8_onnx):
    (raw,) = _bench(int8_onnx, "--engine", "onnxruntime", "--in-process")
    result = ModelResult.from_dict(raw)
    result.ops = [
        {"name": "conv_kept", "op_type": "Conv", "ms": 0.3, "kernel": "CPU", "integer": False},
        {"name": "qconv", "op_type": "QLinearConv", "ms": 0.1, "kernel": "CPU", "integer": True},
    ]
    report = BenchmarkReport("host", "", True, "", "", {}, {}, {}, [result])
    text = "\n".join(ops_lines(report))
    assert "FLOAT in an INT8 file" in text and "1 compute op(s) still run in float: 75.0%" in text


def test_engine_that_cannot_run_a_file_fails_before_measuring(fp32_onnx, fp32_tflite):
    res = CliRunner().invoke(
        main, ["benchmark", str(fp32_onnx), str(fp32_tflite), "--engine", "onnxruntime"]
    )
    assert res.exit_code == 2 and "cannot run tflite files" in res.output
