"""The device cache keeps a model's companion files with it (a ``.param`` + ``.bin`` pair)."""

from __future__ import annotations

import dataclasses

import pytest

from edgeres.errors import UsageError
from edgeres.formats import FORMATS
from edgeres.remote.cache import place_file
from edgeres.remote.config import RemoteConfig
from edgeres.remote.ssh import Transport


def test_the_device_cache_holds_both_files(sshd, tmp_path, monkeypatch):
    pair = dataclasses.replace(
        FORMATS["onnx"], name="onnxpair", suffixes=(".onnxp",), companions=(".bin",)
    )
    monkeypatch.setitem(FORMATS, pair.name, pair)
    model, weights = tmp_path / "m.onnxp", tmp_path / "m.bin"
    model.write_bytes(b"\x08\x08graph")
    weights.write_bytes(b"weights")
    monkeypatch.setenv("EDGERES_SSH_CONFIG", str(sshd.config))
    cache = tmp_path / "device-cache"
    t = Transport("dev-a", RemoteConfig(remote="dev-a", remote_cache=str(cache)), lambda _: None)
    placed = place_file(t, model)
    (folder,) = (cache / "models").iterdir()
    assert sorted(p.name for p in folder.iterdir()) == ["m.bin", "m.onnxp"]
    assert (folder / "m.bin").read_bytes() == b"weights"
    assert str(placed.word).endswith("m.onnxp") and placed.copied
    assert not place_file(t, model).copied  # cached under the hash of both files
    weights.write_bytes(b"other weights")  # a new companion is a new entry
    assert place_file(t, model).copied and len(list((cache / "models").iterdir())) == 2
    weights.unlink()
    with pytest.raises(UsageError, match="m.bin' does not exist"):
        place_file(t, model)
