"""The profile dataclasses: formats come from the registry, plain data round-trips through YAML."""

from __future__ import annotations

from edgeres import profiles
from edgeres.formats import FORMATS
from edgeres.profiles import PROFILE_FORMATS, load_profile, load_profile_file, profile_formats


def test_profile_formats_are_the_registry():
    assert tuple(FORMATS) == PROFILE_FORMATS


def test_profile_round_trips_through_yaml(tmp_path):
    p = load_profile("jetson-orin-nano")
    f = tmp_path / "copy.yaml"
    f.write_text(p.to_yaml())
    assert load_profile_file(f) == p
    assert p.to_dict()["is_host"] is False


def test_a_format_registered_later_is_a_profile_format(monkeypatch):
    import dataclasses

    monkeypatch.setitem(FORMATS, "onnx2", dataclasses.replace(FORMATS["onnx"], name="onnx2"))
    assert "onnx2" in profile_formats() and "onnx2" in profiles.PROFILE_FORMATS


def test_providers_may_be_given_per_engine(tmp_path, fp32_onnx):
    import pytest

    from edgeres import runtime
    from edgeres.errors import UsageError

    p = load_profile("host")
    text = p.to_yaml().replace(
        "providers:\n", "providers:\n  onnxruntime:\n  - CPUExecutionProvider\n  litert:\n  - cpu\n"
    )
    path = tmp_path / "per-engine.yaml"
    path.write_text(text.replace("name: host", "name: per-engine"))
    prof = load_profile_file(path)
    assert prof.providers_for("tflite", "litert") == ("cpu",)  # the engine's own list wins
    assert prof.providers_for("tflite", "tflite-runtime") == ("xnnpack",)  # else the format's
    with runtime.load(fp32_onnx, profile=prof, engine="onnxruntime") as backend:
        assert backend.providers == ["CPUExecutionProvider"]
    path.write_text(text.replace("  litert:\n", "  no-such-engine:\n"))
    with pytest.raises(UsageError, match="'providers.no-such-engine': unknown format or engine"):
        load_profile_file(path)
