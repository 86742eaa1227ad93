"""edgeres quantize: INT8 graphs, numbers, the report, the gate and the third-party ONNX path."""

from __future__ import annotations

import json

import numpy as np
import onnx
import pytest
from click.testing import CliRunner

from edgeres import runtime
from edgeres.cli import main
from edgeres.formats import read_metadata
from edgeres.quantize import quantize
from edgeres.quantize.checks import check_onnx, check_tflite, input_consumers


def test_onnx_int8_graph_is_qdq_with_int8_weights(int8_onnx):
    graph = onnx.load(str(int8_onnx)).graph
    ops = [n.op_type for n in graph.node]
    convs = ops.count("Conv")
    assert convs >= 3
    assert ops.count("QuantizeLinear") >= convs
    assert ops.count("DequantizeLinear") >= 2 * convs
    check = check_onnx(int8_onnx)
    assert check.full_integer, check.to_dict()
    assert check.weights_int8 == convs + ops.count("Gemm")
    int8_inits = [i for i in graph.initializer if i.data_type == onnx.TensorProto.INT8]
    assert len(int8_inits) >= convs
    # Activation type follows the host profile: uint8 on x86, int8 on ARM.
    act = read_metadata(int8_onnx).extra["quantization"]["activations"]
    q_in = next(
        n for n in graph.node if n.op_type == "QuantizeLinear" and n.input[0] == graph.input[0].name
    )
    zero = next(i for i in graph.initializer if i.name == q_in.input[2])
    assert zero.data_type == (onnx.TensorProto.UINT8 if act == "uint8" else onnx.TensorProto.INT8)
    # uint8 activations get 7-bit weights: x86 kernels without VNNI add two uint8 x int8
    # products in int16 (VPMADDUBSW), which 255 * 64 * 2 cannot overflow and 255 * 127 * 2 does.
    bits = read_metadata(int8_onnx).extra["quantization"]["weight_bits"]
    assert bits == (7 if act == "uint8" else 8)
    peak = _max_weight_int(int8_onnx)
    assert peak <= (64 if bits == 7 else 127) and peak > 32
    if act == "uint8":
        assert 255 * peak * 2 <= 32767


def _max_weight_int(path) -> int:
    """The largest |value| of the int8 weight tensors (Conv/Gemm kernels) in an ONNX file."""
    from onnx import numpy_helper

    graph = onnx.load(str(path)).graph
    ints = [numpy_helper.to_array(i) for i in graph.initializer]
    return max(int(np.abs(a.astype(int)).max()) for a in ints if a.dtype == np.int8 and a.ndim > 1)


def test_weight_bits_resolved_and_checked():
    from edgeres.errors import ParamError
    from edgeres.quantize.options import QuantizeConfig, QuantOptions

    assert QuantOptions(activations="uint8").weight_bits == 7
    assert QuantOptions(activations="int8").weight_bits == 8
    assert QuantOptions(activations="uint8", weight_bits=8).to_dict()["weight_bits"] == 8
    for bad in (6, 9):
        with pytest.raises(ParamError, match="7 or 8"):
            QuantOptions(weight_bits=bad)
        with pytest.raises(ParamError, match="7 or 8"):
            QuantizeConfig(weight_bits=bad)
    result = CliRunner().invoke(main, ["quantize", "x.pt", "--weight-bits", "6"])
    assert result.exit_code == 2 and "--weight-bits" in result.output


def test_tflite_int8_is_full_integer_nhwc(int8_tflite):
    check = check_tflite(int8_tflite)
    assert check.input_dtype == "int8" and check.output_dtype == "int8"
    assert check.full_integer, check.to_dict()
    assert check.ops.get("CONV_2D", 0) >= 3
    assert "TRANSPOSE" not in input_consumers(int8_tflite)
    with runtime.load(int8_tflite) as backend:
        assert backend.spec.shape(backend.fixed_batch) == (1, 32, 32, 3)


@pytest.mark.parametrize("fmt", ["onnx", "tflite"])
def test_int8_metadata_round_trip(quantized, fmt):
    info = read_metadata(quantized.outputs[fmt])
    assert info.precision == "int8"
    assert info.name == "test_resnet"
    assert info.spec.layout == ("NHWC" if fmt == "tflite" else "NCHW")
    q = info.extra["quantization"]
    assert q["samples"] == 32 and q["per_channel"] is True
    assert info.extra["source_sha256"]


def test_int8_numbers_follow_fp32(quantized, fp32_onnx, int8_onnx, int8_tflite):
    rep = quantized.report
    assert rep.eval_samples == 64
    for fmt in ("onnx", "tflite"):
        r = rep.formats[fmt]
        assert r.agreement >= 0.85, r
        assert abs(r.drop_pts) <= 15
    assert rep.cross_agreement >= 0.85
    # Real images (what calibration saw), not noise: INT8 ranges are calibrated for real inputs.
    from edgeres.data import load_split

    spec = read_metadata(fp32_onnx).spec
    x = spec.preprocess(load_split("shapes", "test", spec.size, limit=16, quiet=True).images)
    ref = runtime.load(fp32_onnx).infer(x)
    for got in (
        runtime.load(int8_onnx).infer(x),
        runtime.load(int8_tflite).infer(x.transpose(0, 2, 3, 1)),
    ):
        # Relative L2 error of the logits (SQNR >= 10 dB); a wrong scale or layout gives ~1.
        rel = np.linalg.norm(got - ref) / np.linalg.norm(ref)
        assert rel <= 0.3, rel


def test_report_json_saved_beside_files(quantized):
    doc = json.loads(quantized.report_path.read_text())
    assert quantized.report_path.name == "model_int8_report.json"
    assert doc["passed"] is True
    assert doc["formats"]["onnx"]["integer"]["full_integer"] is True
    assert doc["formats"]["onnx"]["layers"], "per-layer SQNR missing"
    assert all("sqnr_db" in e and "layer" in e for e in doc["formats"]["onnx"]["layers"])
    assert doc["formats"]["tflite"]["integer"]["input_dtype"] == "int8"
    assert doc["formats"]["onnx"]["size_bytes"] < doc["formats"]["onnx"]["fp32_size_bytes"]
    assert 0 <= doc["cross_agreement"] <= 1


def test_gate_fails_on_purpose_and_deletes_the_file(outlier_ckpt, tmp_path):
    # The outlier model loses accuracy in INT8; --no-fallback deletes the file instead of repairing.
    res = CliRunner().invoke(
        main,
        [
            "quantize",
            str(outlier_ckpt),
            "--to",
            "onnx",
            "--calib",
            "shapes",
            "--samples",
            "32",
            "--eval-data",
            "shapes",
            "--eval-limit",
            "64",
            "--max-drop",
            "0",
            "--no-fallback",
            "--no-equalize",
            "--out",
            str(tmp_path),
        ],
    )
    assert res.exit_code == 1, res.output
    assert "deleted" in res.output
    assert not (tmp_path / "outlier_int8.onnx").exists()
    report = json.loads((tmp_path / "outlier_int8_report.json").read_text())
    assert report["passed"] is False and report["rejected"] == ["onnx"]
    assert report["formats"]["onnx"]["fallback"] is None
    assert sorted(p.name for p in tmp_path.iterdir()) == ["outlier_int8_report.json"]


def test_third_party_onnx_without_metadata(tiny_ckpt, tmp_path):
    import torch

    from edgeres.train.checkpoint import load_checkpoint

    ckpt = load_checkpoint(tiny_ckpt)
    plain = tmp_path / "plain.onnx"
    torch.onnx.export(
        ckpt.model, (torch.zeros(1, 3, 32, 32),), str(plain), dynamo=True, external_data=False
    )
    assert read_metadata(plain) is None
    spec = ckpt.info.spec
    result = quantize(
        plain,
        calib="shapes",
        to=("onnx",),
        samples=16,
        eval_data="shapes",
        eval_limit=32,
        img_size=32,
        mean=spec.mean,
        std=spec.std,
        activations="uint8",
        weight_bits=8,
        quiet=True,
    )
    assert _max_weight_int(result.outputs["onnx"]) == 127  # --weight-bits 8 overrides uint8's 7
    info = read_metadata(result.outputs["onnx"])
    assert info.precision == "int8" and info.spec.size == (32, 32)
    assert info.spec.mean == spec.mean and info.extra.get("third_party") is True
    assert result.report.formats["onnx"].agreement >= 0.8
    with pytest.raises(Exception, match="--img-size 64 does not match"):
        quantize(
            plain, calib="shapes", to=("onnx",), samples=16, img_size=64, force=True, quiet=True
        )


def test_streaming_reader_chunks_and_stays_lazy():
    from edgeres.quantize.calib import CHUNK, StreamingReader

    pulled = []

    def stream():
        for i in range(70):
            pulled.append(i)
            yield np.full((1, 3), i, np.float32)

    reader = StreamingReader(stream(), "x", 70)
    assert len(reader) == 3 * CHUNK
    seen = []
    for start in range(0, len(reader), CHUNK):
        reader.set_range(start, start + CHUNK)
        while (item := reader.get_next()) is not None:
            seen.append(int(item["x"][0, 0]))
        assert len(pulled) == len(seen)  # nothing read ahead of the calibrator
    assert seen == list(range(70))


def _initializer_key(init) -> bytes:
    body = onnx.TensorProto()
    body.CopyFrom(init)
    body.name = ""
    return body.SerializeToString(deterministic=True)


def test_onnx_int8_graph_is_compact(int8_onnx, fp32_onnx):
    from edgeres.quantize.onnx.layers import layer_tensors

    model = onnx.load(str(int8_onnx))
    graph = model.graph
    used = {i for n in graph.node for i in n.input}
    assert [i.name for i in graph.initializer if i.name not in used] == []
    keys = [_initializer_key(i) for i in graph.initializer]
    assert len(keys) == len(set(keys)), "identical initializers stored twice"
    assert not graph.value_info
    assert {o.domain for o in model.opset_import} == {""}
    # The per-layer report looks up FP32 Conv/Gemm output names in the INT8 graph.
    outputs = {o for n in graph.node for o in n.output}
    fp_tensors = [t for _, t, _ in layer_tensors(onnx.load(str(fp32_onnx)).graph)]
    assert fp_tensors and set(fp_tensors) <= outputs


def test_compact_qdq_merges_renames_and_keeps_values():
    import onnxruntime as ort
    from onnx import TensorProto, helper

    from edgeres.quantize.onnx.compact import compact_qdq

    def scalar(name, dtype, value):
        return helper.make_tensor(name, dtype, [], [value])

    graph = helper.make_graph(
        [
            helper.make_node("QuantizeLinear", ["x", "x_scale", "x_zp"], ["x_q"], name="x_Q"),
            helper.make_node(
                "DequantizeLinear", ["x_q", "x_scale2", "x_zp2"], ["x_dq"], name="x_DQ"
            ),
            helper.make_node("Relu", ["x_dq"], ["relu"], name="relu_node"),
            helper.make_node("QuantizeLinear", ["relu", "r_scale", "x_zp"], ["r_q"], name="r_Q"),
            helper.make_node("DequantizeLinear", ["r_q", "r_scale", "x_zp2"], ["y"], name="r_DQ"),
        ],
        "g",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [2, 3])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [2, 3])],
        [
            scalar("x_scale", TensorProto.FLOAT, 0.05),
            scalar("x_scale2", TensorProto.FLOAT, 0.05),
            scalar("r_scale", TensorProto.FLOAT, 0.02),
            scalar("x_zp", TensorProto.UINT8, 128),
            scalar("x_zp2", TensorProto.UINT8, 128),
            helper.make_tensor("unused", TensorProto.FLOAT, [4], [1.0, 2.0, 3.0, 4.0]),
        ],
        value_info=[helper.make_tensor_value_info("x_q", TensorProto.UINT8, [2, 3])],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    x = {"x": np.linspace(-3, 3, 6, dtype=np.float32).reshape(2, 3)}
    ref = ort.InferenceSession(model.SerializeToString()).run(None, x)[0]
    before = len(model.SerializeToString())
    compact_qdq(model)
    onnx.checker.check_model(model)
    got = ort.InferenceSession(model.SerializeToString()).run(None, x)[0]
    np.testing.assert_array_equal(got, ref)
    assert len(model.SerializeToString()) < before
    assert (
        len(model.graph.initializer) == 3
    )  # one scale pair merged, zero points merged, unused gone
    assert not model.graph.value_info
    names = {o for n in model.graph.node for o in n.output}
    assert {"relu", "y"} <= names and "x_q" not in names  # non-Q/DQ outputs and graph I/O kept
    assert [n.name for n in model.graph.node][2] == "relu_node"


def test_quantize_eval_data_streams_a_big_folder_to_the_same_scores(
    tiny_ckpt, tmp_path, monkeypatch
):
    """--eval-data DIR too large for memory is read batch by batch on every pass (FP32, each
    INT8 file): the same scores as in memory, an unreadable file left out of all of them."""
    import cv2

    from edgeres.data import stream
    from edgeres.data.shapes import CLASSES, generate

    images, labels = generate(40, 32, split="test", seed=5)
    for i, (image, label) in enumerate(zip(images, labels, strict=True)):
        for split in ("train", "test"):
            folder = tmp_path / "data" / split / CLASSES[label]
            folder.mkdir(parents=True, exist_ok=True)
            cv2.imwrite(str(folder / f"{i:02d}.png"), image)
    (tmp_path / "data" / "test" / CLASSES[0] / "zz.png").write_bytes(
        b"\x89PNG\r\n\x1a\n" + b"\0" * 9
    )
    common = dict(calib="shapes", to=("onnx",), samples=16, eval_data=str(tmp_path / "data"),
                  quiet=True)  # fmt: skip
    held = quantize(tiny_ckpt, out_dir=tmp_path / "held", **common).report
    monkeypatch.setattr(stream, "IN_MEMORY_BYTES", 1000)
    streamed = quantize(tiny_ckpt, out_dir=tmp_path / "streamed", **common).report
    assert held.eval_samples == streamed.eval_samples == 40
    assert held.fp32_accuracy == streamed.fp32_accuracy
    assert held.formats["onnx"].accuracy == streamed.formats["onnx"].accuracy
    assert held.formats["onnx"].agreement == streamed.formats["onnx"].agreement
