"""quantize/checks.py on files the interpreter refuses: `inspect` says so in one line (found by
tools/fuzz_files.py: a TFLite file of schema version 4, and one whose convolution reads the
wrong bias tensor, passed the structural verifier and ended in a ValueError/RuntimeError
traceback)."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from edgeres.cli import main


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


@pytest.mark.parametrize("change", [_schema_4, _wrong_bias])
def test_a_tflite_file_the_interpreter_refuses_is_one_line(fp32_tflite, tmp_path, change):
    # inspect reads the graph with edgeres' own flatbuffer reader (no interpreter), so it
    # describes the file or refuses it in one line; predict needs the interpreter: one line.
    bad = _rewrite(fp32_tflite, tmp_path / "bad.tflite", change)
    assert _inspect_outcomes([bad]) <= {"ok", "clean"}
    image = tmp_path / "x.png"
    import cv2
    import numpy as np

    cv2.imwrite(str(image), np.zeros((16, 16, 3), np.uint8))
    res = CliRunner().invoke(main, ["predict", str(bad), str(image)])
    assert res.exit_code == 2, res.output
    lines = res.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), res.output


def _inspect_outcomes(paths) -> set[str]:
    """What `inspect` did for each file: 'ok', 'clean' (exit 2, one error line) or the traceback."""
    seen = set()
    for path in paths:
        res = CliRunner().invoke(main, ["inspect", str(path)])
        lines = res.output.strip().splitlines()
        if res.exit_code == 0:
            seen.add("ok")
        elif res.exit_code == 2 and len(lines) == 1 and lines[0].startswith("error: "):
            seen.add("clean")
        else:
            seen.add(f"{res.exit_code}: {res.exception!r}"[:200])
    return seen


def test_inspect_of_corrupted_onnx_bytes_is_one_line(fp32_onnx, int8_onnx, tmp_path):
    # Bytes flipped (as tools/fuzz_files.py does) where the structural walk still passes but
    # protobuf refuses the message, or op names turn into non-UTF-8 bytes.
    paths = []
    for k, src in enumerate((fp32_onnx, int8_onnx)):
        data = bytearray(src.read_bytes())
        for i, at in enumerate(range(40, len(data), max(1, len(data) // 150))):
            bad = bytearray(data)
            bad[at : at + 8] = b"\xcf\xff\x87\xcf\xff\x87\xcf\xff"[: len(bad) - at]
            paths.append(tmp_path / f"{k}_{i}.onnx")
            paths[-1].write_bytes(bytes(bad))
    assert _inspect_outcomes(paths) <= {"ok", "clean"}


def test_inspect_of_a_checkpoint_with_its_pickle_cut_short_is_one_line(artifacts_dir, tmp_path):
    import zipfile

    src = artifacts_dir / "model.pt"
    with zipfile.ZipFile(src) as z:
        entries = [(i.filename, z.read(i)) for i in z.infolist()]
    pkl = next(k for k, (name, _) in enumerate(entries) if name.endswith("data.pkl"))
    paths = []
    for cut in range(2, len(entries[pkl][1]), 11):  # cuts inside many kinds of opcode argument
        path = tmp_path / f"cut{cut}.pt"
        with zipfile.ZipFile(path, "w", zipfile.ZIP_STORED) as z:
            for k, (name, body) in enumerate(entries):
                z.writestr(name, body[:cut] if k == pkl else body)
        paths.append(path)
    assert _inspect_outcomes(paths) == {"clean"}


def test_inspect_of_a_checkpoint_whose_storage_record_is_garbled_is_one_line(
    artifacts_dir, tmp_path
):
    import io
    import pickle
    import zipfile

    class _Pickler(pickle.Pickler):
        def persistent_id(self, obj):  # a storage whose type is a string, not a torch class
            return ("storage", "FloatStorage", "0", "cpu", 1) if obj == "S" else None

    buf = io.BytesIO()
    _Pickler(buf, protocol=2).dump({"w": "S"})
    bad = tmp_path / "garbled.pt"
    with zipfile.ZipFile(artifacts_dir / "model.pt") as z, zipfile.ZipFile(bad, "w") as out:
        for info in z.infolist():
            body = buf.getvalue() if info.filename.endswith("data.pkl") else z.read(info)
            out.writestr(info.filename, body)
    assert _inspect_outcomes([bad]) == {"clean"}


def test_inspect_of_a_checkpoint_whose_pickle_reads_an_unwritten_memo_slot_is_one_line(
    artifacts_dir, tmp_path
):
    """Found by tools/fuzz_files.py (seed 14): flipped bytes in data.pkl made torch's unpickler
    look up memo slot 205, which no opcode wrote: KeyError, a traceback."""
    import zipfile

    bad = tmp_path / "memo.pt"
    with zipfile.ZipFile(artifacts_dir / "model.pt") as z, zipfile.ZipFile(bad, "w") as out:
        for info in z.infolist():
            body = z.read(info)
            if info.filename.endswith("data.pkl"):
                body = body[:2] + b"h\xcd." + body[2:]  # BINGET 205, then STOP
            out.writestr(info.filename, body)
    assert _inspect_outcomes([bad]) == {"clean"}


def _absent_weights(model) -> None:
    sg = model.subgraphs[0]
    conv = next(op for op in sg.operators if len(op.inputs) == 3)
    conv.inputs = [conv.inputs[0], -1, conv.inputs[2]]  # a convolution without its weights


def _absent_addend(model) -> None:
    sg = model.subgraphs[0]
    add = next(op for op in sg.operators if len(op.inputs) == 2)
    add.inputs = [add.inputs[0], -1]


@pytest.mark.parametrize("change", [_absent_weights, _absent_addend])
def test_a_required_operator_input_marked_absent_is_refused_before_litert(
    fp32_tflite, tmp_path, change
):
    """Found by tools/fuzz_files.py: -1 (absent) as a CONV_2D's weights or an ADD's second
    input crashed LiteRT (SIGSEGV) or hung it; the verifier now refuses it before any engine."""
    bad = _rewrite(fp32_tflite, tmp_path / "bad.tflite", change)
    image = tmp_path / "x.png"
    import cv2
    import numpy as np

    cv2.imwrite(str(image), np.zeros((16, 16, 3), np.uint8))
    for args in (["inspect", str(bad)], ["predict", str(bad), str(image)]):
        res = CliRunner().invoke(main, args)
        assert res.exit_code == 2, res.output
        lines = res.output.strip().splitlines()
        assert len(lines) == 1 and "lacks a required input" in lines[0], res.output


def test_inspect_of_an_onnx_graph_whose_declared_types_contradict_it_says_macs_unknown(
    fp32_onnx, tmp_path
):
    """Found by tools/fuzz_files.py (seed 15): flipped bytes changed a declared element type,
    and onnx's shape inference (inspect's MAC count) raised InferenceError: a traceback."""
    import json

    import onnx

    model = onnx.load(str(fp32_onnx))
    weights = {t.name for t in model.graph.initializer}
    declared = next(v for v in model.graph.value_info if v.name in weights)
    declared.type.tensor_type.elem_type = onnx.TensorProto.INT64  # the weight is FLOAT
    bad = tmp_path / "types.onnx"
    onnx.save(model, str(bad))
    res = CliRunner().invoke(main, ["inspect", str(bad), "--json"])
    assert res.exit_code == 0, res.output
    facts = json.loads(res.stdout)
    assert facts["macs"] is None and "cannot be inferred" in facts["macs_how"]
