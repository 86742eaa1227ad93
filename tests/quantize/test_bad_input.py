"""edgeres quantize refuses bad input with one line, exit 2, and leaves nothing behind."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
from click.testing import CliRunner

from edgeres.cli import main


def _run(args):
    res = CliRunner().invoke(main, ["quantize", *args])
    return res.exit_code, res.output


def _assert_one_line_error(code, output, *needles):
    assert code == 2, output
    errors = [line for line in output.splitlines() if line.startswith("error: ")]
    assert len(errors) == 1, output
    assert "Traceback" not in output
    for needle in needles:
        assert needle in errors[0], errors[0]


def _nothing_written(folder):
    return not folder.exists() or not any(p for p in folder.iterdir())


def test_missing_calibration_folder(fp32_onnx, tmp_path):
    out = tmp_path / "out" / "deeper"
    code, output = _run(
        [str(fp32_onnx), "--to", "onnx", "--calib", str(tmp_path / "nope"), "--out", str(out)]
    )
    _assert_one_line_error(code, output, "nope")
    assert not (tmp_path / "out").exists()  # the folders this run made are removed again


def test_empty_calibration_folder(fp32_onnx, tmp_path):
    (tmp_path / "empty").mkdir()
    out = tmp_path / "out"
    code, output = _run(
        [str(fp32_onnx), "--to", "onnx", "--calib", str(tmp_path / "empty"), "--out", str(out)]
    )
    _assert_one_line_error(code, output, "empty")
    assert _nothing_written(out)


def test_folder_of_corrupt_images(fp32_onnx, tmp_path, caplog):
    bad = tmp_path / "bad"
    bad.mkdir()
    for i in range(8):
        (bad / f"broken{i}.jpg").write_bytes(b"not a jpeg at all")
    out = tmp_path / "out"
    code, output = _run(
        [str(fp32_onnx), "--to", "onnx", "--calib", str(bad), "--samples", "8", "--out", str(out)]
    )
    _assert_one_line_error(code, output)
    assert "broken0.jpg" in output + caplog.text  # each skipped file is named in a warning
    assert _nothing_written(out)


def test_fewer_samples_than_needed(fp32_onnx, tmp_path):
    few = tmp_path / "few"
    few.mkdir()
    rng = np.random.default_rng(0)
    for i in range(10):
        cv2.imwrite(str(few / f"img{i}.png"), rng.integers(0, 255, (40, 40, 3), dtype=np.uint8))
    out = tmp_path / "out"
    code, output = _run(
        [str(fp32_onnx), "--to", "onnx", "--calib", str(few), "--samples", "50", "--out", str(out)]
    )
    _assert_one_line_error(code, output, "10")
    assert _nothing_written(out)


@pytest.mark.parametrize(
    ("name", "content", "needle"),
    [
        ("weights.pt", b"hello", "not"),
        ("model.onnx", b"\xff\xff\xff\xff", "not"),
        ("m.tflite", b"1234TFL3xxxx", "tflite"),
    ],
)
def test_model_that_is_not_a_checkpoint_or_onnx(tmp_path, name, content, needle):
    path = tmp_path / name
    path.write_bytes(content)
    out = tmp_path / "out"
    code, output = _run([str(path), "--to", "onnx", "--calib", "shapes", "--out", str(out)])
    _assert_one_line_error(code, output, needle)
    assert _nothing_written(out)


def test_tflite_from_an_int8_onnx_is_refused(int8_onnx, tmp_path):
    # TFLite from an FP32 ONNX file is made (tests/byom/test_onnx_source.py); from INT8, not
    code, output = _run(
        [str(int8_onnx), "--to", "tflite", "--calib", "shapes", "--out", str(tmp_path / "o")]
    )
    _assert_one_line_error(code, output, "already int8", "FP32 source")
    assert not (tmp_path / "o").exists()


def test_existing_output_refused_unless_force(quantized, artifacts_dir):
    before = quantized.outputs["onnx"].read_bytes()
    code, output = _run([str(artifacts_dir / "model.pt"), "--to", "onnx", "--calib", "shapes"])
    _assert_one_line_error(code, output, "already exists", "--force")
    assert quantized.outputs["onnx"].read_bytes() == before


def test_bad_flags(fp32_onnx, tmp_path):
    code, output = _run([str(fp32_onnx), "--to", "onnx", "--samples", "2", "--out", str(tmp_path)])
    _assert_one_line_error(code, output, "--samples")
    code, output = _run([str(fp32_onnx), "--to", "onnx", "--mean", "1,2", "--out", str(tmp_path)])
    _assert_one_line_error(code, output, "--mean")


def test_help_has_example():
    out = CliRunner().invoke(main, ["quantize", "--help"]).output
    assert "Example:" in out and "--max-drop" in out


@pytest.mark.parametrize(
    "args, flag",
    [
        (["--mean", "nan,0,0"], "--mean"),
        (["--std", "0.2,inf,0.2"], "--std"),
        (["--std", "0.2,0,0.2"], "--std"),
        (["--std", "1e-300,1,1"], "--std"),  # finite, but overflows float32: was a parity failure
        (["--mean", "1e308,0,0"], "--mean"),
        (["--max-drop", "nan"], "--max-drop"),
        (["--max-drop", "inf"], "--max-drop"),
    ],
)
def test_numbers_that_are_not_finite_name_the_flag(fp32_onnx, tmp_path, args, flag):
    out = tmp_path / "out"
    code, output = _run([str(fp32_onnx), "--to", "onnx", "--out", str(out), *args])
    _assert_one_line_error(code, output, flag)
    assert _nothing_written(out)


def test_full_disk_is_one_line_not_a_decode_error(fp32_onnx, tmp_path, fsize_limited_cli):
    out = tmp_path / "out"
    r = fsize_limited_cli(
        ["quantize", str(fp32_onnx), "--to", "onnx", "--out", str(out)], 30_000, tmp_path
    )
    assert r.returncode == 2, r.stderr
    assert "Traceback" not in r.stderr and "DecodeError" not in r.stderr
    assert f"error: no space left on the device writing into '{out}'" in r.stderr
    assert not out.exists()  # nothing written, and the folder this run made is gone


def test_staging_left_by_a_killed_quantize_is_removed_by_the_next_run(fp32_onnx, tmp_path):
    import subprocess
    import sys

    out = tmp_path / "out"
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True, check=True).stdout.strip()  # fmt: skip
    stale = [out / f".edgeres-staging-quantize-{dead}-k1ll", out / ".edgeres-quantize-0ld"]
    for folder in stale:
        folder.mkdir(parents=True)
        (folder / "model_int8.onnx").write_bytes(b"half")
    code, output = _run(
        [str(fp32_onnx), "--to", "onnx", "--calib", str(tmp_path / "nope"), "--out", str(out)]
    )
    assert code == 2, output
    assert not any(folder.exists() for folder in stale)
    assert _nothing_written(out)


def test_json_stdout_holds_only_the_document_whatever_onnx_runtime_prints(fp32_onnx, tmp_path):
    import json
    import subprocess
    import sys

    args = ["quantize", str(fp32_onnx), "--to", "onnx", "--calib", "shapes", "--samples", "16"]
    args += ["--method", "entropy", "--eval-limit", "64", "--out", str(tmp_path / "q"), "--json"]
    proc = subprocess.run(
        [sys.executable, "-m", "edgeres", *args], capture_output=True, text=True, timeout=300
    )
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["outputs"]["onnx"].endswith("_int8.onnx")
    assert "entropy" in proc.stderr  # ONNX Runtime's calibrator still talks, on stderr


@pytest.mark.parametrize("case", ["zero_bytes", "nan", "structured"])
def test_hostile_calibration_npy_is_one_line(fp32_onnx, tmp_path, case):
    path = tmp_path / "calib.npy"
    if case == "zero_bytes":
        path.write_bytes(b"")
    elif case == "nan":
        np.save(path, np.full((8, 3, 32, 32), np.nan, np.float32))
    else:
        np.save(path, np.zeros((8, 3, 32, 32), dtype=[("a", "<f4"), ("b", "<i4")]))
    out = tmp_path / "out"
    args = [str(fp32_onnx), "--to", "onnx", "--calib", str(path), "--samples", "8"]
    code, output = _run([*args, "--out", str(out)])
    _assert_one_line_error(code, output, "calib.npy")
    assert "Aborted" not in output and _nothing_written(out)
