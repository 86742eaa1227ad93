"""The pre-resized cache: built once, reused, rebuilt for other data or size or when unreadable,
never trusted after a killed build, and a full or read-only disk falls back to streaming."""

import errno
import json
import logging
import os
import subprocess
import sys
import textwrap

import cv2
import numpy as np
import pytest

from edgeres.data import load_split, open_split
from edgeres.data.cache import cache_paths, cached
from edgeres.data.sources import ArraySource, FolderSource


def _folder(root, n=6):
    rng = np.random.default_rng(0)
    for c in ("a", "b"):
        (root / c).mkdir(parents=True)
        for i in range(n):
            cv2.imwrite(str(root / c / f"{i}.png"), rng.integers(0, 256, (20, 24, 3), np.uint8))
    return root


class _NoReads(FolderSource):
    def read_batch(self, index):
        raise AssertionError("the cache should have been reused, not rebuilt")


def test_build_then_reuse_equals_the_decoded_images(tmp_path):
    folder = str(_folder(tmp_path / "f"))
    src = open_split(folder, "train", 16)
    got = cached(src, tmp_path / "cache", quiet=True)
    assert isinstance(got, ArraySource)
    held = load_split(folder, "train", 16, quiet=True)
    assert np.array_equal(np.asarray(got.images), held.images)
    assert np.array_equal(got.labels, held.labels)
    npy, manifest, key = cache_paths(tmp_path / "cache", src)
    assert json.loads(manifest.read_text())["key"] == key
    again = _NoReads(src.name, [str(f) for f in src.files], src.labels, src.classes, src.size)
    reused = cached(again, tmp_path / "cache", quiet=True)
    assert isinstance(reused.images, np.memmap)  # memory-mapped, not read into memory
    assert sorted(p.name for p in (tmp_path / "cache").iterdir()) == [manifest.name, npy.name]


def test_other_data_or_size_gets_another_cache(tmp_path):
    folder = _folder(tmp_path / "f")
    src = open_split(str(folder), "train", 16)
    cached(src, tmp_path / "cache", quiet=True)
    first = cache_paths(tmp_path / "cache", src)[0]
    other_size = open_split(str(folder), "train", 12)
    assert cache_paths(tmp_path / "cache", other_size)[0] != first
    one = sorted(folder.rglob("*.png"))[0]
    cv2.imwrite(str(one), np.zeros((20, 24, 3), np.uint8))  # same name, new contents
    os.utime(one, ns=(1, 1))
    changed = open_split(str(folder), "train", 16)
    got = cached(changed, tmp_path / "cache", quiet=True)
    assert cache_paths(tmp_path / "cache", changed)[0] != first
    assert np.array_equal(np.asarray(got.images), load_split(str(folder), "train", 16).images)


@pytest.mark.parametrize(
    "damage", ["truncate", "manifest", "other_key", [999999], [-1], [[0]], [2**70]]
)
def test_an_unreadable_or_mismatched_cache_is_rebuilt(tmp_path, caplog, damage):
    folder = str(_folder(tmp_path / "f"))
    src = open_split(folder, "train", 16)
    cached(src, tmp_path / "cache", quiet=True)
    npy, manifest, _ = cache_paths(tmp_path / "cache", src)
    if damage == "truncate":
        npy.write_bytes(npy.read_bytes()[:500])
    elif damage == "manifest":
        manifest.write_text("{not json")
    elif damage == "other_key":
        manifest.write_text(json.dumps({**json.loads(manifest.read_text()), "key": "0" * 64}))
    else:  # unreadable indices the cache does not hold: an IndexError traceback in train
        manifest.write_text(json.dumps({**json.loads(manifest.read_text()), "unreadable": damage}))
    with caplog.at_level(logging.WARNING, logger="edgeres.data"):
        got = cached(src, tmp_path / "cache", quiet=True)
    assert "unusable" in caplog.text and "rebuilding" in caplog.text
    assert np.array_equal(np.asarray(got.images), load_split(folder, "train", 16).images)


_KILLED_BUILD = """
import os, signal, sys
from edgeres.data import open_split
from edgeres.data.cache import cached
from edgeres.data.sources import ShapesSource

class Dies(ShapesSource):
    def read_batch(self, index):
        if int(index[0]) > 0:
            os.kill(os.getpid(), signal.SIGKILL)  # killed mid-build: no cleanup runs
        return super().read_batch(index)

cached(Dies("test", (16, 16), 0, 600), sys.argv[1], quiet=True)
"""


def test_a_killed_build_leaves_nothing_trusted(tmp_path):
    cache = tmp_path / "cache"
    proc = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(_KILLED_BUILD), str(cache)], timeout=60
    )
    assert proc.returncode == -9
    left = [p.name for p in cache.iterdir()]
    assert left and all(".tmp-" in name for name in left)  # a temp array, no manifest
    src = open_split("shapes", "test", 16, limit=600)
    got = cached(src, cache, quiet=True)
    assert np.array_equal(
        np.asarray(got.images), load_split("shapes", "test", 16, limit=600).images
    )
    assert not any(".tmp-" in p.name for p in cache.iterdir())  # the stale temp file is gone


def test_a_full_disk_falls_back_to_streaming_with_one_warning(tmp_path, caplog, monkeypatch):
    def full(fd, offset, length):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(os, "posix_fallocate", full)
    src = open_split("shapes", "test", 16, limit=50)
    with caplog.at_level(logging.WARNING, logger="edgeres.data"):
        got = cached(src, tmp_path / "cache", quiet=True)
    assert got is src  # streaming
    assert caplog.text.count("warning") == 1 and "no space left" in caplog.text
    assert not [p for p in (tmp_path / "cache").iterdir()]


def test_a_cache_folder_that_cannot_be_made_falls_back_to_streaming(tmp_path, caplog):
    blocker = tmp_path / "file"
    blocker.write_text("a file where the cache folder should be")
    src = open_split("shapes", "test", 16, limit=50)
    with caplog.at_level(logging.WARNING, logger="edgeres.data"):
        assert cached(src, blocker / "cache", quiet=True) is src
    assert "streaming the images instead" in caplog.text
