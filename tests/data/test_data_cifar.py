"""CIFAR-10 loaders on small files written here; a malicious pickle is refused and never runs."""

from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np
import pytest

from edgeres.data import load_split
from edgeres.data.cifar import CIFAR10_CLASSES, safe_unpickle
from edgeres.errors import DataError


def _fake_batch(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    data = rng.integers(0, 256, (n, 3072), dtype=np.uint8)
    data[0, :1024], data[0, 1024:2048], data[0, 2048:] = 200, 100, 10  # image 0: R=200 G=100 B=10
    return data, rng.integers(0, 10, n).astype(np.int64)


def _write_bin(folder: Path) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    folder.mkdir(parents=True)
    batches = {"data_batch_1": _fake_batch(6, 1), "data_batch_2": _fake_batch(4, 2),
               "test_batch": _fake_batch(5, 3)}  # fmt: skip
    for name, (data, labels) in batches.items():
        records = np.concatenate([labels.astype(np.uint8)[:, None], data], axis=1)
        (folder / f"{name}.bin").write_bytes(records.tobytes())
    (folder / "batches.meta.txt").write_text("\n".join(CIFAR10_CLASSES) + "\n\n")
    return batches


def _write_py(folder: Path) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    folder.mkdir(parents=True)
    batches = {"data_batch_1": _fake_batch(6, 1), "test_batch": _fake_batch(5, 3)}
    for name, (data, labels) in batches.items():
        obj = {b"batch_label": name.encode(), b"labels": labels.tolist(), b"data": data,
               b"filenames": [b"f.png"] * len(labels)}  # fmt: skip
        (folder / name).write_bytes(pickle.dumps(obj, protocol=2))
    meta = {"label_names": [f"c{i}" for i in range(10)], "num_vis": 3072}
    (folder / "batches.meta").write_bytes(pickle.dumps(meta, protocol=4))
    return batches


def test_binary_batches_from_parent_folder(tmp_path):
    batches = _write_bin(tmp_path / "cifar-10-batches-bin")
    train = load_split(f"cifar10:{tmp_path}", "train", 32, quiet=True)
    test = load_split(f"cifar10:{tmp_path / 'cifar-10-batches-bin'}", "test", 32, quiet=True)
    assert len(train) == 10 and len(test) == 5
    assert train.images.shape == (10, 32, 32, 3) and train.images.dtype == np.uint8
    assert np.array_equal(train.labels[:6], batches["data_batch_1"][1])
    assert tuple(train.images[0, 0, 0]) == (10, 100, 200)  # BGR
    assert train.classes == CIFAR10_CLASSES


def test_python_batches_and_resize(tmp_path):
    batches = _write_py(tmp_path / "cifar-10-batches-py")
    test = load_split(f"cifar10:{tmp_path}", "test", 16, quiet=True)
    assert test.images.shape == (5, 16, 16, 3)
    assert np.array_equal(test.labels, batches["test_batch"][1])
    assert tuple(test.images[0, 5, 5]) == (10, 100, 200)
    assert test.classes == tuple(f"c{i}" for i in range(10))
    train = load_split(f"cifar10:{tmp_path}", "train", 32, limit=4, quiet=True)
    assert len(train) == 4


class _Evil:
    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        import os

        return (os.system, (f"touch {self.marker}",))


def test_malicious_pickle_is_refused_and_does_not_run(tmp_path):
    folder = tmp_path / "cifar-10-batches-py"
    folder.mkdir()
    marker = tmp_path / "pwned"
    payload = {b"data": _Evil(marker), b"labels": [1]}
    (folder / "test_batch").write_bytes(pickle.dumps(payload, protocol=2))
    with pytest.raises(DataError, match=r"refusing.*(posix|os|nt)\.system"):
        load_split(f"cifar10:{tmp_path}", "test", 32, quiet=True)
    assert not marker.exists()


@pytest.mark.parametrize(
    "global_ref", [b"cbuiltins\neval\n", b"cnumpy\nload\n", b"csubprocess\ncall\n"]
)
def test_other_globals_are_refused(tmp_path, global_ref):
    path = tmp_path / "b"
    path.write_bytes(b"\x80\x02" + global_ref + b"X\x01\x00\x00\x001\x85R.")
    with pytest.raises(DataError, match="refusing"):
        safe_unpickle(path)


def test_truncated_and_missing(tmp_path):
    folder = tmp_path / "cifar-10-batches-bin"
    _write_bin(folder)
    (folder / "test_batch.bin").write_bytes(b"\x00" * 100)
    with pytest.raises(DataError, match="whole number"):
        load_split(f"cifar10:{tmp_path}", "test", 32, quiet=True)
    with pytest.raises(DataError, match="does not exist"):
        load_split(f"cifar10:{tmp_path / 'nope'}", "test", 32, quiet=True)
    (tmp_path / "empty").mkdir()
    with pytest.raises(DataError, match="no CIFAR-10 batches"):
        load_split(f"cifar10:{tmp_path / 'empty'}", "test", 32, quiet=True)
    py = tmp_path / "py" / "cifar-10-batches-py"
    py.mkdir(parents=True)
    (py / "test_batch").write_bytes(b"\x80\x02}q\x00(X")  # truncated pickle
    with pytest.raises(DataError, match="not a readable"):
        load_split(f"cifar10:{tmp_path / 'py'}", "test", 32, quiet=True)
