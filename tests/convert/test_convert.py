"""edgeres convert: ONNX and TFLite graphs, metadata, parity, and every bad input."""

from __future__ import annotations

import hashlib

import numpy as np
import onnx
import pytest
import torch
from click.testing import CliRunner

from edgeres.cli import main
from edgeres.convert.parity import check_parity, real_images
from edgeres.errors import ModelFileError
from edgeres.formats import read_metadata
from edgeres.formats.tflite_verify import read_graph
from edgeres.quantize.checks import input_consumers


def test_onnx_is_one_checked_file_with_fixed_batch(fp32_onnx):
    model = onnx.load(str(fp32_onnx))
    onnx.checker.check_model(model, full_check=True)
    assert not any(i.data_location == onnx.TensorProto.EXTERNAL for i in model.graph.initializer)
    assert not list(fp32_onnx.parent.glob("*.data"))
    dims = [d.dim_value for d in model.graph.input[0].type.tensor_type.shape.dim]
    assert dims == [1, 3, 32, 32]
    assert model.opset_import[0].version == 18


def test_tflite_takes_nhwc_with_no_transpose_at_input(fp32_tflite):
    inp = read_graph(fp32_tflite).input_tensors()[0]
    assert inp.shape == (1, 32, 32, 3)
    assert inp.dtype == "float32"
    consumers = input_consumers(fp32_tflite)
    assert consumers and "TRANSPOSE" not in consumers


@pytest.mark.parametrize("fmt", ["onnx", "tflite"])
def test_metadata_round_trip(converted, artifacts_dir, fmt):
    info = read_metadata(converted.outputs[fmt])
    assert info is not None
    assert info.name == "test_resnet"
    assert info.precision == "fp32"
    assert info.spec.layout == ("NHWC" if fmt == "tflite" else "NCHW")
    assert info.spec.size == (32, 32)
    assert len(info.classes) == 10
    digest = hashlib.sha256((artifacts_dir / "model.pt").read_bytes()).hexdigest()
    assert info.extra["source_sha256"] == digest
    assert info.extra["edgeres_version"]


def test_parity_passes_on_random_and_real_inputs(converted):
    assert {p.format for p in converted.parity} == {"onnx", "tflite"}
    for report in converted.parity:
        assert report.passed, report.line()
        assert report.max_abs_diff <= 1e-4
        assert report.real_inputs > 0
        assert report.top1_agree == report.inputs


def test_parity_catches_a_different_model(converted, artifacts_dir):
    from edgeres.train.checkpoint import load_checkpoint

    ckpt = load_checkpoint(artifacts_dir / "model.pt")
    with torch.no_grad():
        for p in ckpt.model.parameters():
            p.add_(0.05)
    report = check_parity(
        ckpt.model, converted.outputs["onnx"], ckpt.info, real_images(ckpt.info, 4)
    )
    assert not report.passed


def test_dynamic_batch_onnx_runs_any_batch(tiny_ckpt, tmp_path):
    import onnxruntime as ort

    from edgeres.convert.onnx import export_onnx
    from edgeres.train.checkpoint import load_checkpoint

    ckpt = load_checkpoint(tiny_ckpt)
    path = export_onnx(ckpt.model, ckpt.info, tmp_path / "dyn.onnx", dynamic_batch=True)
    sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    x = np.random.default_rng(0).standard_normal((3, 3, 32, 32)).astype(np.float32)
    got = sess.run(None, {sess.get_inputs()[0].name: x})[0]
    with torch.no_grad():
        ref = ckpt.model(torch.from_numpy(x)).numpy()
    assert np.abs(got - ref).max() <= 1e-4


class _Cummax(torch.nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv = torch.nn.Conv2d(3, 4, 3)

    def forward(self, x):
        return torch.cummax(self.conv(x), dim=1)[0]


class _OddNet(torch.nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.body = _Cummax()
        self.fc = torch.nn.Linear(4, 10)

    def forward(self, x):
        return self.fc(self.body(x).mean((2, 3)))


@pytest.mark.parametrize("fmt", ["onnx", "tflite"])
def test_unsupported_op_names_op_and_layer(tmp_path, fmt):
    from edgeres.convert.onnx import export_onnx
    from edgeres.convert.tflite import export_tflite
    from edgeres.spec import InputSpec, ModelInfo

    info = ModelInfo("odd", tuple("abcdefghij"), InputSpec(16, 16))
    exporter = export_onnx if fmt == "onnx" else export_tflite
    out = tmp_path / f"odd.{fmt}"
    with pytest.raises(ModelFileError, match=r"op 'cummax' in layer 'body'"):
        exporter(_OddNet().eval(), info, out)
    assert list(tmp_path.iterdir()) == []


def test_cli_refuses_existing_outputs(converted, artifacts_dir):
    before = converted.outputs["onnx"].read_bytes()
    res = CliRunner().invoke(main, ["convert", str(artifacts_dir / "model.pt"), "--to", "onnx"])
    assert res.exit_code == 2
    assert "already exists" in res.output and "--force" in res.output
    assert "Traceback" not in res.output
    assert converted.outputs["onnx"].read_bytes() == before


@pytest.mark.parametrize(
    ("name", "content", "expected"),
    [
        ("notes.pt", b"just some text\n", "not a"),
        ("empty.pt", b"", "empty"),
        ("model.onnx", b"\x08\x07", "not a readable ONNX model"),
        ("model.bin", b"abc", "suffix"),
    ],
)
def test_cli_rejects_files_that_are_not_checkpoints(tmp_path, name, content, expected):
    path = tmp_path / name
    path.write_bytes(content)
    res = CliRunner().invoke(main, ["convert", str(path), "--out", str(tmp_path / "out")])
    assert res.exit_code == 2, res.output
    assert res.output.startswith("error: ") and expected in res.output
    assert len(res.output.strip().splitlines()) == 1
    assert not (tmp_path / "out").exists() or not list((tmp_path / "out").iterdir())


def test_cli_rejects_unknown_format(artifacts_dir):
    res = CliRunner().invoke(main, ["convert", str(artifacts_dir / "model.pt"), "--to", "onx"])
    assert res.exit_code == 2
    assert "onnx" in res.output


def test_cli_json_force_and_help(converted, artifacts_dir, tmp_path):
    import json

    res = CliRunner().invoke(
        main,
        [
            "convert",
            str(artifacts_dir / "model.pt"),
            "--to",
            "onnx",
            "--out",
            str(tmp_path),
            "--json",
        ],
    )
    assert res.exit_code == 0, res.output
    doc = json.loads(res.stdout)
    assert doc["passed"] and doc["outputs"]["onnx"].endswith("model.onnx")
    again = CliRunner().invoke(
        main,
        [
            "convert",
            str(artifacts_dir / "model.pt"),
            "--to",
            "onnx",
            "--out",
            str(tmp_path),
            "--force",
            "--no-verify",
        ],
    )
    assert again.exit_code == 0, again.output
    helptext = CliRunner().invoke(main, ["convert", "--help"]).output
    assert "Example:" in helptext and "edgeres convert" in helptext


def test_full_disk_is_one_line_and_leaves_nothing(tiny_ckpt, tmp_path, fsize_limited_cli):
    out = tmp_path / "out"
    r = fsize_limited_cli(
        ["convert", str(tiny_ckpt), "--to", "onnx", "--out", str(out)], 20_000, tmp_path
    )
    assert r.returncode == 2, r.stderr
    assert "Traceback" not in r.stderr
    assert f"error: no space left on the device writing into '{out}'" in r.stderr
    assert not (out / "model.onnx").exists()
    assert not list(out.glob(".edgeres-staging-*"))


def test_killed_convert_leaves_no_unverified_file_and_is_cleaned(tiny_ckpt, tmp_path):
    import os
    import subprocess
    import sys

    out = tmp_path / "out"
    out.mkdir()
    # What a convert killed between export and parity check leaves: a staging folder of a dead
    # process with the exported, unchecked file in it, and nothing under the final name.
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True, check=True).stdout.strip()  # fmt: skip
    stale = out / f".edgeres-staging-convert-{dead}-abc"
    stale.mkdir()
    (stale / "model.onnx").write_bytes(b"unverified")
    legacy = out / ".edgeres-quantize-x1y2"
    legacy.mkdir()
    r = CliRunner().invoke(main, ["convert", str(tiny_ckpt), "--to", "onnx", "--out", str(out)])
    assert r.exit_code == 0, r.output
    assert not stale.exists() and not legacy.exists()
    assert (out / "model.onnx").stat().st_size > 1000
    assert oct((out / "model.onnx").stat().st_mode & 0o777) == oct(0o666 & ~_umask())
    assert os.listdir(out) == ["model.onnx"]


def _umask() -> int:
    import os

    mask = os.umask(0)
    os.umask(mask)
    return mask


def _nan_checkpoint(tiny_ckpt, path):
    from edgeres.formats.checkpoint import read_payload

    payload = read_payload(tiny_ckpt)
    weight = next(k for k, v in payload["state_dict"].items() if v.ndim == 4)
    payload["state_dict"][weight].view(-1)[0] = float("nan")
    torch.save(payload, path)
    return path


def test_nan_checkpoint_is_refused_and_nothing_written(tiny_ckpt, tmp_path):
    path = _nan_checkpoint(tiny_ckpt, tmp_path / "nan.pt")
    out = tmp_path / "out"
    res = CliRunner().invoke(main, ["convert", str(path), "--to", "onnx", "--out", str(out)])
    assert res.exit_code == 2 and "non-finite weights" in res.output, res.output
    assert not (out / "nan.onnx").exists()


def test_nan_logits_never_agree(converted, artifacts_dir):
    from edgeres.train.checkpoint import load_checkpoint

    ckpt = load_checkpoint(artifacts_dir / "model.pt")
    with torch.no_grad():
        next(p for p in ckpt.model.parameters() if p.ndim == 4).view(-1)[0] = float("nan")
    report = check_parity(ckpt.model, converted.outputs["onnx"], ckpt.info)
    assert not report.passed and not report.finite and report.top1_agree == 0
    assert "NaN" in report.line() and report.to_dict()["max_abs_diff"] is None


def test_a_file_that_fails_parity_is_not_published(tiny_ckpt, tmp_path, monkeypatch):
    import edgeres.convert as conv

    real = conv.check_parity
    monkeypatch.setattr(conv, "check_parity", lambda *a: real(*a, atol=-1.0))  # always fails
    out = tmp_path / "out"
    res = CliRunner().invoke(main, ["convert", str(tiny_ckpt), "--to", "onnx", "--out", str(out)])
    assert res.exit_code == 1 and "not written" in res.output, res.output
    assert list(out.iterdir()) == []


def test_an_output_written_meanwhile_by_another_command_is_not_replaced(
    tiny_ckpt, tmp_path, monkeypatch
):
    import edgeres.convert as conv

    out = tmp_path / "out"
    real = conv.check_parity

    def other_command_finishes_first(*args):
        (out / "model.onnx").write_bytes(b"the other run's file")
        return real(*args)

    monkeypatch.setattr(conv, "check_parity", other_command_finishes_first)
    res = CliRunner().invoke(main, ["convert", str(tiny_ckpt), "--to", "onnx", "--out", str(out)])
    assert res.exit_code == 2 and "another command wrote it" in res.output, res.output
    assert (out / "model.onnx").read_bytes() == b"the other run's file"
    assert [p.name for p in out.iterdir()] == ["model.onnx"]


def test_publish_never_replaces_unless_told(tmp_path):
    from edgeres.errors import OutputExistsError
    from edgeres.fileio import atomic_write_text, publish

    staged, target = tmp_path / "staged", tmp_path / "final"
    staged.write_text("mine")
    target.write_text("theirs")
    with pytest.raises(OutputExistsError, match="another command"):
        publish(staged, target)
    with pytest.raises(OutputExistsError):
        atomic_write_text(target, "mine", overwrite=False)
    assert target.read_text() == "theirs" and sorted(tmp_path.iterdir()) == [target, staged]
    publish(staged, target, overwrite=True)
    assert target.read_text() == "mine" and not staged.exists()
