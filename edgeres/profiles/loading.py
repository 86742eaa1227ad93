"""Finding profiles: the shipped YAML files, a user's own file, and the one matching this machine.

One YAML file per device ships in the repository's top-level ``devices/`` folder, installed as the
package ``edgeres.devices``; a user names a built-in profile (``raspberry-pi-5``) or a file of
their own by path (``--profile ./my-board.yaml``). Files are data: read by ``edgeres.yamlio``
(safe types, size-capped, no alias bombs), never executed, and they never name a command to
run. ``host`` is computed from the machine running now.
"""

from __future__ import annotations

import dataclasses
from functools import cache
from pathlib import Path

from edgeres.errors import UsageError, unknown_name
from edgeres.fileio import shipped_folder
from edgeres.profiles.facts import read_facts, this_machine
from edgeres.profiles.host import host_profile
from edgeres.profiles.model import HOST, Profile
from edgeres.profiles.schema import SchemaError, build
from edgeres.text import shown
from edgeres.yamlio import read_yaml


def devices_dir() -> Path:
    """The folder of shipped profile files (``devices/`` in a checkout, ``edgeres/devices`` installed).

    Raises:
        UsageError: The folder is missing from this install.
    """
    folder = shipped_folder("devices")
    if folder is None:
        raise UsageError(
            "the shipped device profiles (package 'edgeres.devices') are missing from this "
            "install; reinstall edgeres, or pass a profile file of your own (--profile ./board.yaml)"
        )
    return folder


def builtin_names() -> list[str]:
    """Names of the shipped profiles plus ``host``."""
    return sorted(p.stem for p in devices_dir().glob("*.yaml")) + [HOST]


def load_profile_file(path: str | Path) -> Profile:
    """Load and validate one profile YAML file.

    Raises:
        UsageError: The file is missing, not YAML, or breaks the schema (the message names the
            file and the key).
    """
    path = Path(path)
    if not path.is_file():
        raise UsageError(f"device profile file '{shown(path)}' does not exist")
    data = read_yaml(path, "device profile file")
    try:
        profile = build(Profile, data)
    except SchemaError as e:
        raise UsageError(
            f"invalid device profile '{shown(path)}': {e}; fix the file or see 'edgeres devices raspberry-pi-5' for a valid example"
        ) from None
    return dataclasses.replace(profile, source=str(path))


@cache
def _builtin(name: str) -> Profile:
    if name == HOST:
        return host_profile(this_machine())
    return load_profile_file(devices_dir() / f"{name}.yaml")


def _looks_like_path(text: str) -> bool:
    return text.endswith((".yaml", ".yml")) or "/" in text or "\\" in text


def load_profile(name_or_path: str | Path | Profile | None = None) -> Profile:
    """Get a profile by name, by file path, or the one for this machine.

    Args:
        name_or_path: A built-in name (``raspberry-pi-4``, ``host``, ...), a path to a YAML
            file, a ``Profile`` (returned as is), or ``None`` for the profile matching this
            machine (``host`` when none matches).

    Raises:
        UsageError: Unknown name (with close matches) or an invalid file.
    """
    if isinstance(name_or_path, Profile):
        return name_or_path
    if name_or_path is None:
        return match_host() or _builtin(HOST)
    text = str(name_or_path)
    if isinstance(name_or_path, Path) or _looks_like_path(text):
        return load_profile_file(text)
    if text not in builtin_names():
        if Path(text).is_file():
            return load_profile_file(text)
        raise unknown_name("device profile", text, builtin_names())
    return _builtin(text)


def list_profiles() -> list[Profile]:
    """Every shipped profile, then ``host``."""
    return [_builtin(n) for n in builtin_names()]


def match_host(root: str | Path = "/", arch: str | None = None) -> Profile | None:
    """The shipped profile matching this machine (or a fake one under ``root``), else ``None``.

    Args:
        root: Filesystem root holding ``proc/``, ``sys/`` and ``etc/`` (tests pass a temp folder).
        arch: Architecture to assume instead of ``platform.machine()``.
    """
    facts = this_machine() if str(root) == "/" and arch is None else read_facts(root, arch)
    for name in builtin_names():
        if name != HOST and (p := _builtin(name)).match.matches(facts):
            return p
    return None
