"""The profile dataclasses: formats come from the registry, plain data round-trips through YAML."""

from __future__ import annotations

from edgeres.formats import FORMATS
from edgeres.profiles import PROFILE_FORMATS, load_profile, load_profile_file


def test_profile_formats_are_the_registry():
    assert tuple(FORMATS) == PROFILE_FORMATS


def test_profile_round_trips_through_yaml(tmp_path):
    p = load_profile("jetson-orin-nano")
    f = tmp_path / "copy.yaml"
    f.write_text(p.to_yaml())
    assert load_profile_file(f) == p
    assert p.to_dict()["is_host"] is False
