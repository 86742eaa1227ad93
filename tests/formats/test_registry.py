"""The format table: a new format is one module plus one row, seen by convert and runtime.load.

The dummy format here is an ONNX graph under another suffix, run by its own backend class, so the
real exporter, parity check and engine run end to end without any edit outside this file.
"""

from __future__ import annotations

import dataclasses

import pytest
from click.testing import CliRunner

from edgeres import formats, runtime
from edgeres.cli import main
from edgeres.errors import EngineUnavailable, MissingDependencyError, UsageError
from edgeres.formats import FORMATS, Engine, Format
from edgeres.formats import onnx as onnx_format
from edgeres.runtime.onnx import OnnxBackend


class CopyBackend(OnnxBackend):
    """An engine for the dummy format (ONNX Runtime underneath)."""

    format = "onnxcopy"


COPY_ENGINE = Engine(
    name="copy-engine",
    backend=f"{__name__}:CopyBackend",
    modules=("onnxruntime",),
    install="pip install copy-engine",
)
DUMMY = Format(
    name="onnxcopy",
    suffixes=(".onnxc",),
    layout="NCHW",
    engines=(COPY_ENGINE,),
    magic=onnx_format.magic,
    read_metadata=onnx_format.read_metadata,
    count_macs=onnx_format.count_macs,
    exporter="edgeres.convert.onnx:export_onnx",
    export_options=("opset",),
)


@pytest.fixture
def dummy_format(monkeypatch):
    monkeypatch.setitem(FORMATS, DUMMY.name, DUMMY)
    return DUMMY


def test_registered_format_is_exported_checked_and_loaded(dummy_format, tiny_ckpt, tmp_path):
    assert "onnxcopy" in formats.export_formats()
    assert formats.parse_format_list("onnx,onnxcopy") == ("onnx", "onnxcopy")
    res = CliRunner().invoke(
        main, ["convert", str(tiny_ckpt), "--to", "onnxcopy", "--out", str(tmp_path), "--json"]
    )
    assert res.exit_code == 0, res.output
    path = tmp_path / f"{tiny_ckpt.stem}.onnxc"
    assert path.is_file()
    assert '"passed": true' in res.output  # the real parity check ran through CopyBackend
    with runtime.load(path) as backend:
        assert isinstance(backend, CopyBackend) and backend.engine == "copy-engine"
        assert backend.info.name == "test_resnet"
    with pytest.raises(UsageError, match="cannot run onnxcopy files"):
        runtime.load(path, engine="onnxruntime")


def test_register_refuses_a_taken_name():
    with pytest.raises(UsageError, match="already registered"):
        formats.register(FORMATS["onnx"])


def test_unknown_engine_offers_close_matches(fp32_onnx):
    with pytest.raises(UsageError, match="did you mean onnxruntime"):
        runtime.load(fp32_onnx, engine="onnxruntim")


def test_missing_engine_names_its_install_line(monkeypatch, fp32_onnx):
    absent = dataclasses.replace(COPY_ENGINE, name="absent", modules=("no_such_engine_module",))
    monkeypatch.setitem(FORMATS, "onnx", dataclasses.replace(FORMATS["onnx"], engines=(absent,)))
    with pytest.raises(MissingDependencyError, match="pip install copy-engine"):
        runtime.load(fp32_onnx, engine="absent")
    with pytest.raises(MissingDependencyError, match="needs an engine"):
        runtime.load(fp32_onnx)


def test_an_engine_that_cannot_start_falls_back_to_the_next(monkeypatch, fp32_onnx):
    broken = dataclasses.replace(COPY_ENGINE, name="broken", backend=f"{__name__}:BrokenBackend")
    ort = FORMATS["onnx"].engines[0]
    monkeypatch.setitem(
        FORMATS, "onnx", dataclasses.replace(FORMATS["onnx"], engines=(broken, ort))
    )
    with runtime.load(fp32_onnx) as backend:
        assert backend.engine == "onnxruntime"
    with pytest.raises(MissingDependencyError, match="cannot start"):
        runtime.load(fp32_onnx, engine="broken")


class BrokenBackend(OnnxBackend):
    def __init__(self, path, **kw):
        raise EngineUnavailable("the broken engine cannot start here")
