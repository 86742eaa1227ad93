"""Format names ("onnx", "tflite", ...) are written only in the format table and the modules of a
format (DESIGN.md: nothing else branches on a format's name), read from the source with ``ast``.

The sites that remain from before the rule (issue 26 item 7) are listed in ``KNOWN`` with their
count: the test fails on a new one, and on a listed file that lost one (update the list then).
"""

from __future__ import annotations

import ast
from collections import Counter
from pathlib import Path

from test_engine_table import code_constants

from edgeres.formats import FORMATS

ROOT = Path(__file__).resolve().parents[2]
# The table and the backends; besides them, a module of one format (a folder or file named after
# it: quantize/onnx/, convert/tflite.py) may name its own format.
FORMAT_ROOMS = ("edgeres/formats/", "edgeres/runtime/")

# Sites still to move into their format's row or module (file -> how many literals).
KNOWN = {
    "edgeres/bench/environment.py": 1,  # the onnx distribution's version, not the format
    "edgeres/bench/peak.py": 1,
    "edgeres/bench/tables.py": 1,
    "edgeres/inspection.py": 5,
    "edgeres/profiles/host.py": 3,
    "edgeres/quantize/checks.py": 2,
    "edgeres/train/init.py": 2,
    "edgeres/train/qat_export.py": 7,
}


def _is_format_module(rel: str, names: set[str]) -> bool:
    parts = Path(rel).with_suffix("").parts
    return any(part in names for part in parts[1:])


def format_literals(root: Path, names: set[str]) -> Counter:
    """How many format names each file outside the format rooms writes as a string (docstrings
    aside)."""
    hits: Counter = Counter()
    for f in sorted((root / "edgeres").rglob("*.py")):
        rel = f.relative_to(root).as_posix()
        if rel.startswith(FORMAT_ROOMS) or _is_format_module(rel, names):
            continue
        for n in code_constants(ast.parse(f.read_text())):
            if n.value in names:
                hits[rel] += 1
    return hits


def test_no_new_format_name_outside_its_format():
    assert {"onnx", "tflite", "pytorch"} <= set(FORMATS)
    assert dict(format_literals(ROOT, set(FORMATS))) == KNOWN


def test_the_format_checker_sees_a_planted_name(tmp_path):
    (tmp_path / "edgeres" / "bench").mkdir(parents=True)
    (tmp_path / "edgeres" / "bench" / "x.py").write_text(
        '"""tflite in a docstring is fine."""\nif fmt == "tflite":\n    pass\n'
    )
    (tmp_path / "edgeres" / "quantize" / "tflite").mkdir(parents=True)
    (tmp_path / "edgeres" / "quantize" / "tflite" / "y.py").write_text('NAME = "tflite"\n')
    (tmp_path / "edgeres" / "formats").mkdir()
    (tmp_path / "edgeres" / "formats" / "z.py").write_text('NAME = "onnx"\n')
    assert format_literals(tmp_path, {"onnx", "tflite"}) == {"edgeres/bench/x.py": 1}
