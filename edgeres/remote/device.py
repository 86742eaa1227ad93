"""The device's own edgeres: found and checked before anything is copied (``edgeres --version``,
``edgeres doctor --json``), and installed from this checkout with ``--install``.

``--install`` builds a wheel of this edgeres here (``pip wheel --no-deps``), copies it to the
device and installs it into the device's venv with its core dependencies (never torch).
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import edgeres
from edgeres.errors import RemoteError, UsageError
from edgeres.remote import replies
from edgeres.remote.cache import place_file
from edgeres.remote.ssh import Transport, edgeres_script, is_not_found, last_line, shell_path
from edgeres.text import clipped, shown

# What a wheel is built from (pyproject.toml maps devices/ and calibration_data/ into it).
_SOURCE = ("edgeres", "devices", "calibration_data", "pyproject.toml", "README.md", "LICENSE")


def probe(t: Transport) -> dict:
    """The device's edgeres version and its ``doctor --json`` (versions, checks), or ``None``
    as the version when no edgeres is found there."""
    versions = ["doctor", "--json", "--no-cameras"]
    out = t.run(edgeres_script(t.config.remote_venv, ["--version"], versions))
    if is_not_found(out):
        return {"version": None}
    if out.returncode != 0:
        raise RemoteError(
            f"edgeres on {t.host} does not start (exit {out.returncode}): {last_line(out.stderr)}"
        )
    first, _, rest = out.stdout.partition(b"\n")
    words = first.decode("utf-8", "replace").split()
    version = clipped(shown(words[-1]), 40) if words else "(no version)"
    if not rest.strip():
        raise RemoteError(f"edgeres doctor on {t.host} printed no JSON")
    doctor = replies.parse(rest, replies.PROBE, f"edgeres doctor on {t.host}")
    return {**doctor, "version": version}


def ready(t: Transport) -> dict:
    """The device's edgeres, checked (and with ``install`` installed) to be this version."""
    info = probe(t)
    if info["version"] == edgeres.__version__:
        return info
    if not t.config.install:
        found = "has no edgeres" if info["version"] is None else f"has edgeres {info['version']}"
        raise RemoteError(
            f"{t.host} {found}, this is {edgeres.__version__}; rerun with --install to install "
            f"this one into {t.config.remote_venv} there, or on the device: "
            f"pip install 'edgeres=={edgeres.__version__}'"
        )
    install(t)
    info = probe(t)
    if info["version"] != edgeres.__version__:
        raise RemoteError(f"--install on {t.host} left edgeres {info['version']} there")
    return info


def install(t: Transport) -> None:
    """Build this edgeres' wheel, copy it and install it into the device's venv."""
    with tempfile.TemporaryDirectory(prefix="edgeres-wheel-") as tmp:
        wheel = build_wheel(Path(tmp))
        placed = place_file(t, wheel, kind="wheels")
    venv = shell_path(t.config.remote_venv)
    pip = f"{venv}/bin/python -m pip install -q --disable-pip-version-check"
    script = (
        f"{{ [ -x {venv}/bin/python ] || python3 -m venv {venv}; }} && "
        f"{pip} {placed.word} && {pip} --no-deps --force-reinstall {placed.word}"
    )
    t.log(f"installing edgeres {edgeres.__version__} into {t.config.remote_venv} on {t.name}")
    out = t.run(script, stream=True)
    if out.returncode != 0:
        raise RemoteError(
            f"installing edgeres on {t.host} failed (exit {out.returncode}): "
            f"{last_line(out.stderr)}; the device needs python3-venv and pip access to PyPI"
        )


def build_wheel(out: Path) -> Path:
    """``pip wheel --no-deps`` of the checkout this edgeres runs from, built from a copy."""
    root = Path(edgeres.__file__).resolve().parents[1]
    if not (root / "pyproject.toml").is_file():
        raise UsageError(
            "--install builds the wheel from an edgeres source checkout, and this edgeres is "
            f"installed ({root}); on the device run: pip install 'edgeres=={edgeres.__version__}'"
        )
    src = out / "src"
    for name in _SOURCE:
        if (root / name).is_dir():
            shutil.copytree(root / name, src / name, ignore=shutil.ignore_patterns("__pycache__"))
        elif (root / name).is_file():
            src.mkdir(parents=True, exist_ok=True)
            shutil.copy(root / name, src / name)
    cmd = [sys.executable, "-m", "pip", "wheel", "-q", "--disable-pip-version-check", "--no-deps"]
    cmd += ["--no-build-isolation", "-w", str(out), str(src)]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode != 0:
        raise RemoteError(f"building edgeres' wheel failed: {last_line(proc.stderr)}")
    return next(out.glob("edgeres-*.whl"))
