"""Atomic file writes and the no-silent-overwrite rule, shared by every command that writes;
and where the data folders shipped with edgeres (device profiles, calibration images) are."""

from __future__ import annotations

import contextlib
import importlib.resources
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

from edgeres.errors import OutputExistsError
from edgeres.text import shown


@contextlib.contextmanager
def atomic_path(path: str | Path) -> Iterator[Path]:
    """Yield a temp path beside ``path``; on success rename it over ``path``, on failure delete it.

    Use it for writers that want a file name (``torch.save``, ``onnx.save``, ``cv2.imwrite``).
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(
        prefix=f".{path.stem}.", suffix=f".tmp{path.suffix}", dir=path.parent
    )
    os.close(fd)
    tmp_path = Path(tmp)
    try:
        yield tmp_path
        # mkstemp makes owner-only files; give the result the permissions a plain open() would.
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp_path, 0o666 & ~umask)
        os.replace(tmp_path, path)
    finally:
        tmp_path.unlink(missing_ok=True)


def atomic_write_bytes(path: str | Path, data: bytes) -> None:
    """Write ``data`` to ``path`` through a temp file in the same folder, then rename."""
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)


def atomic_write_text(path: str | Path, text: str) -> None:
    atomic_write_bytes(path, text.encode("utf-8"))


def check_overwrite(path: str | Path, force: bool, flag: str = "--force") -> None:
    """Refuse to replace an existing output unless the user said ``force``."""
    path = Path(path)
    if path.exists() and not force:
        raise OutputExistsError(f"'{shown(path)}' already exists; pass {flag} to replace it")


def sha256_file(path: str | Path, chunk: int = 1 << 20) -> str:
    """Hex SHA-256 of a file, read in chunks."""
    import hashlib

    h = hashlib.sha256()
    with Path(path).open("rb") as fh:
        while block := fh.read(chunk):
            h.update(block)
    return h.hexdigest()


_CHECKOUT = Path(__file__).resolve().parents[1]


def shipped_folder(name: str) -> Path | None:
    """The data folder ``name`` shipped with edgeres (``devices``, ``calibration_data``), or None.

    The folders sit at the top of the repository and are installed as the packages
    ``edgeres.<name>`` (pyproject.toml maps them), which ``importlib.resources`` finds in a wheel
    and in an editable install alike. A source checkout's own folder wins, so a tree run from
    source (``PYTHONPATH=.``) reads its own files even while another copy of edgeres is installed.
    """
    checkout = _CHECKOUT / name
    if (_CHECKOUT / "pyproject.toml").is_file() and (checkout / "__init__.py").is_file():
        return checkout
    try:
        found = importlib.resources.files(f"edgeres.{name}")
    except ModuleNotFoundError:
        return None
    # Installed on disk a regular package is a plain folder; a zipped install is not supported.
    return found if isinstance(found, Path) and found.is_dir() else None
