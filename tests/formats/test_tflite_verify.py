"""The TFLite verifier refuses structurally valid flatbuffers whose contents would trip the interpreter."""

from __future__ import annotations

import flatbuffers
import pytest
from ai_edge_litert import schema_py_generated as schema

from edgeres.errors import ModelFileError
from edgeres.formats.tflite_verify import verify_tflite


def _pack(model) -> bytes:
    b = flatbuffers.Builder(1024)
    b.Finish(model.Pack(b), file_identifier=b"TFL3")
    return bytes(b.Output())


def _first_op(model, opcode: int):
    codes = [max(c.builtinCode, c.deprecatedBuiltinCode) for c in model.operatorCodes]
    return next(op for op in model.subgraphs[0].operators if codes[op.opcodeIndex] == opcode)


def _edit(path, edit) -> bytes:
    model = schema.ModelT.InitFromPackedBuf(bytearray(path.read_bytes()), 0)
    edit(model)
    return _pack(model)


def test_valid_file_passes_and_reports(model_files):
    summary = verify_tflite(model_files["tflite"].read_bytes())
    assert summary.input_shapes == [(1, 32, 32, 3)]
    assert "edgeres" in summary.metadata and summary.num_operators > 0


def _bad_opcode(m):
    m.subgraphs[0].operators[0].opcodeIndex = len(m.operatorCodes) + 3


def _bad_tensor_index(m):
    m.subgraphs[0].operators[0].inputs[0] = 10_000


def _bad_buffer_index(m):
    m.subgraphs[0].tensors[0].buffer = len(m.buffers) + 1


def _zero_stride(m):
    _first_op(m, schema.BuiltinOperator.CONV_2D).builtinOptions.strideW = 0


def _short_weights(m):
    tensor = next(
        t
        for t in m.subgraphs[0].tensors
        if m.buffers[t.buffer].data is not None and len(t.shape) == 4
    )
    m.buffers[tensor.buffer].data = m.buffers[tensor.buffer].data[:-4]


def _bad_subgraph_input(m):
    m.subgraphs[0].inputs[0] = -5


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (_bad_opcode, "operator code index"),
        (_bad_tensor_index, "operator tensor index"),
        (_bad_buffer_index, "tensor buffer index"),
        (_zero_stride, "operator option"),
        (_short_weights, "constant tensor"),
        (_bad_subgraph_input, "subgraph input"),
    ],
)
def test_semantic_corruption_is_refused(edit, message, model_files):
    with pytest.raises(ModelFileError, match=message):
        verify_tflite(_edit(model_files["tflite"], edit))


def test_wrong_identifier_and_tiny_files():
    with pytest.raises(ModelFileError, match="TFL3"):
        verify_tflite(b"\x10\x00\x00\x00XXXX" + b"\x00" * 32)
    with pytest.raises(ModelFileError):
        verify_tflite(b"\x10\x00")


def test_inspect_of_a_broken_file_names_the_file(model_files, tmp_path):
    """The metadata reader verified the bytes without their path: the error said '<bytes>'."""
    from click.testing import CliRunner

    from edgeres.cli import main

    broken = tmp_path / "broken.tflite"
    broken.write_bytes(_edit(model_files["tflite"], _bad_opcode))
    res = CliRunner().invoke(main, ["inspect", str(broken)])
    assert res.exit_code == 2 and "broken.tflite" in res.output, res.output
    assert "<bytes>" not in res.output and len(res.output.strip().splitlines()) == 1
