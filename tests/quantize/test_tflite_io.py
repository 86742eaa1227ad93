"""--io float: a QUANTIZE op in front of and a DEQUANTIZE op behind the integer TFLite graph."""

from __future__ import annotations

import numpy as np

from edgeres import runtime
from edgeres.formats.tflite import read_tflite_metadata
from edgeres.quantize.checks import check_tflite
from edgeres.quantize.tflite.io import float_io


def test_float_io_keeps_the_integer_graph_and_its_numbers(int8_tflite, tmp_path):
    data = int8_tflite.read_bytes()
    out = tmp_path / "float_io.tflite"
    out.write_bytes(float_io(data))
    check = check_tflite(out)
    assert (check.input_dtype, check.output_dtype) == ("float32", "float32")
    assert check.ops["QUANTIZE"] == 1 and check.ops["DEQUANTIZE"] == 1
    assert check.full_integer and not check.float_ops
    x = np.random.default_rng(0).standard_normal((3, 32, 32, 3)).astype(np.float32)
    np.testing.assert_array_equal(runtime.load(out).infer(x), runtime.load(int8_tflite).infer(x))
    assert read_tflite_metadata(out.read_bytes()).precision == "int8"
