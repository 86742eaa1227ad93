"""Packaging: pyproject lists every package, and the wheel carries the device profiles and the
calibration images (top-level folders installed as ``edgeres.devices``/``edgeres.calibration_data``)."""

from __future__ import annotations

import os
import subprocess
import sys
import zipfile

import pytest
from wheel_source import REPO, SOURCE_FOLDERS, build_wheel, copy_source

SHIPPED = ["desktop-x86", "jetson-nano", "jetson-orin-nano", "raspberry-pi-4", "raspberry-pi-5"]


def test_pyproject_lists_every_package():
    tomllib = pytest.importorskip("tomllib")
    setuptools_cfg = tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["setuptools"]
    mapped = setuptools_cfg["package-dir"]
    code_dirs = {
        ".".join(p.parent.relative_to(REPO).parts)
        for p in (REPO / "edgeres").rglob("*.py")
        if "__pycache__" not in p.parts
    }
    assert sorted(setuptools_cfg["packages"]) == sorted(code_dirs | set(mapped)), (
        "pyproject.toml [tool.setuptools] packages must list every folder of edgeres/"
    )
    for package, folder in mapped.items():
        assert (REPO / folder / "__init__.py").is_file(), f"{package}: {folder}/__init__.py"
        assert folder in SOURCE_FOLDERS


@pytest.mark.slow
def test_wheel_ships_profiles_and_calibration_images(tmp_path):
    wheel = build_wheel(copy_source(tmp_path / "src"), tmp_path / "wheel")
    names = set(zipfile.ZipFile(wheel).namelist())
    for name in SHIPPED:
        assert f"edgeres/devices/{name}.yaml" in names
    assert {"edgeres/devices/README.md", "edgeres/calibration_data/README.md"} <= names
    images = [n for n in names if n.startswith("edgeres/calibration_data/") and n.endswith(".png")]
    assert len(images) == 320
    assert not [n for n in names if n.startswith(("devices/", "calibration_data/"))]

    # Unpacked (as pip installs it, no source checkout around): importlib.resources finds both.
    site = tmp_path / "site"
    zipfile.ZipFile(wheel).extractall(site)
    code = (
        "from edgeres.profiles import builtin_names, devices_dir\n"
        "from edgeres.data.calibration import default_calibration_source\n"
        "print(devices_dir()); print(default_calibration_source()); print(builtin_names())\n"
    )
    env = {**os.environ, "PYTHONPATH": str(site)}
    proc = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, cwd="/", timeout=120
    )
    assert proc.returncode == 0, proc.stderr
    devices, calib, listed = proc.stdout.splitlines()
    assert devices == str(site / "edgeres" / "devices")
    assert calib == str(site / "edgeres" / "calibration_data")
    assert "raspberry-pi-5" in listed
