"""The engine row is the one place an engine is known.

Every ``"module:attr"`` in the table resolves (the device-side ones without torch); no engine or
distribution name is written anywhere else in the package; and a dummy engine registered here
shows up in ``doctor``, the environment record, ``tune``'s rows and ``--engine`` with no other edit.
"""

from __future__ import annotations

import ast
import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from edgeres.bench.environment import library_versions
from edgeres.cli import main
from edgeres.formats import FORMATS, Engine, Probe, all_engines, register_engine
from edgeres.profiles import load_profile
from edgeres.runtime.onnx import OnnxBackend
from edgeres.tune.sweep import TuneConfig, plan

ROOT = Path(__file__).resolve().parents[2]
# Where engine names may be written: the table and the backends.
ENGINE_ROOMS = ("edgeres/formats/", "edgeres/runtime/")


def table_refs() -> tuple[list[str], list[str]]:
    """Every ``module:attr`` string of the table: (device side, workstation side)."""
    device, workstation = [], []
    for fmt in FORMATS.values():
        for e in fmt.engines:
            refs = [r for r in (e.backend, e.probe) if r]
            (workstation if e.needs_torch else device).extend(refs)
        q = fmt.quantization
        refs = [fmt.exporter, fmt.quant_source]
        refs += [q.quantizer, q.checker, q.layer_errors] if q else []
        workstation += [r for r in refs if r]
    return sorted(set(device)), sorted(set(workstation))


def test_device_side_references_resolve_without_torch():
    device, _ = table_refs()
    assert any(r.endswith(":probe") for r in device) and len(device) >= 4
    code = (
        "import sys\n"
        "from edgeres.formats import resolve\n"
        f"for ref in {device!r}:\n"
        "    assert callable(resolve(ref)), ref\n"
        "assert 'torch' not in sys.modules, 'resolving the table imported torch'\n"
    )
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT)
    assert res.returncode == 0, res.stderr


def test_workstation_side_references_exist():
    _, workstation = table_refs()
    assert workstation
    for ref in workstation:
        module, _, attr = ref.partition(":")
        spec = importlib.util.find_spec(module)
        assert spec is not None and spec.origin, ref
        tree = ast.parse(Path(spec.origin).read_text())
        defined = {
            n.name
            for n in tree.body
            if isinstance(n, (ast.FunctionDef, ast.ClassDef, ast.AsyncFunctionDef))
        }
        defined |= {
            t.id for n in tree.body if isinstance(n, ast.Assign) for t in n.targets
            if isinstance(t, ast.Name)
        }  # fmt: skip
        defined |= {a.asname or a.name for n in tree.body if isinstance(n, ast.ImportFrom)
                    for a in n.names}  # fmt: skip
        assert attr in defined, f"{ref}: '{attr}' is not defined in {spec.origin}"


def table_names() -> set[str]:
    """Engine, distribution and module names of the table. PyTorch's are left out: ``pytorch``
    is also a format's name, and ``torch`` is the workstation's own library, named everywhere."""
    names = set()
    for e in all_engines():
        if e.needs_torch:
            continue
        names |= {e.name, *e.distributions, *(m.split(".")[0] for m in e.modules)}
    return names


def engine_literals(root: Path, names: set[str]) -> list[str]:
    """``file:line name`` of each engine name written as a string (docstrings aside) outside
    the engine rooms."""
    hits = []
    for f in sorted((root / "edgeres").rglob("*.py")):
        rel = f.relative_to(root).as_posix()
        if rel.startswith(ENGINE_ROOMS):
            continue
        tree = ast.parse(f.read_text())
        hits += [f"{rel}:{n.lineno} {n.value}" for n in code_constants(tree) if n.value in names]
    return hits


def code_constants(tree: ast.AST) -> list[ast.Constant]:
    """The constants of a parsed module, docstrings left out (the name guards read these)."""
    docs = {
        id(n.body[0].value)
        for n in ast.walk(tree)
        if isinstance(n, (ast.Module, ast.FunctionDef, ast.ClassDef, ast.AsyncFunctionDef))
        and n.body
        and isinstance(n.body[0], ast.Expr)
        and isinstance(n.body[0].value, ast.Constant)
    }
    return [n for n in ast.walk(tree) if isinstance(n, ast.Constant) and id(n) not in docs]


def test_no_engine_name_is_written_outside_the_table():
    assert {"onnxruntime", "openvino", "ai-edge-litert", "tflite_runtime"} <= table_names()
    assert engine_literals(ROOT, table_names()) == []


def test_the_literal_checker_sees_a_violation(tmp_path):
    pkg = tmp_path / "edgeres" / "bench"
    pkg.mkdir(parents=True)
    (pkg / "x.py").write_text('"""openvino in a docstring is fine."""\nENGINE = "openvino"\n')
    (tmp_path / "edgeres" / "runtime").mkdir()
    (tmp_path / "edgeres" / "runtime" / "y.py").write_text('NAME = "openvino"\n')
    assert engine_literals(tmp_path, table_names()) == ["edgeres/bench/x.py:2 openvino"]


class DummyBackend(OnnxBackend):
    """A tiny engine of the test's own: ONNX Runtime underneath, under another name."""


def dummy_probe(engine: Engine) -> Probe:
    return Probe(f"dummy engine over {engine.installed_version()}")


DUMMY = Engine(
    name="dummy-ort",
    backend=f"{__name__}:DummyBackend",
    modules=("onnxruntime",),
    install="pip install dummy-ort",
    distributions=("click",),  # installed here, and recorded by nothing else
    probe=f"{__name__}:dummy_probe",
)


@pytest.fixture
def dummy_engine(monkeypatch):
    monkeypatch.setitem(FORMATS, "onnx", FORMATS["onnx"])  # restored after the test
    register_engine("onnx", DUMMY)
    return DUMMY


def test_a_registered_engine_is_seen_everywhere(dummy_engine, fp32_onnx, tmp_path):
    doctor = json.loads(CliRunner().invoke(main, ["doctor", "--json", "--no-cameras"]).output)
    check = next(c for c in doctor["checks"] if c["name"] == "dummy-ort")
    assert check["status"] == "ok" and check["detail"].startswith("dummy engine over ")
    assert "click" in library_versions()
    rows, _ = plan([fp32_onnx], TuneConfig((fp32_onnx,), threads="1"))
    assert [r.engine for r in rows] == [e.name for e in FORMATS["onnx"].engines if e.available]
    assert "dummy-ort" in [r.engine for r in rows]
    assert "dummy-ort" in load_profile("host").engine_order("onnx")
    image = tmp_path / "x.png"
    import cv2
    import numpy as np

    cv2.imwrite(str(image), np.zeros((8, 8, 3), np.uint8))
    res = CliRunner().invoke(
        main, ["predict", str(fp32_onnx), str(image), "--engine", "dummy-ort", "--json"]
    )
    assert res.exit_code == 0, res.output
    assert json.loads(res.stdout)["engine"] == "dummy-ort"
    assert "dummy-ort" in CliRunner().invoke(main, ["predict", "--help"]).output
    assert "dummy-ort" in CliRunner().invoke(main, ["benchmark", "--help"]).output
