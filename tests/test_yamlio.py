"""``edgeres.yamlio``: YAML that users share is size-capped, safe-typed and refuses alias bombs."""

from __future__ import annotations

import pytest

from edgeres.errors import UsageError
from edgeres.yamlio import MAX_YAML_ALIASES, YamlError, load_yaml, read_yaml


def test_plain_yaml_loads_with_safe_types():
    assert load_yaml("a: [1, 2.5, x]\nb: {c: true}") == {"a": [1, 2.5, "x"], "b": {"c": True}}
    assert load_yaml("") is None
    with pytest.raises(Exception, match="could not determine a constructor"):
        load_yaml("!!python/object/apply:os.system ['echo hi']")


def test_an_alias_bomb_is_refused_before_it_expands():
    lines = ["a0: &a0 [x, x, x, x, x, x, x, x, x, x]"]
    lines += [f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 9)}]" for i in range(1, 9)]
    with pytest.raises(YamlError, match="expands to more than"):
        load_yaml("\n".join(lines))
    many = "a: &a 1\nb: [" + ", ".join(["*a"] * (MAX_YAML_ALIASES + 1)) + "]"
    with pytest.raises(YamlError, match="more than 100 aliases"):
        load_yaml(many)


def test_read_yaml_names_the_file_in_one_line(tmp_path):
    good = tmp_path / "p.yaml"
    good.write_text("name: x\n")
    assert read_yaml(good, "profile") == {"name": "x"}
    big = tmp_path / "big.yaml"
    big.write_text("x: 1\n" * 100)
    with pytest.raises(YamlError, match="profile '.*big.yaml' is 500 bytes, over the 100-byte"):
        read_yaml(big, "profile", max_bytes=100)
    bad = tmp_path / "bad.yaml"
    bad.write_text("a: [1, 2\n")
    with pytest.raises(UsageError, match="profile '.*bad.yaml' is not valid YAML"):
        read_yaml(bad, "profile")
    latin = tmp_path / "latin.yaml"
    latin.write_bytes(b"a: \xe9\n")
    with pytest.raises(UsageError, match="is not UTF-8 text"):
        read_yaml(latin, "profile")
    with pytest.raises(UsageError, match="cannot read profile '.*missing.yaml'"):
        read_yaml(tmp_path / "missing.yaml", "profile")
