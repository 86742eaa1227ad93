"""Bring your own model: a ResNet-18 written in plain PyTorch with torchvision's names, as a
state dict, a timm-style .safetensors and a torch.export program, through convert, quantize,
predict, train --init and inspect; and every way such a file can be wrong."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from click.testing import CliRunner
from conftest import LABELS, SIZE

from edgeres.cli import main
from edgeres.errors import ModelFileError, UsageError
from edgeres.formats.source_options import SourceOptions
from edgeres.formats.torch_source import load_torch_source


def cli(*args) -> object:
    return CliRunner().invoke(main, [str(a) for a in args])


def one_line_error(res, *words: str) -> None:
    assert res.exit_code == 2, res.output
    assert res.output.startswith("error: ") and len(res.output.strip().splitlines()) == 1
    assert "Traceback" not in res.output
    for w in words:
        assert w in res.output, res.output


@pytest.mark.parametrize("name", ["sd_pth", "sd_safetensors"])
def test_state_dict_loads_into_zoo_resnet18_by_name_alone(plain, name):
    ckpt = load_torch_source(plain[name], SourceOptions(model="resnet18", img_size=SIZE))
    assert type(ckpt.model).__module__ == "edgeres.models.torchvision_layout"
    assert ckpt.model_args == {"num_classes": 4, "width": 0.125}
    x = torch.randn(2, 3, SIZE, SIZE)
    with torch.no_grad():
        torch.testing.assert_close(ckpt.model(x), plain["net"](x), rtol=0, atol=1e-5)
    assert ckpt.info.classes == ("0", "1", "2", "3")
    assert ckpt.info.spec.mean == (0.485, 0.456, 0.406)  # the zoo's ImageNet default


def test_full_width_resnets_have_torchvision_parameter_counts():
    from edgeres.models import create_model

    counts = {n: sum(p.numel() for p in create_model(n, 1000).parameters()) for n in
              ("resnet18", "resnet34", "resnet50")}  # fmt: skip
    assert counts == {"resnet18": 11_689_512, "resnet34": 21_797_672, "resnet50": 25_557_032}


def test_strict_keys_list_the_first_differences(plain, tmp_path):
    res = cli("convert", plain["sd_safetensors"], "--model", "resnet34", "--out", tmp_path / "o")
    one_line_error(res, "does not fit model resnet34", "missing layer1.2.conv1.weight", "more)")
    state = torch.load(plain["sd_pth"], weights_only=True)
    state["head.weight"] = state.pop("fc.weight")
    state["layer1.0.conv1.weight"] = state["layer1.0.conv1.weight"][:, :4]
    torch.save(state, tmp_path / "renamed.pth")
    res = cli("convert", tmp_path / "renamed.pth", "--model", "resnet18", "--out", tmp_path / "o")
    one_line_error(res, "missing fc.weight", "unexpected head.weight", "shape layer1.0.conv1")
    assert not (tmp_path / "o").exists()


@pytest.mark.parametrize(
    ("name", "words"),
    [
        ("whole_pt", ("torch.save(model)", "state_dict()", ".pt2")),
        ("ts_pt", ("TorchScript", "state_dict()", ".pt2")),
        ("sd_pth", ("state dict", "--model")),
    ],
)
def test_refused_sources_say_how_to_save_instead(plain, tmp_path, name, words):
    one_line_error(cli("convert", plain[name], "--out", tmp_path / "o"), *words)
    assert not (tmp_path / "o").exists()


def test_labels_of_the_wrong_count_are_refused(plain, tmp_path):
    res = cli("convert", plain["m_pt2"], "--labels", plain["three_txt"], "--out", tmp_path)
    one_line_error(res, "has 3 names", "4 outputs")
    assert not list(tmp_path.glob("m.*"))
    twice = tmp_path / "twice.txt"
    twice.write_text("cat\ndog\ncat\nbird\n")
    res = cli("convert", plain["m_pt2"], "--labels", twice, "--out", tmp_path)
    one_line_error(res, "line 3 repeats the class name 'cat'")
    assert not list(tmp_path.glob("m.*"))


def _user_package(tmp_path: Path, name: str, source: str, monkeypatch) -> None:
    """``tmp_path/<name>/models.py`` holding ``source``, ``tmp_path/w.pth`` the state dict of
    its ``build()`` (seed 0), and the current folder ``tmp_path``, as a user's project is."""
    pkg = tmp_path / name
    pkg.mkdir()
    (pkg / "__init__.py").write_text("")
    (pkg / "models.py").write_text(source)
    torch.manual_seed(0)
    exec(source, ns := {})
    torch.save(ns["build"]().state_dict(), tmp_path / "w.pth")
    monkeypatch.chdir(tmp_path)


def test_user_function_builds_the_model(plain, tmp_path, monkeypatch):
    _user_package(
        tmp_path,
        "my_pkg",
        "import torch\n"
        "def build():\n"
        "    return torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3), torch.nn.AdaptiveAvgPool2d(1),"
        " torch.nn.Flatten(), torch.nn.Linear(4, 3))\n"
        "def not_a_module():\n    return 42\n",
        monkeypatch,
    )
    res = cli(
        "convert", "w.pth", "--model", "my_pkg.models:build", "--img-size", 16, "--to", "onnx"
    )
    assert res.exit_code == 0, res.output
    assert "parity onnx   ok" in res.output and (tmp_path / "w.onnx").is_file()
    one_line_error(
        cli("convert", "w.pth", "--model", "no_pkg.models:build", "--out", "o"), "does not import"
    )
    one_line_error(
        cli(
            "convert",
            "w.pth",
            "--model",
            "my_pkg.models:not_a_module",
            "--img-size",
            16,
            "--out",
            "o",
        ),
        "returned a int, not a torch.nn.Module",
    )
    one_line_error(
        cli("convert", "w.pth", "--model", "my_pkg.models:build", "--out", "o"), "--img-size"
    )
    assert not (tmp_path / "o").exists()


def test_an_op_tflite_cannot_lower_still_writes_the_onnx_file(tmp_path, monkeypatch):
    """torch.linalg.det: ONNX has Det, litert-torch has no lowering and OpenVINO no conversion.
    convert --to onnx,tflite names the op in one line, exits 2 and still writes (and checks) the
    ONNX file, on ONNX Runtime since OpenVINO cannot read it; --engine openvino says why."""
    _user_package(
        tmp_path,
        "det_pkg",
        "import torch\n"
        "class Det(torch.nn.Module):\n"
        "    def __init__(self):\n"
        "        super().__init__()\n"
        "        self.conv = torch.nn.Conv2d(3, 4, 3)\n"
        "        self.fc = torch.nn.Linear(1, 3)\n"
        "    def forward(self, x):\n"
        "        m = self.conv(x).mean((2, 3)).reshape(-1, 2, 2)\n"
        "        return self.fc(torch.linalg.det(m).reshape(-1, 1))\n"
        "def build():\n    return Det()\n",
        monkeypatch,
    )
    res = cli("convert", "w.pth", "--model", "det_pkg.models:build", "--img-size", 16,
              "--to", "onnx,tflite", "--out", "o")  # fmt: skip
    one_line_error(res, "TFLite converter cannot handle op '_linalg_det'", "o/w.onnx written")
    assert sorted(p.name for p in (tmp_path / "o").iterdir()) == ["w.onnx"]
    image = tmp_path / "x.png"
    import cv2

    cv2.imwrite(str(image), np.full((16, 16, 3), 90, np.uint8))
    assert cli("predict", "o/w.onnx", image).exit_code == 0
    import importlib.util

    if importlib.util.find_spec("openvino") is not None:
        one_line_error(cli("predict", "o/w.onnx", image, "--engine", "openvino"), "Det")


def _rewrite_pt2(src: Path, dst: Path, change) -> Path:
    import zipfile

    with zipfile.ZipFile(src) as zin, zipfile.ZipFile(dst, "w") as zout:
        for item in zin.infolist():
            data = change(item.filename, zin.read(item))
            if data is not None:
                zout.writestr(item, data)
        extra = change(None, None)
        if extra:
            zout.writestr(*extra)
    return dst


class _Opens:
    """A pickle that creates a file when loaded: proof that code ran."""

    def __init__(self, path: str) -> None:
        self.path = path

    def __reduce__(self):
        return (open, (self.path, "w"))


def test_pt2_that_would_run_code_is_refused_before_loading(plain, tmp_path):
    import pickle

    marker = tmp_path / "ran"
    evil = pickle.dumps(_Opens(str(marker)))
    sample = _rewrite_pt2(plain["m_pt2"], tmp_path / "a.pt2",
        lambda n, b: (evil if n.endswith("sample_inputs/model.pt") else b) if n else None)  # fmt: skip
    opaque = _rewrite_pt2(plain["m_pt2"], tmp_path / "b.pt2",
        lambda n, b: b if n else ("m/data/constants/opaque_obj_0", evil))  # fmt: skip
    target = _rewrite_pt2(plain["m_pt2"], tmp_path / "c.pt2", lambda n, b: b.replace(
        b'"torch.ops.aten.relu.default"', b'"torch.os.system"') if n else None)  # fmt: skip
    hidden = _rewrite_pt2(plain["m_pt2"], tmp_path / "e.pt2", lambda n, b: b.replace(
        b'"target": "torch.ops.aten.relu.default"', b'"t\\u0061rget": "torch.os.system"')
        if n else None)  # fmt: skip
    for path, words in ((sample, "pickle that would run code"), (opaque, "opaque_obj_0"),
                        (target, "torch.os.system"), (hidden, "torch.os.system")):  # fmt: skip
        one_line_error(cli("convert", path, "--out", tmp_path / "o"), "refused", words)
    assert not marker.exists()
    with pytest.raises(ModelFileError, match="shape expression"):
        from edgeres.formats.program_load import screen_archive

        expr = b'"expr_str": "__import__(\'os\').getpid()"'
        bad = _rewrite_pt2(plain["m_pt2"], tmp_path / "d.pt2",
            lambda n, b: b.replace(b'"outputs": []', b'"outputs": [], ' + expr, 1) if n else None)  # fmt: skip
        screen_archive(bad, bad.read_bytes())


def _evil_weight_archive(src: Path, dst: Path, marker: Path, order: str) -> Path:
    """The same archive plus a second copy of the weights config (marking weight_0 a pickle) and
    of weight_0 (a pickle that creates ``marker``): zip readers disagree on which copy is read."""
    import pickle
    import zipfile

    evil = pickle.dumps(_Opens(str(marker)))
    with zipfile.ZipFile(src) as zin:
        items = [(i.filename, zin.read(i)) for i in zin.infolist()]
    config = next(n for n, _ in items if n.endswith("_weights_config.json"))
    weight = config.rpartition("/")[0] + "/weight_0"
    body = dict(items)[config]
    twins = [(config, body.replace(b'"use_pickle": false', b'"use_pickle": true', 1)),
             (weight, evil)]  # fmt: skip
    if order == "case":
        twins = [(n.upper() if n == weight else n, b) for n, b in twins[1:]]
    with zipfile.ZipFile(dst, "w") as zout:
        for name, data in twins + items if order == "first" else items + twins:
            zout.writestr(name, data)
    return dst


@pytest.mark.parametrize("order", ["first", "last", "case"])
def test_pt2_with_two_copies_of_an_entry_is_refused(plain, tmp_path, order):
    import warnings

    marker = tmp_path / "ran"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # zipfile warns about the duplicate name it writes
        bad = _evil_weight_archive(plain["m_pt2"], tmp_path / "x.pt2", marker, order)
    for command in ("inspect", "convert"):
        one_line_error(cli(command, bad, "--out", tmp_path / "o")
                       if command == "convert" else cli(command, bad), "refused", "two entries")  # fmt: skip
    assert not marker.exists()


def test_pt2_pickled_weights_are_screened_and_torch_reads_only_screened_bytes(plain, tmp_path):
    import io
    import pickle
    import zipfile

    from edgeres.formats.program_load import screen_archive

    marker = tmp_path / "ran"
    evil = pickle.dumps(_Opens(str(marker)))
    flagged = _rewrite_pt2(plain["m_pt2"], tmp_path / "p.pt2", lambda n, b: (
        evil if n.endswith("/weight_0") else b.replace(b'"use_pickle": false', b'"use_pickle": true', 1)
        if n.endswith("_weights_config.json") else b) if n else None)  # fmt: skip
    one_line_error(cli("convert", flagged, "--out", tmp_path / "o"), "weight_0", "run code")
    two_tops = _rewrite_pt2(plain["m_pt2"], tmp_path / "t.pt2",
        lambda n, b: b if n else ("other/extra/note", b"x"))  # fmt: skip
    one_line_error(cli("inspect", two_tops), "more than one top folder")
    twice = _rewrite_pt2(plain["m_pt2"], tmp_path / "k.pt2", lambda n, b: b.replace(
        b'{"config": {', b'{"config": {}, "config": {', 1)
        if n and n.endswith("_weights_config.json") else b if n else None)  # fmt: skip
    one_line_error(cli("inspect", twice), "not valid JSON")
    assert not marker.exists()
    original = plain["m_pt2"].read_bytes()
    screened = screen_archive(plain["m_pt2"], original)
    with zipfile.ZipFile(io.BytesIO(original)) as a, zipfile.ZipFile(io.BytesIO(screened)) as b:
        assert sorted(n.partition("/")[2] for n in a.namelist()) == sorted(
            n.partition("/")[2] for n in b.namelist()
        )
        assert all(
            b.read(n) == a.read(m)
            for n, m in zip(sorted(b.namelist()), sorted(a.namelist()), strict=True)
        )
    assert screened != original  # rebuilt, not passed through


def test_pt2_with_a_free_image_size_is_fixed_or_refused(tmp_path):
    net = torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3), torch.nn.AdaptiveAvgPool2d(1),
                              torch.nn.Flatten(), torch.nn.Linear(4, 2)).eval()  # fmt: skip
    side = torch.export.Dim("side", min=8, max=64)
    ep = torch.export.export(net, (torch.randn(2, 3, 16, 16),),
                             dynamic_shapes=({0: torch.export.Dim("b", max=8), 2: side, 3: side},))  # fmt: skip
    torch.export.save(ep, str(tmp_path / "free.pt2"))
    one_line_error(cli("convert", tmp_path / "free.pt2", "--to", "onnx"), "free", "--img-size")
    ckpt = load_torch_source(tmp_path / "free.pt2", SourceOptions(img_size=24))
    assert ckpt.info.spec.size == (24, 24) and ckpt.info.extra["dynamic"] == [
        "batch",
        "height",
        "width",
    ]
    with pytest.raises(UsageError, match="does not match"):
        torch.export.save(
            torch.export.export(net, (torch.randn(1, 3, 16, 16),)), str(tmp_path / "f.pt2")
        )
        load_torch_source(tmp_path / "f.pt2", SourceOptions(img_size=24))


@pytest.mark.slow
def test_pt2_converts_quantizes_and_predicts_with_label_names(plain, tmp_path):
    import shutil

    out = tmp_path / "out"
    out.mkdir()
    program = Path(shutil.copy(plain["m_pt2"], out / "m.pt2"))  # FP32 files beside it: reused
    res = cli("convert", program, "--labels", plain["labels_txt"],
              "--mean", "0.485,0.456,0.406", "--std", "0.229,0.224,0.225", "--json")  # fmt: skip
    assert res.exit_code == 0, res.output
    report = json.loads(res.stdout)
    assert report["passed"] and {p["format"] for p in report["parity"]} == {"onnx", "tflite"}
    res = cli("quantize", program, "--labels", plain["labels_txt"], "--samples", 8,
              "--mean", "0.485,0.456,0.406", "--std", "0.229,0.224,0.225", "--json")  # fmt: skip
    assert res.exit_code == 0, res.output
    q = json.loads(res.stdout)
    assert set(q["outputs"]) == {"onnx", "tflite"}
    assert q["report"]["formats"]["tflite"]["integer"]["full_integer"]
    image = np.random.default_rng(0).integers(0, 255, (40, 40, 3), dtype=np.uint8)
    import cv2

    cv2.imwrite(str(tmp_path / "img.png"), image)
    for name in ("m.onnx", "m.tflite", "m_int8.onnx", "m_int8.tflite"):
        res = cli("predict", out / name, tmp_path / "img.png", "--topk", 4, "--json")
        assert res.exit_code == 0, res.output
        assert set(LABELS) <= set(res.output.split('"')), res.output
    res = cli("inspect", out / "m_int8.tflite", "--json")
    facts = json.loads(res.stdout)
    assert facts["classes"] == list(LABELS) and facts["full_integer"] is True
    assert facts["provenance"]["source"] == "m.pt2"


def test_pt2_runs_on_the_pytorch_engine(plain, tmp_path):
    from edgeres import runtime

    backend = runtime.load(plain["m_pt2"])
    x = np.random.default_rng(0).standard_normal((3, 3, SIZE, SIZE)).astype(np.float32)
    with torch.no_grad():
        want = plain["net"](torch.from_numpy(x)).numpy()
    np.testing.assert_allclose(backend.infer(x), want, atol=1e-5)  # batch 3 of a batch-1 program


@pytest.mark.parametrize("name", ["sd_pth", "sd_safetensors", "m_pt2"])
def test_inspect_pytorch_sources(plain, name):
    res = cli("inspect", plain[name], "--json")
    assert res.exit_code == 0, res.output
    facts = json.loads(res.output)
    params = sum(p.numel() for p in plain["net"].parameters())
    assert facts["parameters"] == params  # learnable weights; BatchNorm statistics not counted
    if name == "m_pt2":
        assert facts["input_shape"] == [1, 3, SIZE, SIZE] and facts["macs"] > 0
        assert facts["operators"]["conv2d.default"] == 20
    else:
        assert "pass --model resnet18" in facts["architecture"]
    res = cli("inspect", plain["sd_pth"], "--model", "resnet18", "--img-size", SIZE,
              "--labels", plain["labels_txt"], "--json")  # fmt: skip
    facts = json.loads(res.output)
    assert facts["classes"] == list(LABELS) and facts["input"]["height"] == SIZE


def test_inspect_exported_files_and_checkpoints(artifacts_dir, int8_tflite, int8_onnx, third_party):
    facts = {p: json.loads(cli("inspect", p, "--json").output)
             for p in (artifacts_dir / "model.pt", int8_onnx, int8_tflite, third_party["tflite"])}  # fmt: skip
    ckpt, onnx8, tfl8, bare = facts.values()
    assert ckpt["kind"] == "edgeres checkpoint" and ckpt["macs"] > 0
    assert onnx8["precision"] == tfl8["precision"] == "int8" and tfl8["full_integer"] is True
    assert onnx8["operators"]["QuantizeLinear"] > 0 and tfl8["operators"]["CONV_2D"] > 0
    # A TFLite file fixes its input size: no "pass --img-size" for it.
    assert (
        bare["input"].startswith("none: the size is fixed by the file at")
        and bare["classes"] is None
    )
    assert "--img-size" not in bare["input"] and "--mean/--std" in bare["input"]
    assert "source_sha256" in tfl8["provenance"]


def _folder(root: Path, classes=("left", "right"), per_class=12) -> Path:
    import cv2

    rng = np.random.default_rng(0)
    for i, name in enumerate(classes):
        (root / name).mkdir(parents=True)
        for j in range(per_class):
            img = rng.integers(0, 60, (SIZE, SIZE, 3), dtype=np.uint8)
            img[:, (16 * i) : (16 * i + 16)] += 150
            cv2.imwrite(str(root / name / f"{j}.png"), img)
    return root


def test_train_init_from_state_dicts(plain, tmp_path):
    from edgeres.train import TrainConfig, train
    from edgeres.train.checkpoint import load_checkpoint

    data = _folder(tmp_path / "photos")
    base = dict(model="resnet18", data=str(data), img_size=SIZE, epochs=1, batch_size=8,
                threads=1, quiet=True)  # fmt: skip
    frozen = train(TrainConfig(out=tmp_path / "frozen", init=plain["sd_safetensors"],
                               freeze_backbone=True, **base))  # fmt: skip
    ckpt = load_checkpoint(frozen.checkpoint)
    assert ckpt.model_name == "resnet18" and ckpt.info.classes == ("left", "right")
    assert frozen.metrics["init"]["new_head"] and frozen.metrics["init"]["freeze_backbone"]
    want = plain["net"].state_dict()
    got = ckpt.model.state_dict()
    for key in ("conv1.weight", "layer4.1.bn2.running_var", "layer2.0.downsample.0.weight"):
        torch.testing.assert_close(got[key], want[key])  # the backbone, BN statistics included
    assert got["fc.weight"].shape == (2, 64)
    full = train(TrainConfig(out=tmp_path / "full", init=plain["sd_pth"], **base))
    moved = load_checkpoint(full.checkpoint).model.state_dict()["conv1.weight"]
    assert not torch.equal(moved, want["conv1.weight"])


def test_train_init_refusals(plain, tmp_path):
    data = _folder(tmp_path / "photos")
    args = ("train", "--data", data, "--img-size", SIZE, "--epochs", 1, "--out")
    one_line_error(cli(*args, tmp_path / "a", "--init", plain["sd_pth"]), "--model")
    one_line_error(cli(*args, tmp_path / "b", "--init", plain["sd_pth"], "--model", "resnet34"),
                   "does not fit model resnet34")  # fmt: skip
    one_line_error(cli(*args, tmp_path / "c", "--init", plain["m_pt2"], "--model", "resnet18"),
                   "cannot be trained")  # fmt: skip
    one_line_error(
        cli(*args, tmp_path / "d", "--freeze-backbone"), "--freeze-backbone needs --init"
    )


def test_finetune_schedule_is_shorter_by_default():
    from edgeres.train.schedule import plan_schedule

    scratch = plan_schedule(500, 10, 64, "auto")
    tune = plan_schedule(500, 10, 64, "auto", finetune=True)
    assert tune.total_steps < scratch.total_steps and tune.finetune
    assert "fine-tuning" in tune.describe()
    assert plan_schedule(500, 10, 64, 7, finetune=True).epochs == 7  # the user's epochs stand


def test_third_party_onnx_gets_names_and_preprocessing_embedded(third_party, tmp_path):
    from edgeres.formats import read_metadata

    names = [f"class {i}" for i in range(10)]
    (tmp_path / "names.txt").write_text("\n".join(names) + "\n")
    res = cli("quantize", third_party["onnx"], "--to", "onnx", "--calib", "shapes", "--samples", 8,
              "--labels", tmp_path / "names.txt", "--mean", "0.5,0.5,0.5", "--std", "0.25,0.25,0.25",
              "--channel-order", "bgr", "--out", tmp_path, "--json")  # fmt: skip
    assert res.exit_code == 0, res.output
    info = read_metadata(tmp_path / "third_onnx_int8.onnx")
    assert list(info.classes) == names and info.precision == "int8"
    assert info.spec.mean == (0.5, 0.5, 0.5) and info.spec.channel_order == "BGR"
    (tmp_path / "nine.txt").write_text("\n".join(names[:9]))
    res = cli("quantize", third_party["onnx"], "--to", "onnx", "--labels", tmp_path / "nine.txt",
              "--out", tmp_path / "o")  # fmt: skip
    one_line_error(res, "has 9 names", "10 outputs")


def test_user_code_that_prints_or_exits_cannot_corrupt_output(tmp_path, monkeypatch):
    """A pkg:fn that prints corrupted inspect --json; a sys.exit(3) in it exited 3 silently."""
    _user_package(
        tmp_path,
        "loud_pkg",
        "import sys, torch\nprint('importing loud_pkg')\n"
        "def build():\n    print('building')\n"
        "    return torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3), torch.nn.AdaptiveAvgPool2d(1),"
        " torch.nn.Flatten(), torch.nn.Linear(4, 3))\n"
        "def quits():\n    sys.exit(3)\n",
        monkeypatch,
    )
    res = cli("inspect", "w.pth", "--model", "loud_pkg.models:build", "--img-size", 16, "--json")
    assert res.exit_code == 0, res.output
    assert json.loads(res.stdout)["parameters"] > 0 and "building" in res.stderr
    one_line_error(cli("inspect", "w.pth", "--model", "loud_pkg.models:quits", "--img-size", 16),
                   "quits() failed", "SystemExit")  # fmt: skip
