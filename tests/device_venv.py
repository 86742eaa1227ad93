"""The torch-free device environment the tests build once: ``REPO/.venv-<name>`` with the
current edgeres installed (the ``device_env`` fixture in tests/conftest.py; the runtime tests and
the remote tests' device side share it).

Building an environment takes about a minute, so each is cached beside the repository
(`.venv-device/`, `.venv-legacy/`, git-ignored) and rebuilt only when `pyproject.toml` or the
requirements change; edgeres itself is reinstalled (no deps, a few seconds) on every run so the
tests see the current code. `make setup-device` builds both ahead of time.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from wheel_source import REPO, copy_source


def _pip(env_dir: Path, *args: str) -> None:
    cmd = [
        str(env_dir / "bin" / "python"),
        "-m",
        "pip",
        "install",
        "-q",
        "--disable-pip-version-check",
        *args,
    ]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=900)
    if proc.returncode != 0:
        pytest.fail(f"{' '.join(cmd)} failed:\n{proc.stderr[-3000:]}")


def build_env(name: str, requirements: list[str] | None, tmp: Path) -> Path:
    """Create (or reuse) ``REPO/.venv-<name>`` and install the current edgeres into it.

    Args:
        name: ``device`` or ``legacy``.
        requirements: Installed before edgeres, which then goes in with ``--no-deps``; None
            installs edgeres with its own core dependencies (the plain device install).
        tmp: Scratch folder for the source copy.
    """
    env_dir = REPO / f".venv-{name}"
    key = hashlib.sha256(
        (REPO / "pyproject.toml").read_bytes() + repr(requirements).encode()
    ).hexdigest()
    src = copy_source(tmp / "edgeres-src")
    stamp = env_dir / ".edgeres-key"
    if not stamp.exists() or stamp.read_text() != key:
        shutil.rmtree(env_dir, ignore_errors=True)
        subprocess.run([sys.executable, "-m", "venv", str(env_dir)], check=True, timeout=300)
        _pip(env_dir, "setuptools>=68", "wheel")
        if requirements is None:
            _pip(env_dir, str(src))
        else:
            _pip(env_dir, *requirements)
        stamp.write_text(key)
    _pip(env_dir, "--no-deps", "--force-reinstall", "--no-build-isolation", str(src))
    return env_dir


def run_in_env(env_dir: Path, *args: str, timeout: int = 300) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    env.update(EDGERES_QUIET="1", PATH=f"{env_dir / 'bin'}{os.pathsep}{env.get('PATH', '')}")
    return subprocess.run(
        [str(a) for a in args], capture_output=True, text=True, env=env, timeout=timeout, cwd="/"
    )
