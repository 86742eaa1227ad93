"""Build edgeres' wheel from a copy of only what the wheel is made of, so a build leaves nothing
(``build/``, ``*.egg-info``) behind in the repository."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
# edgeres/ and the data folders pyproject.toml maps into it (tests/test_packaging.py checks this).
SOURCE_FOLDERS = ("edgeres", "devices", "calibration_data")
SOURCE_FILES = ("pyproject.toml", "README.md", "LICENSE")


def copy_source(dest: Path) -> Path:
    """Copy the wheel's sources into ``dest`` (created) and return it."""
    for name in SOURCE_FOLDERS:
        shutil.copytree(REPO / name, dest / name, ignore=shutil.ignore_patterns("__pycache__"))
    for name in SOURCE_FILES:
        if (REPO / name).exists():
            shutil.copy(REPO / name, dest / name)
    return dest


def build_wheel(src: Path, out: Path) -> Path:
    """``pip wheel`` the sources in ``src`` (no dependencies, this environment's setuptools)."""
    cmd = [sys.executable, "-m", "pip", "wheel", "-q", "--disable-pip-version-check"]
    cmd += ["--no-deps", "--no-build-isolation", "-w", str(out), str(src)]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    if proc.returncode != 0:
        pytest.fail(f"{' '.join(cmd)} failed:\n{proc.stderr[-3000:]}")
    (wheel,) = out.glob("edgeres-*.whl")
    return wheel
