"""The streaming data layer: the same images, labels and order as the in-memory loader; bounded
memory; files that vanish or break between listing and reading; dead workers; --workers capped."""

import logging
import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import cv2
import numpy as np
import pytest

from edgeres.data import load_split, open_split, stream_split
from edgeres.data.cifar import CIFAR10_CLASSES, load_cifar10
from edgeres.data.sources import ShapesSource
from edgeres.data.stream import batch_indices, read_batches, resolve_workers
from edgeres.errors import DataError


def _folder(root, per_class=12, size=(20, 30)):
    rng = np.random.default_rng(0)
    for c in ("a", "b", "c"):
        (root / c).mkdir(parents=True)
        for i in range(per_class):
            image = rng.integers(0, 256, (*size, 3), dtype=np.uint8)
            cv2.imwrite(str(root / c / f"{i:03d}.png"), image)
    return root


def _cifar_bin(folder):
    folder.mkdir(parents=True)
    rng = np.random.default_rng(1)
    for name, n in (("data_batch_1", 6), ("data_batch_2", 5), ("test_batch", 4)):
        records = rng.integers(0, 256, (n, 3073), dtype=np.uint8)
        records[:, 0] %= 10
        (folder / f"{name}.bin").write_bytes(records.tobytes())
    (folder / "batches.meta.txt").write_text("\n".join(CIFAR10_CLASSES))
    return folder


def _streamed(source, split, size, workers, **kw):
    data = stream_split(source, split, size, workers=workers, **kw)
    parts = [(b.kept(data.labels)) for b in data.batches(7)]
    return np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts]), data


@pytest.mark.parametrize("workers", [0, 2])
def test_streaming_equals_the_in_memory_loader(tmp_path, workers):
    folder = _folder(tmp_path / "f")
    cifar = f"cifar10:{_cifar_bin(tmp_path / 'c')}"
    for source, split, size, kw in [
        (str(folder), "train", 16, {"seed": 3}),
        (str(folder), "test", (12, 20), {"limit": 5, "seed": 1}),
        ("shapes", "test", 24, {"limit": 45, "seed": 2}),
        (cifar, "train", 40, {}),
    ]:
        images, labels, _ = _streamed(source, split, size, workers, **kw)
        held = load_split(source, split, size, quiet=True, **kw)
        assert np.array_equal(images, held.images) and np.array_equal(labels, held.labels)
    want, _, _ = load_cifar10(tmp_path / "c", "train", 40)
    assert np.array_equal(load_split(cifar, "train", 40, quiet=True).images, want)


def test_shapes_by_index_equal_the_generated_split():
    src = open_split("shapes", "train", 32, limit=1100, seed=4)
    index = np.array([5, 999, 1000, 1099, 3])
    images, ok = src.read_batch(index)
    held = load_split("shapes", "train", 32, limit=1100, seed=4, quiet=True)
    assert ok.all() and np.array_equal(images, held.images[index])
    assert np.array_equal(src.labels, held.labels)


@pytest.mark.parametrize("workers", [0, 2])
def test_files_deleted_or_broken_after_listing_are_skipped_and_counted(tmp_path, caplog, workers):
    folder = _folder(tmp_path / "f")
    data = stream_split(str(folder), "train", 16, workers=workers)
    files = sorted(folder.rglob("*.png"))
    files[0].unlink()
    files[5].write_bytes(b"not a png any more")
    with caplog.at_level(logging.WARNING, logger="edgeres.data"):
        batches = list(data.batches(8))
    assert data.skipped == 2
    kept = sum(int(b.ok.sum()) for b in batches)
    assert kept == len(data) - 2
    if workers == 0:  # the workers' warnings go to their own stderr
        assert "skipped" in caplog.text


class _Dies(ShapesSource):
    def read_batch(self, index):
        if int(index[0]) >= 40:
            os.kill(os.getpid(), signal.SIGKILL)
        return super().read_batch(index)


def test_a_killed_device_worker_is_one_clear_error():
    src = _Dies("test", (16, 16), 0, 80)
    with pytest.raises(DataError, match="data worker process stopped"):
        list(read_batches(src, batch_indices(80, 10), workers=2))


def test_workers_above_the_cores_are_capped_with_a_note(caplog):
    cores = len(os.sched_getaffinity(0))
    with caplog.at_level(logging.WARNING, logger="edgeres.data"):
        assert resolve_workers(cores + 5) == cores
    assert f"more than the {cores} cores" in caplog.text
    assert resolve_workers(0) == 0


_RSS_SCRIPT = """
import resource, sys
import numpy as np
from edgeres.data import stream_split
data = stream_split(sys.argv[1], "train", 224, workers=int(sys.argv[2]))
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
n = 0
for batch in data.batches(32):
    n += int(batch.ok.sum())
after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print(n, (after - before) // 1024)
print(n, (after - before) // 1024, file=sys.stderr)
"""


def test_memory_is_bounded_by_the_batch_not_the_folder(tmp_path):
    """3,000 tiny PNGs read at 224 px: 450 MB if held, a few batches when streamed."""
    root = tmp_path / "many"
    rng = np.random.default_rng(0)
    for c in range(3):
        (root / f"c{c}").mkdir(parents=True)
        for i in range(1000):
            image = rng.integers(0, 256, (32, 32, 3), dtype=np.uint8)
            ext = ".png" if i % 2 else ".jpg"
            cv2.imwrite(str(root / f"c{c}" / f"{i:04d}{ext}"), image)
    script = textwrap.dedent(_RSS_SCRIPT)
    proc = subprocess.run(
        [sys.executable, "-c", script, str(root), "1"], capture_output=True, text=True, timeout=120
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    n, grew_mb = (int(v) for v in proc.stdout.split())
    assert n == 2400  # the train split: 80% of each class
    whole = n * 224 * 224 * 3 / 2**20  # 345 MB
    assert grew_mb < 60, f"peak RSS grew {grew_mb} MB streaming (the whole set: {whole:.0f})"


def test_a_big_eval_set_streams_and_its_lazy_images_slice_like_arrays(tmp_path, monkeypatch):
    from edgeres.data import open_eval_set, stream

    folder = _folder(tmp_path / "f")
    held = open_eval_set(str(folder), "train", 16)
    assert isinstance(held.images, np.ndarray)  # small: in memory
    monkeypatch.setattr(stream, "IN_MEMORY_BYTES", 1000)
    streamed = open_eval_set(str(folder), "train", 16, workers=0)
    assert not isinstance(streamed.images, np.ndarray)
    assert np.array_equal(streamed.images[3:9], held.images[3:9])
    assert np.array_equal(streamed.images[5], held.images[5])
    assert streamed.images.shape == held.images.shape
    Path(str(streamed.src.files[2])).write_bytes(b"broken")
    streamed.images[0:4]
    assert streamed.bad == {2} and streamed.skipped == 1
