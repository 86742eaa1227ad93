"""quantize/checks.py on files the interpreter refuses: `inspect` says so in one line (found by
tools/fuzz_files.py: a TFLite file of schema version 4, and one whose convolution reads the
wrong bias tensor, passed the structural verifier and ended in a ValueError/RuntimeError
traceback)."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from edgeres.cli import main
from edgeres.errors import ModelFileError
from edgeres.quantize.checks import tflite_graph


def _rewrite(src: Path, dst: Path, change) -> Path:
    import flatbuffers
    from ai_edge_litert import schema_py_generated as schema

    model = schema.ModelT.InitFromPackedBuf(bytearray(src.read_bytes()), 0)
    change(model)
    b = flatbuffers.Builder(1024)
    b.Finish(model.Pack(b), file_identifier=b"TFL3")
    dst.write_bytes(bytes(b.Output()))
    return dst


def _schema_4(model) -> None:
    model.version = 4


def _wrong_bias(model) -> None:
    sg = model.subgraphs[0]
    conv = next(op for op in sg.operators if len(op.inputs) == 3)
    conv.inputs = [conv.inputs[0], conv.inputs[1], conv.inputs[0]]  # the image as the bias


@pytest.mark.parametrize(("change", "words"), [(_schema_4, "schema version 4"),
                                               (_wrong_bias, "failed to prepare")])  # fmt: skip
def test_inspect_of_a_tflite_file_the_interpreter_refuses_is_one_line(
    fp32_tflite, tmp_path, change, words
):
    bad = _rewrite(fp32_tflite, tmp_path / "bad.tflite", change)
    with pytest.raises(ModelFileError, match="the TFLite interpreter cannot load"):
        tflite_graph(bad)
    res = CliRunner().invoke(main, ["inspect", str(bad)])
    assert res.exit_code == 2, res.output
    assert "Traceback" not in res.output
    lines = res.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: the TFLite interpreter"), res.output
    assert words in lines[0]
