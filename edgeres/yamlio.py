"""Reading YAML that users share: size-capped, safe types only, and no alias bombs.

``yaml.safe_load`` never runs code, but a "billion laughs" file (ten anchors, each an alias list
of the one before) expands to 10^9 nodes once its aliases are followed: a few hundred bytes take
gigabytes and minutes. ``load_yaml`` composes the node graph (cheap: an alias is a reference),
counts the nodes the document *would* expand to, and refuses before constructing anything big.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from edgeres.errors import UsageError
from edgeres.text import shown

MAX_YAML_BYTES = 1_000_000  # a device profile is a few kB
MAX_YAML_NODES = 100_000  # nodes after following aliases
MAX_YAML_ALIASES = 100


class YamlError(UsageError):
    """A YAML file that is too big, not YAML, or expands beyond the limits."""


def _expanded_size(root: yaml.Node) -> int:
    """Nodes the document holds with every alias followed (stops early past the limit)."""
    memo: dict[int, int] = {}
    visiting: set[int] = set()

    def size(node: yaml.Node) -> int:
        key = id(node)
        if key in memo:
            return memo[key]
        if key in visiting:
            raise YamlError("it refers to itself (a recursive alias)")
        visiting.add(key)
        total = 1
        if isinstance(node, yaml.SequenceNode):
            children = node.value
        elif isinstance(node, yaml.MappingNode):
            children = [n for pair in node.value for n in pair]
        else:
            children = []
        for child in children:
            total += size(child)
            if total > MAX_YAML_NODES:
                raise YamlError(f"it expands to more than {MAX_YAML_NODES} nodes (an alias bomb?)")
        visiting.discard(key)
        memo[key] = total
        return total

    return size(root)


class _CountingLoader(yaml.SafeLoader):
    """A ``SafeLoader`` that counts alias references while composing."""

    aliases = 0

    def compose_node(self, parent, index):  # noqa: ANN001 - PyYAML's signature
        if self.check_event(yaml.AliasEvent):
            self.aliases += 1
            if self.aliases > MAX_YAML_ALIASES:
                raise YamlError(f"it uses more than {MAX_YAML_ALIASES} aliases (*name)")
        return super().compose_node(parent, index)


def load_yaml(text: str) -> Any:
    """Parse one YAML document with safe types, refusing alias bombs.

    Raises:
        YamlError: Too many aliases, a recursive alias or an expansion past the node limit.
        yaml.YAMLError: Not YAML.
    """
    loader = _CountingLoader(text)
    try:
        node = loader.get_single_node()
        if node is None:
            return None
        _expanded_size(node)
        return loader.construct_document(node)
    finally:
        loader.dispose()


def read_yaml(path: Path, what: str, max_bytes: int = MAX_YAML_BYTES) -> Any:
    """Read and parse a YAML file users may share.

    Args:
        path: The file.
        what: What it is, for messages (``"device profile file"``).
        max_bytes: Refuse larger files without reading them.

    Raises:
        UsageError: Missing, too big, not UTF-8, not YAML or an alias bomb; one line naming it.
    """
    name = f"{what} '{shown(path)}'"
    try:
        size = path.stat().st_size
        if size > max_bytes:
            raise YamlError(f"{name} is {size} bytes, over the {max_bytes}-byte limit for YAML")
        text = path.read_text(encoding="utf-8")
    except OSError as e:
        raise UsageError(f"cannot read {name}: {e.strerror or e}") from None
    except UnicodeDecodeError:
        raise UsageError(f"{name} is not UTF-8 text") from None
    try:
        return load_yaml(text)
    except YamlError as e:
        raise YamlError(f"{name} is refused: {e}") from None
    except yaml.YAMLError as e:
        raise UsageError(f"{name} is not valid YAML: {str(e).splitlines()[0]}") from None
