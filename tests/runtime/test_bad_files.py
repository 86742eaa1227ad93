"""Bad model files end in one clear EdgeresError and never crash the process."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from edgeres import runtime
from edgeres.errors import EdgeresError, ModelFileError

WORKER = Path(__file__).with_name("corrupt_worker.py")
CASES = 150


@pytest.mark.slow
@pytest.mark.parametrize("key", ["onnx", "onnx_int8", "tflite", "tflite_int8"])
def test_random_corruption_gives_clean_errors(key, model_files, tmp_path):
    proc = subprocess.run(
        [sys.executable, str(WORKER), str(model_files[key]), "1234", str(CASES), str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, (
        f"the process died (exit {proc.returncode}); last file in {tmp_path}:\n{proc.stderr[-2000:]}"
    )
    report = json.loads(proc.stdout.strip().splitlines()[-1])
    assert report["counts"]["unexpected"] == 0, report["unexpected"]
    assert report["counts"]["error"] > CASES // 4  # the corruption really hit something


@pytest.mark.parametrize("cut", [1, 7, 8, 64, 0.5])
@pytest.mark.parametrize("key", ["onnx", "tflite"])
def test_truncated_files(key, cut, model_files, tmp_path):
    data = model_files[key].read_bytes()
    n = int(len(data) * cut) if isinstance(cut, float) else cut
    path = tmp_path / f"cut{model_files[key].suffix}"
    path.write_bytes(data[:n])
    with pytest.raises(ModelFileError, match="cut"):
        runtime.load(path)


def test_wrong_kind_of_file(model_files, tmp_path):
    fake = tmp_path / "really_onnx.tflite"
    shutil.copy(model_files["onnx"], fake)
    with pytest.raises(ModelFileError, match="looks like onnx"):
        runtime.load(fake)
    text = tmp_path / "notes.pt"
    text.write_text("this is not a checkpoint\n")
    with pytest.raises(ModelFileError):
        runtime.load(text)
    fake_onnx = tmp_path / "really_tflite.onnx"
    shutil.copy(model_files["tflite"], fake_onnx)
    with pytest.raises(ModelFileError):
        runtime.load(fake_onnx)
    # A text file is not "like" any format: no misleading rename hint.
    text_tflite = tmp_path / "notes.tflite"
    text_tflite.write_text("hello\n")
    with pytest.raises(ModelFileError, match=r"not a valid tflite file$"):
        runtime.load(text_tflite)
    empty = tmp_path / "empty.onnx"
    empty.write_bytes(b"")
    with pytest.raises(ModelFileError, match="empty"):
        runtime.load(empty)
    with pytest.raises(ModelFileError, match="does not exist"):
        runtime.load(tmp_path / "missing.tflite")
    with pytest.raises(ModelFileError, match="suffix"):
        runtime.load(tmp_path / "model.h5")


def _external_model(tmp_path: Path, location: str, **extra: str) -> Path:
    import numpy as np
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    weight = numpy_helper.from_array(np.ones((10, 3 * 8 * 8), np.float32), "w")
    weight.ClearField("raw_data")
    weight.data_location = TensorProto.EXTERNAL
    weight.external_data.add(key="location", value=location)
    for key, value in extra.items():
        weight.external_data.add(key=key, value=value)
    graph = helper.make_graph(
        [
            helper.make_node("Flatten", ["x"], ["f"]),
            helper.make_node("Gemm", ["f", "w"], ["y"], transB=1),
        ],
        "g",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3, 8, 8])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 10])],
        [weight],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    path = tmp_path / "models" / "ext.onnx"
    path.parent.mkdir(exist_ok=True)
    onnx.save(model, str(path))
    return path


@pytest.mark.parametrize("location", ["../secret.bin", "/etc/passwd", "sub/../../secret.bin"])
def test_external_data_outside_the_folder_is_refused(location, tmp_path):
    (tmp_path / "secret.bin").write_bytes(b"\0" * 4 * 10 * 192)
    path = _external_model(tmp_path, location)
    with pytest.raises(ModelFileError, match="outside its folder"):
        runtime.load(path)


def test_external_data_symlinked_out_of_the_folder_is_refused(tmp_path):
    (tmp_path / "secret.bin").write_bytes(b"\0" * 4 * 10 * 192)
    path = _external_model(tmp_path, "ext.onnx.data")
    (path.parent / "ext.onnx.data").symlink_to(tmp_path / "secret.bin")
    with pytest.raises(ModelFileError, match="outside its folder"):
        runtime.load(path)


@pytest.mark.parametrize(
    ("extra", "needle"),
    [
        ({"offset": "-8"}, "not a whole number"),
        ({"length": "-1"}, "not a whole number"),
        ({"offset": "1e3"}, "not a whole number"),
        ({"offset": "999999999"}, "reads bytes 999999999"),
        ({"offset": "4", "length": "7680"}, "holds 7680"),
    ],
)
def test_external_data_range_outside_the_file_is_refused(extra, needle, tmp_path):
    import numpy as np

    path = _external_model(tmp_path, "ext.onnx.data", **extra)
    np.ones((10, 192), np.float32).tofile(path.parent / "ext.onnx.data")
    with pytest.raises(ModelFileError, match=needle):
        runtime.load(path)


def test_external_data_inside_the_folder_loads(tmp_path):
    import numpy as np

    path = _external_model(tmp_path, "ext.onnx.data")
    np.ones((10, 192), np.float32).tofile(path.parent / "ext.onnx.data")
    with pytest.warns(UserWarning, match="no edgeres metadata"):
        backend = runtime.load(path)
    assert backend.infer(np.ones((1, 3, 8, 8), np.float32))[0, 0] == pytest.approx(192.0)
    (path.parent / "ext.onnx.data").unlink()
    with pytest.raises(ModelFileError, match="missing"):
        runtime.load(path)


def test_every_failure_is_an_edgeres_error(tmp_path):
    path = tmp_path / "junk.onnx"
    path.write_bytes(b"\x08\x07" + b"\xff" * 100)
    with pytest.raises(EdgeresError):
        runtime.load(path)


def test_predict_refuses_image_bombs_from_the_header(model_files, png_bomb, large_png, tmp_path):
    """A real process: the bombs end in one error line (no traceback, no 5 GB decode)."""
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2])}
    for bomb, dims in ((png_bomb, "60000x60000"), (large_png, "30000x30000")):
        proc = subprocess.run(
            [sys.executable, "-m", "edgeres", "predict", str(model_files["onnx"]), str(bomb)],
            capture_output=True, text=True, timeout=120, env=env,
        )  # fmt: skip
        assert proc.returncode == 2, proc.stderr
        lines = proc.stderr.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("error: image"), proc.stderr
        assert f"declares {dims} pixels" in lines[0] and "--max-image-pixels" in lines[0]


def test_predict_max_image_pixels_flag(model_files, sample_images, tmp_path):
    from click.testing import CliRunner

    from edgeres.cli import main
    from edgeres.data.common import DEFAULT_MAX_IMAGE_PIXELS, max_image_pixels, set_max_image_pixels

    args = ["predict", str(model_files["onnx"]), str(sample_images[0])]
    try:
        res = CliRunner().invoke(main, [*args[:1], "--max-image-pixels", "10", *args[1:]])
        assert res.exit_code == 2 and "over the limit of 10 pixels" in res.output
        res = CliRunner().invoke(main, [*args[:1], "--max-image-pixels", "0", *args[1:]])
        assert res.exit_code == 2 and "--max-image-pixels" in res.output
    finally:
        set_max_image_pixels(DEFAULT_MAX_IMAGE_PIXELS)
    assert max_image_pixels() == DEFAULT_MAX_IMAGE_PIXELS
    assert CliRunner().invoke(main, args).exit_code == 0


def test_file_names_are_escaped_in_errors(model_files, tmp_path):
    from click.testing import CliRunner

    from edgeres.cli import main

    evil = tmp_path / "evil\n\x1b]0;pwned\x07.png"
    evil.write_bytes(b"not an image")
    res = CliRunner().invoke(main, ["predict", str(model_files["onnx"]), str(evil)])
    assert res.exit_code == 2
    assert "\x1b" not in res.output and "\x07" not in res.output
    assert "evil\\n\\x1b]0;pwned\\x07.png" in res.output
    assert len(res.output.strip().splitlines()) == 1


def _onnx_with_input(tmp_path: Path, dims) -> Path:
    import onnx
    from onnx import TensorProto, helper

    graph = helper.make_graph(
        [helper.make_node("Relu", ["x"], ["y"])],
        "g",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, dims)],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, dims)],
    )
    path = tmp_path / "huge_input.onnx"
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), str(path))
    return path


def test_onnx_declaring_a_huge_input_is_refused_before_loading(tmp_path, model_files):
    path = _onnx_with_input(tmp_path, [1, 3, 100000, 100000])
    with pytest.raises(ModelFileError, match=r"declares input 'x' of shape 1x3x100000x100000"):
        runtime.load(path)
    from click.testing import CliRunner

    from edgeres.cli import main

    res = CliRunner().invoke(main, ["benchmark", str(path)])
    assert res.exit_code == 2 and "over the limit" in res.output
    # A named (dynamic) batch counts as one; real sizes load as before.
    with pytest.warns(UserWarning, match="no edgeres metadata"):
        runtime.load(_onnx_with_input(tmp_path, ["batch", 3, 32, 32])).close()


def test_tflite_declaring_a_huge_input_is_refused(model_files, tmp_path):
    import struct

    data = model_files["tflite"].read_bytes()
    old = struct.pack("<5i", 4, 1, 32, 32, 3)  # the NHWC input's shape vector
    assert old in data
    crafted = tmp_path / "huge_input.tflite"
    crafted.write_bytes(data.replace(old, struct.pack("<5i", 4, 1, 6000, 6000, 3), 1))
    with pytest.raises(ModelFileError, match=r"declares an input of shape \(1, 6000, 6000, 3\)"):
        runtime.load(crafted)
    crafted.write_bytes(data.replace(old, struct.pack("<5i", 4, 1, 2**30, 2**30, 3), 1))
    with pytest.raises(ModelFileError, match="looks crafted"):
        runtime.load(crafted)


def test_metadata_declaring_absurd_sizes_is_refused():
    from edgeres.errors import UsageError
    from edgeres.spec import InputSpec, ModelInfo

    spec = InputSpec(height=32, width=32).to_dict()
    with pytest.raises(UsageError, match="over the limit of 100000"):
        ModelInfo.from_dict({"name": "x", "classes": ["c"] * 1_000_001, "spec": spec})
    with pytest.raises(UsageError, match="longer than 1000"):
        ModelInfo.from_dict({"name": "x", "classes": ["c" * 5000], "spec": spec})
    with pytest.raises(UsageError, match="over the limit of 16384"):
        InputSpec(height=1_000_000, width=32)


def _crafted_checkpoint(tiny_ckpt, tmp_path, **changes) -> Path:
    import torch

    payload = torch.load(tiny_ckpt, map_location="cpu", weights_only=True)
    payload.update(changes)
    path = tmp_path / "crafted.pt"
    torch.save(payload, path)
    return path


def test_checkpoint_declaring_a_huge_network_is_refused(tiny_ckpt, tmp_path):
    payload_args = {"num_classes": 10**9}
    path = _crafted_checkpoint(tiny_ckpt, tmp_path, model_args=payload_args)
    with pytest.raises(ModelFileError, match="num_classes must be 1 to 100000"):
        runtime.load(path)
    path = _crafted_checkpoint(
        tiny_ckpt, tmp_path, model_name="resnet18s", model_args={"num_classes": 10**5, "width": 4.0}
    )  # 382 M parameters: refused from a meta-device build, before 1.5 GB is allocated
    with pytest.raises(ModelFileError, match="parameters, over the limit"):
        runtime.load(path)


def test_checkpoint_zip_declaring_more_than_it_holds_is_refused(tiny_ckpt, tmp_path):
    import zipfile

    bomb = tmp_path / "bomb.pt"
    with zipfile.ZipFile(tiny_ckpt) as src, zipfile.ZipFile(bomb, "w", zipfile.ZIP_DEFLATED) as z:
        for info in src.infolist():
            z.writestr(info.filename, src.read(info.filename))
        z.writestr("archive/data/999", bytes(200_000_000))  # 200 MB of zeros, 200 kB packed
    with pytest.raises(ModelFileError, match="declares .* bytes of content"):
        runtime.load(bomb)


def test_class_names_from_a_model_file_reach_the_terminal_escaped(
    fp32_onnx, sample_images, tmp_path
):
    import dataclasses

    import onnx
    from click.testing import CliRunner

    from edgeres.cli import main
    from edgeres.formats import read_metadata
    from edgeres.formats.onnx import embed_onnx

    info = read_metadata(fp32_onnx)
    hostile = tuple(f"\x1b]0;pwned\x07{c}\nfake line" for c in info.classes)
    proto = embed_onnx(onnx.load(str(fp32_onnx)), dataclasses.replace(info, classes=hostile))
    model = tmp_path / "hostile.onnx"
    onnx.save(proto, str(model))
    result = CliRunner().invoke(main, ["predict", str(model), str(sample_images[0]), "--topk", "3"])
    assert result.exit_code == 0, result.output
    assert "\x1b" not in result.stdout and "\x07" not in result.stdout
    assert result.stdout.count("\n") == 1 and "\\x1b]0;pwned\\x07" in result.stdout


def test_absurd_threads_are_capped_at_the_cores(model_files, sample_images, tmp_path):
    from click.testing import CliRunner

    from edgeres.cli import main
    from edgeres.profiles.facts import this_machine

    cores = this_machine().cores
    with pytest.warns(UserWarning, match=f"capped at the {cores} cores"):
        backend = runtime.load(model_files["onnx"], engine="onnxruntime", threads=100_000_000)
    with backend:
        assert backend.session.get_session_options().intra_op_num_threads == cores
    prof = tmp_path / "many.yaml"
    prof.write_text(
        (Path(__file__).parents[2] / "devices" / "raspberry-pi-4.yaml")
        .read_text()
        .replace("threads: 4", "threads: 100000000")
    )
    assert "threads: 100000000" in prof.read_text()
    args = ["predict", str(model_files["onnx"]), str(sample_images[0]), "--profile", str(prof)]
    res = CliRunner().invoke(main, args)
    assert res.exit_code == 0 and "capped at the" in res.stderr, res.output


def _onnx_with_metadata(fp32_onnx, tmp_path: Path, text) -> Path:
    """A copy of ``fp32_onnx`` whose edgeres metadata entry is ``text`` (or ``text(doc)``)."""
    import onnx

    from edgeres.formats.onnx import METADATA_KEY

    proto = onnx.load(str(fp32_onnx))
    entry = next(p for p in proto.metadata_props if p.key == METADATA_KEY)
    entry.value = text(json.loads(entry.value)) if callable(text) else text
    path = tmp_path / "crafted.onnx"
    onnx.save(proto, str(path))
    return path


@pytest.mark.parametrize(
    ("key", "value"),
    [("std", [float("nan"), 1, 1]), ("mean", [0, float("inf"), 0]), ("scale", float("nan")),
     ("std", [1e-300, 1, 1]), ("mean", [1e308, 0, 0])],
)  # fmt: skip
def test_metadata_preprocessing_must_be_finite_and_in_range(
    key, value, fp32_onnx, sample_images, tmp_path
):
    """NaN passed ``std <= 0`` and gave confident wrong scores (exit 0) or ``nan%``."""
    from click.testing import CliRunner

    from edgeres.cli import main

    def crafted(doc):
        doc["spec"][key] = value
        return json.dumps(doc)  # writes bare NaN / Infinity, as a hostile file may

    model = _onnx_with_metadata(fp32_onnx, tmp_path, crafted)
    res = CliRunner().invoke(main, ["predict", str(model), str(sample_images[0]), "--json"])
    assert res.exit_code == 2 and f"spec {key} must" in res.output, res.output
    assert "Traceback" not in res.output


def test_metadata_nested_too_deep_is_one_line(fp32_onnx, sample_images, tmp_path):
    model = _onnx_with_metadata(fp32_onnx, tmp_path, "[" * 100_000 + "]" * 100_000)
    with pytest.raises(ModelFileError, match="nested too deeply"):
        runtime.load(model)


def test_json_documents_never_hold_nan_or_infinity():
    from edgeres.text import json_text

    doc = {"score": float("nan"), "runs": [float("inf"), -float("inf"), 0.5], "n": 3}
    assert json.loads(json_text(doc)) == {"score": None, "runs": [None, None, 0.5], "n": 3}
    assert "NaN" not in json_text(doc, indent=2) and "Infinity" not in json_text(doc)


@pytest.mark.parametrize(
    ("location", "words"),
    [("../secret.bin", "outside its folder"), ("/etc/passwd", "outside its folder"),
     ("missing.bin", "missing.bin")],
)  # fmt: skip
def test_inspect_refuses_external_data_as_predict_does(location, words, tmp_path):
    from click.testing import CliRunner

    from edgeres.cli import main

    (tmp_path / "secret.bin").write_bytes(b"\0" * 4 * 10 * 192)
    path = _external_model(tmp_path, location)
    for command in ("inspect", "predict"):
        args = [command, str(path)] + (
            [str(tmp_path / "secret.bin")] if command == "predict" else []
        )
        res = CliRunner().invoke(main, args)
        assert res.exit_code == 2 and words in res.output, res.output
        assert len(res.output.strip().splitlines()) == 1 and "Traceback" not in res.output
