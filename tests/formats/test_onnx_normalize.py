"""Third-party ONNX graphs as the model zoos published them: normalised once, read back into
PyTorch with parity against ONNX Runtime, refused in one line where they are not classifiers,
inconsistent, or would fold into more memory than a bound."""

from __future__ import annotations

import tracemalloc
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import pytest
import torch
from click.testing import CliRunner
from onnx import TensorProto, helper, numpy_helper
from onnx_zoo_graphs import CLASSES, GRAPHS, SIZE, caffe2_model, resnet, squeezenet

from edgeres import runtime
from edgeres.cli import main
from edgeres.errors import ModelFileError
from edgeres.formats.onnx_module import check_against_file, onnx_module, third_party_info
from edgeres.formats.onnx_normalize import MAX_TENSOR_VALUES, normalize
from edgeres.formats.source_options import SourceOptions


def cli(*args):
    return CliRunner().invoke(main, [str(a) for a in args])


def one_line_error(res, *words: str) -> None:
    assert res.exit_code == 2, res.output
    assert res.output.startswith("error: ") and len(res.output.strip().splitlines()) == 1
    for w in words:
        assert w in res.output, res.output


def _save(model, tmp_path, name="zoo.onnx"):
    path = tmp_path / name
    onnx.save(model, str(path))
    return path


def _ort_scores(path, x):
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    return np.concatenate([session.run(None, {"data_0": x[i : i + 1]})[0] for i in range(len(x))])


@pytest.mark.parametrize("name", list(GRAPHS))
def test_zoo_graph_class_reads_back_like_onnx_runtime(name, tmp_path):
    model = GRAPHS[name]()
    path = _save(model, tmp_path)
    module = onnx_module(path)
    x = np.random.default_rng(1).standard_normal((2, 3, SIZE, SIZE)).astype(np.float32)
    with torch.no_grad():
        got = module(torch.from_numpy(x))
    want = _ort_scores(path, x).reshape(2, -1)
    if model.graph.node[-1].op_type == "Softmax":  # the read-back graph ends in the logits
        got = torch.softmax(got, 1)
    assert got.shape == (2, CLASSES)
    np.testing.assert_allclose(got.numpy(), want, rtol=1e-4, atol=1e-5)
    assert check_against_file(module, path, model) <= 1e-4


def test_normalised_graph_is_what_the_readers_expect(tmp_path):
    model = squeezenet()
    out = normalize(model, tmp_path / "sq.onnx")
    g = out.graph
    weights = {t.name for t in g.initializer}
    assert [i.name for i in g.input] == ["data_0"] and not weights & {i.name for i in g.input}
    assert next(o.version for o in out.opset_import if o.domain == "") >= 13
    ops = {n.op_type for n in g.node}
    assert not ops & {"ConstantOfShape", "Dropout", "Softmax"}, ops
    dims = [d.dim_value for d in g.output[0].type.tensor_type.shape.dim]
    assert dims == [1, CLASSES]  # N x C x 1 x 1 read as N x C
    assert [n.op_type for n in model.graph.node].count("ConstantOfShape") == 1  # not edited


def test_image_input_and_class_output_found_by_what_they_are(tmp_path):
    path = _save(squeezenet(), tmp_path)  # first input a weight, output N x C x 1 x 1
    info = third_party_info(path, normalize(onnx.load(str(path)), path), SourceOptions())
    assert len(info.classes) == CLASSES and info.spec.size == (SIZE, SIZE)
    with runtime.load(path) as backend:
        assert len(backend.info.classes) == CLASSES
        assert backend.infer(np.zeros((1, 3, SIZE, SIZE), np.float32)).shape == (1, CLASSES)


def _bomb(op_nodes, inits, *, used: bool):
    """The resnet-class graph with constant nodes making ``big``; when ``used``, its mean is
    added to the logits, else nothing reads it."""
    model = resnet()
    g = model.graph
    g.initializer.extend(numpy_helper.from_array(v, k) for k, v in inits.items())
    *body, softmax = g.node
    extra = []
    if used:
        extra = [
            helper.make_node("Cast", ["big"], ["bigf"], to=TensorProto.FLOAT),
            helper.make_node("ReduceMean", ["bigf"], ["mean"], keepdims=0),
            helper.make_node("Add", [softmax.input[0], "mean"], ["shifted"]),
        ]
        softmax.input[0] = "shifted"
    nodes = [*body, *op_nodes, *extra, softmax]
    del g.node[:]
    g.node.extend(nodes)
    return model


def test_a_constant_of_shape_of_1e12_is_refused_before_it_allocates(tmp_path):
    fill = helper.make_tensor("", TensorProto.INT64, [1], [1])
    node = helper.make_node("ConstantOfShape", ["shape"], ["big"], value=fill)
    path = _save(_bomb([node], {"shape": np.array([10**6, 10**6], np.int64)}, used=True), tmp_path)
    with pytest.raises(ModelFileError, match="ConstantOfShape .* before anything is allocated"):
        onnx_module(path)


def test_a_used_broadcast_past_the_bound_is_refused_before_it_is_computed(tmp_path):
    n = int(MAX_TENSOR_VALUES**0.5) + 20  # [n, 1] + [1, n]: just over the bound
    inits = {"a": np.arange(n, dtype=np.int64)[:, None], "b": np.arange(n, dtype=np.int64)[None]}
    path = _save(_bomb([helper.make_node("Add", ["a", "b"], ["big"])], inits, used=True), tmp_path)
    tracemalloc.start()
    try:
        with pytest.raises(ModelFileError, match="folds a Add into .* values, over the limit"):
            onnx_module(path)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 200e6  # the sum alone is 1.07 GB


def test_an_unused_broadcast_costs_nothing(tmp_path):
    n = 4000  # 16M int64 values, 128 MB, if computed
    inits = {"a": np.arange(n, dtype=np.int64)[:, None], "b": np.arange(n, dtype=np.int64)[None]}
    path = _save(_bomb([helper.make_node("Add", ["a", "b"], ["big"])], inits, used=False), tmp_path)
    tracemalloc.start()
    try:
        onnx_module(path)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 64e6, peak


def _with_bad_dims(tmp_path):
    model = resnet()
    w = next(t for t in model.graph.initializer if t.name == "w1")
    w.dims[:] = [1000, 1000, 1000, 1000]  # 1e12 values declared, 81 stored
    return _save(model, tmp_path, "bad_dims.onnx")


def test_weights_whose_dims_disagree_with_their_data_are_refused(tmp_path):
    path = _with_bad_dims(tmp_path)
    out = tmp_path / "o"
    one_line_error(cli("convert", path, "--to", "tflite", "--out", out), "w1", "over the limit")
    one_line_error(cli("quantize", path, "--calib", "shapes", "--out", out), "w1")
    one_line_error(cli("inspect", path), "w1")
    model = resnet()
    w = next(t for t in model.graph.initializer if t.name == "w2")
    w.dims[:] = [8, 8, 3, 2]  # fewer values declared than stored
    path = _save(model, tmp_path, "short.onnx")
    one_line_error(cli("convert", path, "--to", "tflite", "--out", out), "stores 576")
    # Raw bytes that are no whole number of values (found by tools/fuzz_files.py: 18 bytes of an
    # int64 shape vector made numpy raise in inspect's parameter count).
    model = resnet()
    t = next(t for t in model.graph.initializer if t.data_type == onnx.TensorProto.INT64)
    t.raw_data = t.raw_data + b"\x00\x00"
    one_line_error(cli("inspect", _save(model, tmp_path, "partial.onnx")), "no whole number")
    # A data type number onnx does not know (fuzz: 93 made its dtype table raise KeyError).
    model = resnet()
    next(iter(model.graph.initializer)).data_type = 93
    one_line_error(cli("inspect", _save(model, tmp_path, "dtype.onnx")), "unknown data type 93")


def _gemm_graph(fc_w, *, gemm_inputs=("f", "fc_w", "fc_b"), shape=(1, -1)):
    nodes = [
        helper.make_node("GlobalAveragePool", ["data_0"], ["p"]),
        helper.make_node("Reshape", ["p", "flat"], ["f"]),
        helper.make_node("Gemm", list(gemm_inputs), ["prob_1"], transB=1),
    ]
    weights = {
        "flat": np.array(shape, np.int64),
        "fc_w": fc_w,
        "fc_b": np.zeros(CLASSES, np.float32),
    }
    return caffe2_model(nodes, weights, [1, CLASSES])


@pytest.mark.parametrize(
    "case",
    [
        "gemm of two inputs at opset 9",
        "gemm of mismatched dims",
        "reshape to 1e12",
        "two images",
        "detection head",
    ],  # fmt: skip
)
def test_graphs_engines_refuse_are_one_line(case, tmp_path):
    w = np.ones((CLASSES, 3), np.float32)
    model = {
        "gemm of two inputs at opset 9": lambda: _gemm_graph(w, gemm_inputs=("f", "fc_w")),
        "gemm of mismatched dims": lambda: _gemm_graph(np.ones((CLASSES, 7), np.float32)),
        "reshape to 1e12": lambda: _gemm_graph(w, shape=(1, 10**12)),
        "two images": lambda: _two_inputs(),
        "detection head": lambda: _two_outputs(),
    }[case]()
    path = _save(model, tmp_path)
    res = cli("convert", path, "--to", "tflite", "--out", tmp_path / "o")
    one_line_error(res)
    if case in ("two images", "detection head"):
        assert "is not an image classifier" in res.output
        one_line_error(cli("quantize", path, "--calib", "shapes", "--out", tmp_path / "o"),
                       "is not an image classifier")  # fmt: skip
        res = cli("inspect", path)  # describes it
        assert res.exit_code == 0 and "operators" in res.output, res.output


def _two_inputs():
    model = squeezenet()
    extra = helper.make_tensor_value_info("data_1", TensorProto.FLOAT, [1, 3, SIZE, SIZE])
    model.graph.input.append(extra)
    next(n for n in model.graph.node if n.op_type == "Conv").input[0] = "both"
    model.graph.node.insert(0, helper.make_node("Add", ["data_0", "data_1"], ["both"]))
    return model


def _two_outputs():
    model = squeezenet()
    boxes = helper.make_tensor_value_info("boxes", TensorProto.FLOAT, [1, 12, 3, 3])
    model.graph.output.append(boxes)
    model.graph.node.append(helper.make_node("Relu", ["catr"], ["boxes_full"]))
    model.graph.node.append(
        helper.make_node("MaxPool", ["boxes_full"], ["boxes"], kernel_shape=[3, 3], strides=[2, 2])
    )
    return model


def test_inspect_counts_constant_of_shape_weights(tmp_path):
    path = _save(resnet(), tmp_path)
    res = cli("inspect", path, "--json")
    assert res.exit_code == 0, res.output
    import json

    report = json.loads(res.output)
    weights = sum(int(np.prod(t.dims)) for t in resnet().graph.initializer if "SHAPE" not in t.name)
    assert report["parameters"] == weights + 8 + CLASSES  # + the two ConstantOfShape biases


def test_zoo_graph_quantizes_to_onnx_and_converts_to_tflite(tmp_path):
    path = _save(resnet(), tmp_path, "resnet.onnx")
    res = cli("quantize", path, "--to", "onnx", "--calib", "shapes", "--samples", 8,
              "--out", tmp_path / "q")  # fmt: skip
    assert res.exit_code == 0, res.output
    int8 = tmp_path / "q" / "resnet_int8.onnx"
    ops = {n.op_type for n in onnx.load(str(int8)).graph.node}
    assert {"QuantizeLinear", "DequantizeLinear", "Conv", "Gemm"} <= ops
    assert "worst layers" in res.output  # the layer report ran on the opset-9 source
    res = cli("convert", path, "--to", "tflite", "--out", tmp_path / "c")
    assert res.exit_code == 0, res.output
    assert "parity tflite ok" in res.output


@pytest.mark.slow
def test_zoo_graph_quantizes_to_tflite(tmp_path):
    path = _save(squeezenet(), tmp_path, "squeezenet.onnx")
    res = cli("quantize", path, "--to", "tflite", "--calib", "shapes", "--samples", 8,
              "--out", tmp_path / "q")  # fmt: skip
    assert res.exit_code == 0, res.output
    assert (tmp_path / "q" / "squeezenet_int8.tflite").exists()


PYTORCH_CONVERTED = Path(onnx.__file__).parent / "backend/test/data/pytorch-converted"


@pytest.mark.parametrize("name", ["test_Conv2d", "test_BatchNorm2d_eval", "test_ConstantPad2d"])
def test_onnx_packages_opset_6_graphs_are_one_line(name, tmp_path):
    path = PYTORCH_CONVERTED / name / "model.onnx"  # opset 6, feature maps out: no classifier
    one_line_error(
        cli("convert", path, "--to", "tflite", "--out", tmp_path), "not an image classifier"
    )
    one_line_error(cli("quantize", path, "--calib", "shapes", "--out", tmp_path))
