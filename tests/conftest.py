"""Session fixtures shared by every area: small real checkpoints, trained once per test run."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

VIDEO_FRAMES = 24
VIDEO_SIZE = (160, 120)  # width, height

os.environ.setdefault("EDGERES_QUIET", "1")  # no progress bars in test logs

# Every exported model file (fp32/int8 ONNX and TFLite, NCHW TFLite, copies without metadata),
# built once from `tiny_ckpt` and shared by every area.
pytest_plugins = ["fixtures_artifacts"]


def _train_once(tmp_path_factory, name: str, **kw) -> Path:
    from edgeres.train import TrainConfig, train

    out = tmp_path_factory.mktemp(f"{name}_run")
    # One thread: deterministic, and no OpenMP spinning when other jobs share the cores.
    cfg = TrainConfig(
        model=name, data="shapes", out=out, batch_size=64, threads=1, quiet=True, **kw
    )
    return train(cfg).checkpoint


@pytest.fixture(scope="session")
def tiny_ckpt(tmp_path_factory) -> Path:
    """A `test_resnet` checkpoint trained for a few seconds on shapes at 32 px (~20% accuracy)."""
    return _train_once(tmp_path_factory, "test_resnet", epochs=3, limit=3000, eval_limit=300)


@pytest.fixture(scope="session")
def learned_ckpt(tmp_path_factory) -> Path:
    """A `test_resnet` trained twice as long (~45% on shapes; chance is 1/6), for tests whose
    scores must mean something: the INT8 gate and its float-layer fallback."""
    return _train_once(tmp_path_factory, "test_resnet", epochs=6, limit=4000, eval_limit=300)


def _png_chunk(kind: bytes, data: bytes) -> bytes:
    import struct
    import zlib

    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def write_png(path: Path, width: int, height: int, *, depth: int = 8, colour: int = 2, idat=None):
    """A PNG written byte by byte: ``idat`` as given, else real all-zero rows (streamed)."""
    import struct
    import zlib

    ihdr = struct.pack(">IIBBBBB", width, height, depth, colour, 0, 0, 0)
    if idat is None:
        channels = {0: 1, 2: 3}[colour]
        row = bytes(1 + (width * channels * depth + 7) // 8)  # filter byte 0, then zeros
        z = zlib.compressobj(9)
        idat = b"".join(z.compress(row) for _ in range(height)) + z.flush()
    body = _png_chunk(b"IHDR", ihdr) + _png_chunk(b"IDAT", idat) + _png_chunk(b"IEND", b"")
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + body)
    return path


@pytest.fixture
def png_bomb(tmp_path) -> Path:
    """A 74-byte PNG whose header declares 60000 x 60000 RGB pixels (10.8 GB decoded)."""
    import zlib

    # The first rows' bytes only: a decoder must allocate the whole image before it notices.
    path = write_png(tmp_path / "bomb.png", 60000, 60000, idat=zlib.compress(bytes(range(9)), 9))
    assert path.stat().st_size == 74
    return path


@pytest.fixture(scope="session")
def large_png(tmp_path_factory) -> Path:
    """A real, valid 30000 x 30000 PNG (1-bit grey, 110 kB): 2.7 GB once decoded as BGR."""
    folder = tmp_path_factory.mktemp("large_png")
    return write_png(folder / "large.png", 30000, 30000, depth=1, colour=0)


_LIMITED = (
    "import resource, runpy, signal, sys; signal.signal(signal.SIGXFSZ, signal.SIG_IGN); "
    "n = int(sys.argv.pop(1)); resource.setrlimit(resource.RLIMIT_FSIZE, (n, n)); "
    "sys.argv[0] = 'edgeres'; runpy.run_module('edgeres', run_name='__main__')"
)


def run_cli_with_fsize_limit(args: list[str], limit: int, cwd: Path) -> subprocess.CompletedProcess:
    """Run ``edgeres ARGS`` in a child whose files cannot grow past ``limit`` bytes: a full disk.

    SIGXFSZ is ignored, so a write past the limit fails with EFBIG as on a full file system.
    """
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])}
    return subprocess.run(
        [sys.executable, "-c", _LIMITED, str(limit), *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        env=env,
        timeout=600,
    )


@pytest.fixture
def fsize_limited_cli():
    """``run_cli_with_fsize_limit`` as a fixture (tests import no conftest names)."""
    return run_cli_with_fsize_limit


@pytest.fixture(scope="session")
def device_env(tmp_path_factory) -> Path:
    """The torch-free device install (``REPO/.venv-device``, cached; see tests/device_venv.py)."""
    from device_venv import build_env

    return build_env("device", None, tmp_path_factory.mktemp("device_src"))


@pytest.fixture(scope="session")
def video_file(tmp_path_factory) -> Path:
    return write_video(tmp_path_factory.mktemp("video") / "clip.mp4")


@pytest.fixture(scope="session")
def video_frames() -> int:
    """Frames in ``video_file``."""
    return VIDEO_FRAMES


@pytest.fixture(scope="session")
def video_size() -> tuple[int, int]:
    """``(width, height)`` of ``video_file``."""
    return VIDEO_SIZE


def write_video(path: Path, frames: int = VIDEO_FRAMES, size=VIDEO_SIZE, fps: float = 30.0) -> Path:
    """A real mp4 (mp4v) whose frame i shows a bright square moving right."""
    import cv2
    import numpy as np

    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), fps, size)
    assert writer.isOpened()
    w, h = size
    for i in range(frames):
        img = np.full((h, w, 3), 40, np.uint8)
        x = 5 + i * 4
        cv2.rectangle(img, (x, 30), (x + 30, 80), (0, 200, 255), -1)
        writer.write(img)
    writer.release()
    return path
