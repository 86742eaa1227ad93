"""edgeres.api: configs from keywords, results equal to the CLI's --json, a cheap import."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from click.testing import CliRunner

import edgeres.api as er
from edgeres.api.result import build
from edgeres.cli import main
from edgeres.errors import ParamError, UsageError
from edgeres.runtime.options import EvalConfig, RuntimeOptions
from edgeres.stream.app import RunOptions


def test_every_public_name_is_a_function_even_after_its_module_is_imported():
    import edgeres.api.demo_path  # noqa: F401 - a submodule named like a function would shadow it
    import edgeres.api.device  # noqa: F401
    import edgeres.api.scoring  # noqa: F401
    import edgeres.api.workstation  # noqa: F401

    for name in er.__all__:
        assert callable(getattr(er, name)), name
        assert not isinstance(getattr(er, name), type(sys)), name


def test_import_loads_no_engine_and_no_torch():
    code = (
        "import sys, edgeres.api\n"
        "heavy = {'torch', 'onnxruntime', 'cv2', 'numpy', 'click'} & set(sys.modules)\n"
        "print(sorted(heavy))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]"


def test_flat_fields_fill_the_composed_parts():
    cfg = build(EvalConfig, "m.onnx", data="shapes", threads=2, strict=True)
    assert cfg.runtime == RuntimeOptions(threads=2, strict=True)
    opts = build(RunOptions, "m.onnx", max_frames=5, topk=2, engine="x")
    assert (opts.config.max_frames, opts.config.topk, opts.runtime.engine) == (5, 2, "x")
    again = build(EvalConfig, cfg, limit=3, engine="y")  # a config, some fields replaced
    assert (again.limit, again.runtime.engine, again.runtime.threads) == (3, "y", 2)
    with pytest.raises(ParamError):
        build(EvalConfig, "m.onnx", data="shapes", threads=0)
    with pytest.raises(UsageError, match="given twice"):
        build(EvalConfig, "m.onnx", model="n.onnx", data="shapes")


def _cli_json(*args: str):
    done = CliRunner().invoke(main, [*args, "--json"])
    assert done.exit_code == 0, done.output
    return json.loads(done.stdout)


def test_inspect_result_is_the_json_document(fp32_onnx):
    result = er.inspect(fp32_onnx)
    assert result.to_dict() == _cli_json("inspect", str(fp32_onnx))
    assert result.lines()[0].startswith("file ")


def test_evaluate_result_is_the_json_document(int8_onnx):
    result = er.evaluate(int8_onnx, data="shapes", limit=40, quiet=True)
    cli = _cli_json("eval", str(int8_onnx), "--data", "shapes", "--limit", "40")
    drop = {"seconds", "images_per_second"}  # timings differ from run to run
    assert {k: v for k, v in result.to_dict().items() if k not in drop} == {
        k: v for k, v in cli.items() if k not in drop
    }
    assert result.lines()[0].startswith(f"{int8_onnx}: top-1 ")
    assert result.passed and result.total == 40  # the runtime's EvalResult, reached through


def test_predict_keeps_rows_or_hands_them_over(int8_onnx, tmp_path):
    import cv2
    import numpy as np

    image = tmp_path / "a.png"
    cv2.imwrite(str(image), np.full((32, 32, 3), 200, np.uint8))
    kept = er.predict(int8_onnx, images=(image,), topk=2, quiet=True)
    assert [r["image"] for r in kept.to_dict()["results"]] == [str(image)]
    assert kept.lines()[0].startswith(f"{image}: ")
    taken: list = []
    handed = er.predict(int8_onnx, images=(image,), on_rows=taken.extend)
    assert len(taken) == 1 and handed.to_dict()["results"] == []
