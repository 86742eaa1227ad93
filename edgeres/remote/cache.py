"""The device's content-addressed cache: ``<cache>/models/<sha256>/<name>`` for files and
``<cache>/data/<sha256>/`` for data folders.

A file already there under its hash is not copied again; a copy lands under a temporary name, is
hashed on the device and moved into place only when the hash matches what was sent.
"""

from __future__ import annotations

import hashlib
import secrets
import shlex
import tarfile
import tempfile
from dataclasses import dataclass
from pathlib import Path

from edgeres.errors import RemoteError, UsageError
from edgeres.fileio import sha256_file as file_sha256
from edgeres.formats import companion_files
from edgeres.remote.ssh import Transport, Word, last_line, shell_path
from edgeres.text import shown


@dataclass(frozen=True)
class Placed:
    """A local file or folder on the device: its shell word there and whether it was copied now."""

    word: Word
    copied: bool


def folder_sha256(folder: Path) -> str:
    """A hash of a folder's contents: every file's relative path and sha256, in sorted order."""
    digest = hashlib.sha256()
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        digest.update(f"{path.relative_to(folder).as_posix()}\0{file_sha256(path)}\n".encode())
    return digest.hexdigest()


def _cache_dir(t: Transport, *parts: str) -> Word:
    return shell_path(t.config.remote_cache.rstrip("/") + "/" + "/".join(parts))


def place_file(t: Transport, path: Path, kind: str = "models") -> Placed:
    """Copy ``path`` into the device's cache (unless its hash is there) and return where it is.

    A model that comes with companion files (ncnn's ``.bin`` beside its ``.param``) is copied
    with them into one folder named by the hash of them all, so they sit side by side there.

    Raises:
        UsageError: The local file (or a companion) is missing.
        RemoteError: The copy failed, or what arrived has another hash (the file changed while
            it was copied); nothing is left under the final name.
    """
    companions = companion_files(path) if kind == "models" else ()
    for p in (path, *companions):
        if not p.is_file():
            raise UsageError(f"'{shown(p)}' does not exist or is not a file")
    sha = file_sha256(path) if not companions else files_sha256((path, *companions))
    folder = _cache_dir(t, kind, sha)
    final = Word(f"{folder}/{shlex.quote(path.name)}")
    if t.run(f"test -f {final}").returncode == 0:
        t.log(f"{path.name} already on {t.name} (sha256 {sha[:12]})")
        return Placed(final, False)
    for p in (*companions, path):  # the model file last: once there, its companions are too
        _copy_into(t, p, folder, file_sha256(p) if companions else sha)
    size = sum(p.stat().st_size for p in (path, *companions)) / 1e6
    t.log(f"copied {path.name} to {t.name} ({size:.2f} MB)")
    return Placed(final, True)


def files_sha256(paths: tuple[Path, ...]) -> str:
    """One hash for a model's files: each file's name and sha256, in order."""
    digest = hashlib.sha256()
    for p in paths:
        digest.update(f"{p.name}\0{file_sha256(p)}\n".encode())
    return digest.hexdigest()


def _copy_into(t: Transport, path: Path, folder: Word, sha: str) -> None:
    """Copy one file to ``folder/<name>`` on the device, moved into place once its hash matches."""
    final = f"{folder}/{shlex.quote(path.name)}"
    part = f"{folder}/.partial-{secrets.token_hex(6)}"  # concurrent copies of one file
    script = (
        f"mkdir -p {folder} && cat > {part} && "
        f"h=$( (sha256sum {part} 2>/dev/null || shasum -a 256 {part}) | cut -d' ' -f1) && "
        f'if [ "$h" = {sha} ]; then mv -f {part} {final}; echo ok; '
        f'else rm -f {part}; echo "mismatch $h"; fi'
    )
    with open(path, "rb") as f:
        reply = t.check(script, f"copying '{path.name}'", stdin=f).decode().strip()
    if reply != "ok":
        raise RemoteError(
            f"'{shown(path)}' changed while it was copied to {t.name} (sha256 {sha[:12]} sent, "
            f"{reply.removeprefix('mismatch ')[:12] or 'nothing'} arrived); nothing was kept, "
            "run again once the file is final"
        )


def place_folder(t: Transport, folder: Path) -> Placed:
    """Copy a data folder (as a tar stream) into the device's cache unless its hash is there."""
    if not folder.is_dir():
        raise UsageError(f"--data folder '{folder}' does not exist")
    sha = folder_sha256(folder)
    final = _cache_dir(t, "data", sha)
    part = _cache_dir(t, "data", f".partial-{sha}-{secrets.token_hex(6)}")
    if t.run(f"test -d {final}").returncode == 0:
        t.log(f"data {folder.name} already on {t.name} (sha256 {sha[:12]})")
        return Placed(final, False)
    with tempfile.TemporaryFile() as tar_file:
        with tarfile.open(fileobj=tar_file, mode="w") as tar:
            tar.add(folder, arcname=".")
        tar_file.seek(0)
        # Another copy may land first (a fleet sharing one device): keep whichever did.
        script = (
            f"mkdir -p {part} && tar xf - -C {part} && "
            f"{{ mv -T {part} {final} 2>/dev/null || rm -rf {part}; }} && test -d {final} "
            f"|| {{ rm -rf {part}; exit 1; }}"
        )
        out = t.run(script, stdin=tar_file)
    if out.returncode != 0:
        raise RemoteError(f"copying data '{folder}' to {t.name} failed: {last_line(out.stderr)}")
    t.log(f"copied data {folder.name} to {t.name}")
    return Placed(final, True)


def place_data(t: Transport, data: str) -> str | Word:
    """``--data`` as the device sees it: ``remote:/path`` is a device path, a local folder (or
    ``cifar10:DIR``) is copied into the cache, anything else (``shapes``) passes unchanged."""
    if data.startswith("remote:"):
        return data.removeprefix("remote:")
    prefix, _, rest = data.partition(":")
    if rest and prefix.isalnum() and Path(rest).expanduser().is_dir():
        return Word(shlex.quote(f"{prefix}:") + place_folder(t, Path(rest).expanduser()).word)
    if Path(data).expanduser().is_dir():
        return place_folder(t, Path(data).expanduser()).word
    return data


def place_profile(t: Transport, profile: object) -> str | Word:
    """A profile name passes as it is; a local profile file is copied to the device first."""
    name = getattr(profile, "source", None) or str(profile)
    if Path(name).is_file():
        return place_file(t, Path(name), "files").word
    return getattr(profile, "name", name)
