"""The strict profile schema: a bad file is refused with its path and the dotted key."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from edgeres.errors import UsageError
from edgeres.profiles import devices_dir, load_profile_file


def _write(tmp_path: Path, mutate) -> Path:
    data = yaml.safe_load((devices_dir() / "raspberry-pi-4.yaml").read_text())
    mutate(data)
    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


@pytest.mark.parametrize(
    ("mutate", "key", "what"),
    [
        (lambda d: d.update(colour="red"), "colour", "unknown key"),
        (lambda d: d["camera"].update(lens="wide"), "camera.lens", "unknown key"),
        (lambda d: d.pop("threads"), "threads", "missing"),
        (lambda d: d["peaks"]["cpu"].pop("memory_gbs"), "peaks.cpu.memory_gbs", "missing"),
        (lambda d: d.update(threads="four"), "threads", "expected an integer"),
        (lambda d: d.update(threads=True), "threads", "expected an integer"),
        (lambda d: d["camera"].update(fps="fast"), "camera.fps", "expected a number"),
        (lambda d: d["providers"].update(onnx="CPU"), "providers.onnx", "expected a list"),
        (lambda d: d.update(precision="int4"), "precision", "not valid"),
        (lambda d: d.update(threads=0), "threads", ">= 1"),
        (lambda d: d["budget"].update(trials=0), "budget", ">= 1"),
        (lambda d: d["providers"].update(caffe=["x"]), "providers.caffe", "unknown format"),
        # Hostile numbers and sensor globs: refused before a benchmark runs forever.
        (lambda d: d["budget"].update(min_seconds=float("nan")), "budget.min_seconds", "finite"),
        (lambda d: d["budget"].update(min_seconds=float("inf")), "budget.min_seconds", "finite"),
        (lambda d: d["budget"].update(min_seconds=1e300), "budget", "up to 3600"),
        (lambda d: d["budget"].update(min_runs=10**18), "budget", "at most"),
        (lambda d: d["camera"].update(fps=float("nan")), "camera.fps", "finite"),
        (
            lambda d: d.update(sensors={"temperature": ["/sys" + "/*" * 11]}),
            "sensors",
            "walks too much",
        ),
        (
            lambda d: d.update(sensors={"temperature": ["/sys/**/temp"]}),
            "sensors",
            "walks too much",
        ),
    ],
)
def test_invalid_file_names_file_and_key(tmp_path, mutate, key, what):
    path = _write(tmp_path, mutate)
    with pytest.raises(UsageError) as e:
        load_profile_file(path)
    msg = str(e.value)
    assert str(path) in msg and f"'{key}'" in msg and what in msg
