"""An ONNX file from elsewhere read back into PyTorch: TFLite (FP32 and INT8) made from it, the
reader checked operator by operator against ONNX Runtime, and what it refuses."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import onnx
import pytest
import torch
from conftest import LABELS, SIZE
from onnx import TensorProto, helper, numpy_helper
from test_byom import cli, one_line_error

from edgeres.errors import ModelFileError
from edgeres.formats import read_metadata
from edgeres.formats.onnx_module import check_against_file, onnx_module
from edgeres.formats.onnx_ops import OPS

PRE = ("--mean", "0.485,0.456,0.406", "--std", "0.229,0.224,0.225")


@pytest.fixture(scope="module")
def exported(plain, tmp_path_factory):
    """The plain ResNet-18 as a third party's ONNX: the legacy exporter with a free batch (the
    torchvision-era recipe) and the dynamo exporter with a fixed one."""
    d = tmp_path_factory.mktemp("onnx_src")
    x = torch.randn(1, 3, SIZE, SIZE)
    legacy = d / "legacy.onnx"
    torch.onnx.export(plain["net"], (x,), str(legacy), dynamo=False, input_names=["x"],
                      dynamic_axes={"x": {0: "N"}})  # fmt: skip
    new = d / "dynamo.onnx"
    torch.onnx.export(plain["net"], (x,), str(new), dynamo=True, external_data=False)
    return {"legacy": legacy, "dynamo": new, "dir": d}


@pytest.mark.parametrize("kind", ["legacy", "dynamo"])
def test_onnx_module_computes_what_the_network_does(plain, exported, kind):
    module = onnx_module(exported[kind])
    x = torch.randn(3, 3, SIZE, SIZE)
    with torch.no_grad():
        assert torch.allclose(module(x), plain["net"](x), atol=1e-4)
    # one child module per node, named after the ONNX node: readable layer names in TFLite
    if kind == "legacy":
        assert "nodes.layer1_0_conv1_Conv" in dict(module.named_modules())


def test_convert_onnx_to_tflite_with_labels(plain, exported, tmp_path):
    res = cli("convert", exported["legacy"], "--labels", plain["labels_txt"], *PRE,
              "--out", tmp_path)  # fmt: skip
    assert res.exit_code == 0, res.output
    assert "parity tflite ok" in res.output
    assert sorted(p.name for p in tmp_path.iterdir()) == ["legacy.tflite"]  # not the ONNX again
    info = read_metadata(tmp_path / "legacy.tflite")
    assert list(info.classes) == list(LABELS) and info.spec.mean == (0.485, 0.456, 0.406)
    assert info.spec.size == (SIZE, SIZE) and info.spec.layout == "NHWC"
    one_line_error(cli("convert", exported["legacy"], "--to", "onnx", "--out", tmp_path / "o"),
                   "already onnx")  # fmt: skip


def test_quantize_onnx_to_full_integer_tflite(plain, exported, tmp_path):
    from edgeres.quantize.checks import check_tflite

    res = cli("quantize", exported["dynamo"], "--to", "tflite", "--calib", "shapes",
              "--samples", 16, "--labels", plain["labels_txt"], *PRE, "--out", tmp_path)  # fmt: skip
    assert res.exit_code == 0, res.output
    out = tmp_path / "dynamo_int8.tflite"
    check = check_tflite(out)
    assert check.full_integer, check.to_dict()
    assert read_metadata(out).classes == LABELS
    # without --to, an ONNX source still makes ONNX only (TFLite must be asked for)
    res = cli("quantize", exported["dynamo"], "--calib", "shapes", "--samples", 16,
              "--labels", plain["labels_txt"], *PRE, "--out", tmp_path / "d")  # fmt: skip
    assert res.exit_code == 0, res.output
    assert not list((tmp_path / "d").glob("*.tflite")) and list((tmp_path / "d").glob("*.onnx"))


def _model(nodes, inits, shape=(1, 3, 9, 9), opset=18, out_shape=None, domain_ops=()):
    graph = helper.make_graph(
        nodes,
        "g",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, list(shape))],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, out_shape)],
        [numpy_helper.from_array(v, k) for k, v in inits.items()],
    )
    imports = [helper.make_opsetid("", opset), *(helper.make_opsetid(d, 1) for d in domain_ops)]
    return helper.make_model(graph, opset_imports=imports)


def _w(*shape, seed=0):
    return np.random.default_rng(seed).standard_normal(shape).astype(np.float32)


# Operator variants whose semantics are easy to get wrong; each graph runs in ONNX Runtime and
# in the module on the same input (check_against_file raises above 1e-3 relative).
CASES = {
    "conv SAME_UPPER stride 2": (
        [helper.make_node("Conv", ["x", "w"], ["y"], auto_pad="SAME_UPPER", strides=[2, 2])],
        {"w": _w(6, 3, 3, 3)},
    ),
    "conv asymmetric pads, dilation": (
        [helper.make_node("Conv", ["x", "w", "b"], ["y"], pads=[0, 1, 2, 1], dilations=[2, 1])],
        {"w": _w(4, 3, 3, 3), "b": _w(4)},
    ),
    "depthwise conv + BN + Clip(0,6) as inputs": (
        [
            helper.make_node("Conv", ["x", "w"], ["c"], group=3, pads=[1, 1, 1, 1]),
            helper.make_node("BatchNormalization", ["c", "s", "bb", "m", "v"], ["n"], epsilon=1e-3),
            helper.make_node("Clip", ["n", "lo", "hi"], ["y"]),
        ],
        {
            "w": _w(3, 1, 3, 3),
            "s": _w(3) + 2,
            "bb": _w(3),
            "m": _w(3),
            "v": np.abs(_w(3)) + 0.5,
            "lo": np.float32(0.0),
            "hi": np.float32(6.0),
        },  # fmt: skip
    ),
    "max pool ceil_mode, avg pool counting pads": (
        [
            helper.make_node(
                "MaxPool", ["x"], ["p"], kernel_shape=[3, 3], strides=[2, 2], ceil_mode=1
            ),  # fmt: skip
            helper.make_node(
                "AveragePool",
                ["p"],
                ["y"],
                kernel_shape=[2, 2],
                pads=[1, 1, 1, 1],
                count_include_pad=1,
            ),  # fmt: skip
        ],
        {},
    ),
    "hard swish, sigmoid gate (squeeze-excitation)": (
        [
            helper.make_node("HardSwish", ["x"], ["h"]),
            helper.make_node("GlobalAveragePool", ["h"], ["g"]),
            helper.make_node("Sigmoid", ["g"], ["s"]),
            helper.make_node("Mul", ["h", "s"], ["y"]),
        ],
        {},
    ),
    "flatten, Gemm transB alpha beta, softmax": (
        [
            helper.make_node("ReduceMean", ["x", "ax"], ["r"], keepdims=0),
            helper.make_node("Gemm", ["r", "w", "b"], ["g"], transB=1, alpha=0.5, beta=2.0),
            helper.make_node("Softmax", ["g"], ["y"], axis=1),
        ],
        {"ax": np.array([2, 3], np.int64), "w": _w(5, 3), "b": _w(5)},
    ),
    "shape arithmetic folded: Shape, Gather, Unsqueeze, Concat, Reshape": (
        [
            helper.make_node("Shape", ["x"], ["sh"]),
            helper.make_node("Gather", ["sh", "zero"], ["n"], axis=0),
            helper.make_node("Unsqueeze", ["n", "zero1"], ["n1"]),
            helper.make_node("Concat", ["n1", "minus1"], ["target"], axis=0),
            helper.make_node("Reshape", ["x", "target"], ["y"]),
        ],
        {
            "zero": np.array(0, np.int64),
            "zero1": np.array([0], np.int64),
            "minus1": np.array([-1], np.int64),
        },  # fmt: skip
    ),
}


@pytest.mark.parametrize("case", list(CASES))
def test_each_operator_matches_onnx_runtime(case, tmp_path):
    nodes, inits = CASES[case]
    proto = _model(nodes, inits)
    path = tmp_path / "m.onnx"
    onnx.save(proto, str(path))
    module = onnx_module(path)  # runs check_against_file
    assert check_against_file(module, path, proto) <= 1e-5


def test_a_wrong_operator_is_caught_before_any_converter(tmp_path, monkeypatch):
    proto = _model([helper.make_node("Relu", ["x"], ["y"])], {})
    path = tmp_path / "m.onnx"
    onnx.save(proto, str(path))
    monkeypatch.setitem(OPS, "Relu", lambda x, *, a: x)  # a reader bug
    with pytest.raises(ModelFileError, match="does not reproduce ONNX Runtime"):
        onnx_module(path)


def test_refusals(exported, tmp_path):
    custom = _model([helper.make_node("MyOp", ["x"], ["y"], domain="com.example")], {},
                    out_shape=[1, 10], domain_ops=("com.example",))  # fmt: skip
    onnx.save(custom, str(tmp_path / "custom.onnx"))
    one_line_error(cli("convert", tmp_path / "custom.onnx", "--img-size", 9, "--out", tmp_path / "o"),
                   "MyOp", "cannot read back into PyTorch")  # fmt: skip
    runtime = _model([helper.make_node("Slice", ["x", "s", "e", "a"], ["sl"]),
                      helper.make_node("GlobalAveragePool", ["sl"], ["y"])],
                     {"s": np.array([1], np.int64), "e": np.array([3], np.int64),
                      "a": np.array([2], np.int64)}, out_shape=[1, 3, 1, 1])  # fmt: skip
    onnx.save(runtime, str(tmp_path / "slice.onnx"))
    one_line_error(cli("convert", tmp_path / "slice.onnx", "--img-size", 9, "--out", tmp_path / "o"),
                   "Slice")  # fmt: skip
    assert not (tmp_path / "o").exists()


def test_a_declared_class_count_is_refused_before_names_are_built(tmp_path):
    """An ONNX of a few hundred bytes declaring [1, 1e9] outputs drove convert to 7 GB of class
    names and a MemoryError: the count is checked first (here under a memory cap)."""
    declared = _model([helper.make_node("GlobalAveragePool", ["x"], ["p"]),
                       helper.make_node("Flatten", ["p"], ["y"])], {},
                      out_shape=[1, 10**9])  # fmt: skip
    onnx.save(declared, str(tmp_path / "declared.onnx"))
    assert (tmp_path / "declared.onnx").stat().st_size < 1000
    # The normaliser's shape inference sees the declared [1, 1e9] disagree with what Flatten
    # makes of the image (3) before the class count is read: either refusal is one line.
    res = cli("convert", tmp_path / "declared.onnx", "--img-size", 9, "--out", tmp_path / "o")
    one_line_error(res, "1000000000")
    capped = (
        "import resource, sys\n"
        "from edgeres.formats.source_options import SourceOptions\n"
        "used = int(open('/proc/self/statm').read().split()[0]) * resource.getpagesize()\n"
        "resource.setrlimit(resource.RLIMIT_AS, (used + 512 * 2**20, resource.RLIM_INFINITY))\n"
        "try:\n    SourceOptions().class_names(10**9)\n"
        "except Exception as e:\n    print(type(e).__name__)\n"
    )  # fmt: skip
    done = subprocess.run([sys.executable, "-c", capped], capture_output=True, text=True,
                          timeout=120)  # fmt: skip
    assert done.stdout.strip() == "ModelFileError", done.stdout + done.stderr[-500:]
