"""A broken or hostile device, faked: its ``edgeres`` is a shell script on the real sshd
(``fake_device`` in conftest.py). Whatever it replies, prints or does, this edgeres answers with
one ``error:`` line and exit 2, bounded in memory and time, and leaves nothing running."""

from __future__ import annotations

import json

import pytest

pytestmark = pytest.mark.slow


def _fails(proc, *needles: str) -> str:
    """Exit 2, one ``error:`` line naming ``needles``, no traceback; returns that line."""
    assert proc.returncode == 2, (proc.returncode, proc.stdout[-2000:], proc.stderr[-2000:])
    errors = [line for line in proc.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and "Traceback" not in proc.stderr, proc.stderr[-3000:]
    for needle in needles:
        assert needle in errors[0], errors[0]
    return errors[0]


def test_doctor_smoke(fake_device):
    proc = fake_device.run("doctor", "--remote", "dev-a", "--json")
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["remote"][0]["result"]["problems"] == 0
