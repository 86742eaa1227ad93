"""The walk before an engine opens an ONNX file refuses nodes with fewer inputs than their
operator takes (found by tools/fuzz_files.py: a Relu turned into a one-input Conv crashed
`predict` with SIGSEGV inside OpenVINO's reader), and refuses no valid file."""

from __future__ import annotations

import glob
import os
import subprocess
import sys
from pathlib import Path

import pytest

from edgeres.errors import ModelFileError
from edgeres.formats.onnx import open_checked
from edgeres.formats.onnx_check import scan_onnx

onnx = pytest.importorskip("onnx")


def _one_node(path: Path, op: str, inputs: list[str], opset: int = 17) -> Path:
    from onnx import TensorProto, helper

    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3, 8, 8])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, None)
    node = helper.make_node(op, inputs, ["y"], name="n")
    model = helper.make_model(
        helper.make_graph([node], "g", [x], [y]), opset_imports=[helper.make_opsetid("", opset)]
    )
    model.ir_version = 8
    onnx.save(model, str(path))
    return path


@pytest.mark.parametrize(("op", "inputs", "need"), [("Conv", ["x"], 2), ("Pad", [], 2),
                                                    ("GlobalAveragePool", [], 1),
                                                    ("Pad", ["x"], 2)])  # fmt: skip
def test_a_node_missing_required_inputs_is_refused_before_any_engine(tmp_path, op, inputs, need):
    bad = _one_node(tmp_path / "bad.onnx", op, inputs)
    with pytest.raises(
        ModelFileError, match=f"'n' \\({op}\\) has {len(inputs)} input.*least {need}"
    ):
        open_checked(bad)


def test_the_fewest_inputs_follow_the_opset(tmp_path):
    # Pad took its pads as an attribute until opset 11: one input is right at opset 9
    old = _one_node(tmp_path / "old.onnx", "Pad", ["x"], opset=9)
    assert "Pad" in open_checked(old).op_types


def test_predict_on_openvino_says_so_instead_of_crashing(tmp_path):
    pytest.importorskip("openvino")
    import cv2
    import numpy as np

    bad = _one_node(tmp_path / "bad.onnx", "Conv", ["x"])
    image = tmp_path / "x.png"
    cv2.imwrite(str(image), np.zeros((8, 8, 3), np.uint8))
    cmd = [sys.executable, "-m", "edgeres", "predict", str(bad), str(image), "--engine",
           "openvino", "--workers", "0"]  # fmt: skip
    res = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    assert res.returncode == 2, (res.returncode, res.stderr[-500:])  # was -11 (SIGSEGV)
    assert res.stderr.strip().splitlines()[-1].startswith("error: ") and "Conv" in res.stderr


def test_every_graph_onnx_ships_for_its_backend_tests_passes():
    root = Path(onnx.__file__).parent / "backend" / "test" / "data"
    files = glob.glob(os.path.join(root, "**", "*.onnx"), recursive=True)
    assert len(files) > 50
    for f in files:  # valid models of every opset: the arity table must refuse none
        try:
            scan_onnx(Path(f).read_bytes(), f)
        except ModelFileError as e:
            assert "takes at least" not in str(e), f
