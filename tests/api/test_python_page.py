"""docs/python.md's example of the whole path, run as the page shows it, in an empty folder."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
PAGE = ROOT / "docs" / "python.md"


def page_code() -> str:
    blocks = re.findall(r"```python\n(.*?)```", PAGE.read_text(), flags=re.S)
    assert len(blocks) == 1, "docs/python.md shows one runnable example"
    return blocks[0]


@pytest.mark.slow
def test_the_python_page_runs_as_written(tmp_path):
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    done = subprocess.run(
        [sys.executable, "-c", page_code()],
        cwd=tmp_path, capture_output=True, text=True, timeout=600, env=env,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    out = done.stdout.splitlines()
    assert out[0].startswith("trained resnet8 on shapes")
    assert any(line.startswith("model_int8.onnx: ") for line in out)
    rows = (tmp_path / "preds.csv").read_text().splitlines()
    assert len(rows) == 1 + 32  # a header and the 32 shipped circles
    assert yaml.safe_load((tmp_path / "my-device.yaml").read_text())["name"]
    assert out[-2] == "30 frames" and out[-1] == "onnx"
