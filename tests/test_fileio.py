"""``edgeres.fileio``, the ground floor every writer uses: atomic writes, no silent overwrite,
staging folders, the full-disk error, companion files moved with their model."""

from __future__ import annotations

import errno
import os
import subprocess
import sys

import pytest

from edgeres import fileio
from edgeres.errors import OutputExistsError


def test_atomic_write_replaces_whole_and_leaves_no_temp(tmp_path):
    path = tmp_path / "sub" / "a.json"
    fileio.atomic_write_text(path, "one")
    fileio.atomic_write_bytes(path, b"two")
    assert path.read_bytes() == b"two" and os.listdir(path.parent) == ["a.json"]
    assert path.stat().st_mode & 0o777 == fileio.umask_mode()  # not mkstemp's 0o600


def test_atomic_path_keeps_nothing_when_the_writer_fails(tmp_path):
    path = tmp_path / "a.bin"
    path.write_bytes(b"old")
    with pytest.raises(RuntimeError), fileio.atomic_path(path) as tmp:
        tmp.write_bytes(b"half")
        raise RuntimeError("the writer died")
    assert path.read_bytes() == b"old" and os.listdir(tmp_path) == ["a.bin"]


def test_a_full_disk_is_one_error_naming_the_file(tmp_path):
    path = tmp_path / "a.bin"
    match = "no space left.*'.*a.bin' \\(disk full\\)"
    with pytest.raises(fileio.DiskFullError, match=match), fileio.atomic_path(path):
        raise OSError(errno.ENOSPC, "No space left on device")
    assert not path.exists() and os.listdir(tmp_path) == []
    assert fileio.is_disk_full(RuntimeError("wrapped: No space left on device"))
    assert not fileio.is_disk_full(OSError(errno.EACCES, "denied"))
    staged = tmp_path / f"{fileio.STAGING_PREFIX}x-1-abc" / "m.onnx"
    assert f"writing into '{tmp_path}'" in str(fileio.disk_full_error(staged))


def test_check_overwrite_refuses_the_file_and_its_companions(tmp_path):
    (tmp_path / "m.bin").write_bytes(b"")
    fileio.check_overwrite(tmp_path / "m.param", force=False)
    with pytest.raises(OutputExistsError, match="m.bin' already exists; pass --force"):
        fileio.check_overwrite(tmp_path / "m.param", force=False, companions=(".bin",))
    fileio.check_overwrite(tmp_path / "m.bin", force=True)


def test_publish_moves_the_companions_then_the_model(tmp_path):
    with fileio.staging_dir(tmp_path, "test") as stage:
        (stage / "m.param").write_text("graph")
        (stage / "m.bin").write_text("weights")
        fileio.publish(stage / "m.param", tmp_path / "m.param", companions=(".bin",))
    assert sorted(os.listdir(tmp_path)) == ["m.bin", "m.param"]  # the staging folder is gone


def test_stale_staging_of_a_dead_process_is_removed(tmp_path):
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True).stdout.strip()  # fmt: skip
    stale = tmp_path / f"{fileio.STAGING_PREFIX}convert-{dead}-abc"
    stale.mkdir()
    live = tmp_path / f"{fileio.STAGING_PREFIX}convert-{os.getpid()}-abc"
    live.mkdir()
    assert fileio.remove_stale_staging(tmp_path) == [stale]
    assert live.is_dir() and not stale.exists()


def test_sha256_and_shipped_folders(tmp_path):
    (tmp_path / "f").write_bytes(b"abc")
    expected = "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
    assert fileio.sha256_file(tmp_path / "f", chunk=1) == expected
    assert (fileio.shipped_folder("devices") / "raspberry-pi-5.yaml").is_file()
    assert fileio.shipped_folder("no_such_folder") is None
