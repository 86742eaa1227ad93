"""A format whose model is two files (``m.onnxp`` + ``m.bin``, as ncnn's ``.param`` + ``.bin``).

The dummy format is an ONNX graph under another suffix whose engine refuses to start without the
companion file beside it. ``format_for_path``, convert's output naming, overwrite check and
staging move, and the device cache all keep the two files together.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from edgeres import runtime
from edgeres.cli import main
from edgeres.errors import EngineUnavailable, ModelFileError
from edgeres.formats import FORMATS, Engine, Format, format_for_path
from edgeres.formats import onnx as onnx_format
from edgeres.runtime.onnx import OnnxBackend

COMPANION = b"weights that live beside the graph"


class PairBackend(OnnxBackend):
    """ONNX Runtime on the graph file, refusing to start without its ``.bin`` companion."""

    format = "onnxpair"

    def __init__(self, path, **kw):
        if Path(path).with_suffix(".bin").read_bytes() != COMPANION:
            raise EngineUnavailable("the companion file is not the one written with the model")
        super().__init__(path, **kw)


def export_pair(model, info, out_path, **options):
    """The ONNX exporter for the graph, plus the companion file beside it."""
    from edgeres.convert.onnx import export_onnx

    out_path = export_onnx(model, info, out_path, **options)
    Path(out_path).with_suffix(".bin").write_bytes(COMPANION)
    return out_path


PAIR = Format(
    name="onnxpair",
    suffixes=(".onnxp",),
    layout="NCHW",
    engines=(
        Engine("pair-engine", f"{__name__}:PairBackend", ("onnxruntime",), "pip install pair"),
    ),
    magic=onnx_format.magic,
    read_metadata=onnx_format.read_metadata,
    count_macs=onnx_format.count_macs,
    exporter=f"{__name__}:export_pair",
    export_options=("opset",),
    companions=(".bin",),
)


@pytest.fixture
def pair_format(monkeypatch):
    monkeypatch.setitem(FORMATS, PAIR.name, PAIR)
    return PAIR


def _convert(ckpt: Path, out: Path, *extra: str):
    args = ["convert", str(ckpt), "--to", "onnxpair", "--out", str(out), "--no-verify", *extra]
    return CliRunner().invoke(main, args)


def test_both_files_are_written_checked_and_kept_together(pair_format, tiny_ckpt, tmp_path):
    out = tmp_path / "out"
    res = _convert(tiny_ckpt, out)
    assert res.exit_code == 0, res.output
    model, weights = out / f"{tiny_ckpt.stem}.onnxp", out / f"{tiny_ckpt.stem}.bin"
    assert weights.read_bytes() == COMPANION
    assert sorted(p.name for p in out.iterdir()) == sorted([model.name, weights.name])  # staged
    assert format_for_path(model) is pair_format
    with runtime.load(model) as backend:
        assert backend.engine == "pair-engine"
    # The companion alone already existing is an existing output.
    model.unlink()
    res = _convert(tiny_ckpt, out)
    assert res.exit_code == 2 and f"'{weights}' already exists" in res.output, res.output
    assert _convert(tiny_ckpt, out, "--force").exit_code == 0
    weights.unlink()
    with pytest.raises(ModelFileError, match=r"comes with 'test_resnet\.bin'|comes with '.*\.bin'"):
        format_for_path(model)
