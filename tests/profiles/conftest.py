"""Helpers of the profile tests: a fake machine's ``/proc``, ``/sys`` and ``/etc`` in a temp folder."""

from __future__ import annotations

from pathlib import Path

import pytest

# /proc/cpuinfo of a 4-core ARM board with the dot-product instructions (a Raspberry Pi 5).
PI_CPUINFO = "processor\t: 0\nFeatures\t: fp asimd evtstrm crc32 cpuid asimddp\n" * 4


@pytest.fixture
def fake_root(tmp_path):
    """A function writing ``{relative path: content}`` under a temp root and returning the root."""

    def make(files: dict[str, str | bytes]) -> Path:
        for rel, content in files.items():
            f = tmp_path / rel
            f.parent.mkdir(parents=True, exist_ok=True)
            f.write_bytes(content if isinstance(content, bytes) else content.encode())
        return tmp_path

    return make


@pytest.fixture
def pi_cpuinfo() -> str:
    return PI_CPUINFO
