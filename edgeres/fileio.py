"""Atomic file writes and the no-silent-overwrite rule, shared by every command that writes;
and where the data folders shipped with edgeres (device profiles, calibration images) are."""

from __future__ import annotations

import contextlib
import errno
import importlib.resources
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

from edgeres.errors import EdgeresError, OutputExistsError
from edgeres.text import shown

# "The disk is full" in its three spellings: no space, file too large (a size limit), over quota.
DISK_FULL_ERRNOS = frozenset({errno.ENOSPC, errno.EFBIG, errno.EDQUOT})


class DiskFullError(EdgeresError):
    """A write failed because the disk (or the quota, or the file-size limit) is full."""


def disk_full_error(path: str | Path | None, exc: BaseException | None = None) -> DiskFullError:
    """The one-line error for a write to ``path`` (``None``: not known) that ran out of space."""
    reason = "file too large" if getattr(exc, "errno", None) == errno.EFBIG else "disk full"
    if path is None:
        return DiskFullError(
            f"no space left on the device writing the output ({reason}); free some space, "
            "then run again"
        )
    parts = Path(path).parts
    staged = [i for i, p in enumerate(parts) if p.startswith(STAGING_PREFIX)]
    if staged:  # a file not final yet: name the folder the user chose
        path = Path(*parts[: staged[0]]) if staged[0] else Path(".")
        return DiskFullError(
            f"no space left on the device writing into '{path}' ({reason}); nothing was "
            "written under a final name: free some space or choose another output folder"
        )
    return DiskFullError(
        f"no space left on the device writing '{path}' ({reason}); nothing was written under "
        "that name: free some space or choose another output folder, then run again"
    )


def is_disk_full(exc: BaseException) -> bool:
    """Whether ``exc`` (or an exception it was raised from) is a full-disk ``OSError``."""
    seen = 0
    while exc is not None and seen < 8:
        if isinstance(exc, OSError) and exc.errno in DISK_FULL_ERRNOS:
            return True
        if "No space left on device" in str(exc) or "File too large" in str(exc):
            return True  # libraries that re-raise as RuntimeError keep strerror in the text
        exc, seen = exc.__cause__ or exc.__context__, seen + 1
    return False


@contextlib.contextmanager
def disk_errors(path: str | Path) -> Iterator[None]:
    """Turn a full-disk failure inside the block into ``DiskFullError`` naming ``path``."""
    try:
        yield
    except EdgeresError:
        raise
    except Exception as e:
        if is_disk_full(e):
            raise disk_full_error(path, e) from e
        raise


def umask_mode(mode: int = 0o666) -> int:
    """``mode`` less the process umask: the permissions a plain ``open()`` gives a new file."""
    umask = os.umask(0)
    os.umask(umask)
    return mode & ~umask


@contextlib.contextmanager
def atomic_path(path: str | Path, overwrite: bool = True) -> Iterator[Path]:
    """Yield a temp path beside ``path``; on success rename it over ``path``, on failure delete it.

    Use it for writers that want a file name (``torch.save``, ``onnx.save``, ``cv2.imwrite``).
    The temp file is flushed to disk before the rename, so a full disk that only shows at close
    raises ``DiskFullError`` and leaves nothing under ``path``. With ``overwrite=False`` the file
    is published only if ``path`` does not exist at that moment (``publish``): a second process
    writing the same name fails instead of silently replacing the first one's file.
    """
    path = Path(path)
    with disk_errors(path):
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(
            prefix=f".{path.stem}.", suffix=f".tmp{path.suffix}", dir=path.parent
        )
        os.close(fd)
    tmp_path = Path(tmp)
    try:
        with disk_errors(path):
            yield tmp_path
            fsync_file(tmp_path)
            # mkstemp makes owner-only files; give the result the permissions open() would.
            os.chmod(tmp_path, umask_mode())
            publish(tmp_path, path, overwrite)
    finally:
        tmp_path.unlink(missing_ok=True)


def publish(
    staged: str | Path,
    target: str | Path,
    overwrite: bool = False,
    companions: tuple[str, ...] = (),
) -> None:
    """Move a finished file, with its companion files (same stem, the suffixes in
    ``companions``: ``.bin`` beside ``m.param``), from a staging folder to its final name.
    Companions move first, the named file last: a model under its final name has every file it
    needs. Each move follows ``publish_one``.

    Raises:
        OutputExistsError: A target exists (and ``overwrite`` is false).
    """
    staged, target = Path(staged), Path(target)
    for suffix in companions:
        publish_one(staged.with_suffix(suffix), target.with_suffix(suffix), overwrite)
    publish_one(staged, target, overwrite)


def publish_one(staged: Path, target: Path, overwrite: bool = False) -> None:
    """Move a finished file to its final name; unless ``overwrite``, only if the name is free.

    The check and the move are one step (a hard link fails when ``target`` exists, then the
    staged name is removed), so of two commands writing the same output at once the second
    fails with ``OutputExistsError`` instead of replacing the first one's file. On a file system
    without hard links an exclusively created placeholder claims the name first.

    Raises:
        OutputExistsError: ``target`` exists (and ``overwrite`` is false).
    """
    if overwrite:
        os.replace(staged, target)
        return
    try:
        os.link(staged, target)
    except FileExistsError:
        raise _appeared(target) from None
    except OSError as e:
        if e.errno not in (errno.EPERM, errno.EOPNOTSUPP, errno.EXDEV, errno.EMLINK):
            raise
        try:
            os.close(os.open(target, os.O_CREAT | os.O_EXCL | os.O_WRONLY, umask_mode()))
        except FileExistsError:
            raise _appeared(target) from None
        os.replace(staged, target)
        return
    os.unlink(staged)


def _appeared(target: Path) -> OutputExistsError:
    return OutputExistsError(
        f"'{shown(target)}' already exists (another command wrote it while this one ran); "
        "nothing was replaced: choose another output, or pass --force to replace it"
    )


def fsync_file(path: str | Path) -> None:
    """Flush ``path``'s data to the disk (where delayed allocation reports a full disk)."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def atomic_write_bytes(path: str | Path, data: bytes, overwrite: bool = True) -> None:
    """Write ``data`` to ``path`` through a temp file in the same folder, then rename (with
    ``overwrite=False``: only if ``path`` is still free then, see ``publish``)."""
    with atomic_path(path, overwrite) as tmp:
        tmp.write_bytes(data)


def atomic_write_text(path: str | Path, text: str, overwrite: bool = True) -> None:
    atomic_write_bytes(path, text.encode("utf-8"), overwrite)


def check_overwrite(
    path: str | Path, force: bool, flag: str = "--force", companions: tuple[str, ...] = ()
) -> None:
    """Refuse to replace an existing output (or one of its ``companions``: suffixes of the files
    written beside it, ``.bin`` for ``m.param``) unless the user said ``force``."""
    path = Path(path)
    for p in (path, *(path.with_suffix(s) for s in companions)):
        if p.exists() and not force:
            raise OutputExistsError(f"'{shown(p)}' already exists; pass {flag} to replace it")


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


STAGING_PREFIX = ".edgeres-staging-"


@contextlib.contextmanager
def created_folder(folder: str | Path) -> Iterator[Path]:
    """Make ``folder`` (and its missing parents) for a command's outputs; if the command fails,
    remove the folders it made, when they are still empty: a failed run leaves no trace."""
    folder = Path(folder)
    made = []
    for p in [folder, *folder.parents]:
        if p.exists():
            break
        made.append(p)
    with disk_errors(folder):
        folder.mkdir(parents=True, exist_ok=True)
    try:
        yield folder
    except BaseException:
        for p in made:  # deepest first
            with contextlib.suppress(OSError):
                p.rmdir()  # only when empty: never what another process wrote there
        raise


@contextlib.contextmanager
def staging_dir(folder: str | Path, tag: str) -> Iterator[Path]:
    """A hidden folder inside ``folder`` for files that are not final yet; removed on exit.

    Files move from it to their final names with ``os.replace`` (same file system). A process that
    was killed leaves its folder behind: the next ``staging_dir`` in the same ``folder`` removes
    every staging folder whose process no longer runs.
    """
    import shutil

    folder = Path(folder)
    with disk_errors(folder):
        folder.mkdir(parents=True, exist_ok=True)
        remove_stale_staging(folder)
        path = Path(tempfile.mkdtemp(prefix=f"{STAGING_PREFIX}{tag}-{os.getpid()}-", dir=folder))
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


def remove_stale_staging(folder: Path) -> list[Path]:
    """Delete staging folders in ``folder`` left by processes that are gone; return them."""
    import shutil

    removed = []
    legacy = list(folder.glob(".edgeres-quantize-*"))  # before staging_dir: no process id
    for path in [*folder.glob(f"{STAGING_PREFIX}*"), *legacy]:
        if path.is_dir() and not _owner_alive(path.name):
            shutil.rmtree(path, ignore_errors=True)
            removed.append(path)
    return removed


def _owner_alive(name: str) -> bool:
    parts = name[len(STAGING_PREFIX) :].split("-") if name.startswith(STAGING_PREFIX) else []
    if len(parts) < 3 or not parts[1].isdigit():
        return False
    pid = int(parts[1])
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # someone else's live process
    return True


def check_space(folder: str | Path, nbytes: int) -> None:
    """Raise ``DiskFullError`` if ``nbytes`` cannot be written in ``folder`` now.

    For a library that wrote a file with its own code and then failed to read it back (ONNX
    Runtime's shape inference gives a protobuf ``DecodeError``): the probe tells a full disk from
    a real bug.
    """
    folder = Path(folder)
    fd, probe = tempfile.mkstemp(prefix=".edgeres-space-", dir=folder)
    try:
        with disk_errors(folder), os.fdopen(fd, "wb") as fh:
            fh.write(b"\0" * nbytes)
            fh.flush()
            os.fsync(fh.fileno())
    finally:
        os.unlink(probe)
