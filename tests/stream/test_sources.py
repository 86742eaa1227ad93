"""Sources: file, folder, demo, bad sources (clear errors, no hangs), GStreamer and picamera checks."""

from __future__ import annotations

import socket
import time

import numpy as np
import pytest

from edgeres.errors import DataError, MissingDependencyError, UsageError
from edgeres.stream.demo import DemoSource
from edgeres.stream.sources import gstreamer_available, make_source, open_source


def _drain(source) -> list:
    frames = []
    while True:
        ok, frame, ts = source.read()
        if not ok:
            return frames
        frames.append((frame, ts))


def test_video_file_gives_every_frame_in_order(video_file, video_frames, video_size):
    with open_source(str(video_file)) as src:
        assert (src.kind, src.live) == ("file", False)
        assert src.fps == pytest.approx(30.0)
        frames = _drain(src)
    assert len(frames) == video_frames
    assert frames[0][0].shape == (video_size[1], video_size[0], 3)
    assert frames[0][0].dtype == np.uint8
    stamps = [ts for _, ts in frames]
    assert stamps == sorted(stamps) and stamps[1] == pytest.approx(1 / 30, abs=1e-3)


def test_folder_reads_images_recursively_sorted_and_skips_others(image_folder):
    with open_source(str(image_folder), fps=10) as src:
        assert (src.kind, src.live) == ("folder", False)
        frames = _drain(src)
    assert [f.shape[0] for f, _ in frames] == [48, 56, 64, 72, 80]
    assert [ts for _, ts in frames] == pytest.approx([0.0, 0.1, 0.2, 0.3, 0.4])


def test_empty_folder_is_a_data_error(tmp_path):
    with pytest.raises(DataError, match="has no images"):
        open_source(str(tmp_path))


def test_demo_is_deterministic_by_seed_and_moves():
    a, b, c = DemoSource(96, 64, seed=1), DemoSource(96, 64, seed=1), DemoSource(96, 64, seed=2)
    assert a.live and a.paced
    np.testing.assert_array_equal(a.render(17), b.render(17))
    assert not np.array_equal(a.render(17), c.render(17))
    assert not np.array_equal(a.render(17), a.render(18))
    src = open_source("demo", 96, 64, 30)
    ok, frame, _ = src.read()
    assert ok and frame.shape == (64, 96, 3) and frame.dtype == np.uint8


def test_missing_file_is_a_clear_error(tmp_path):
    with pytest.raises(DataError, match="not a camera index, URL, pipeline, existing file"):
        open_source(str(tmp_path / "nope.mp4"))


def test_missing_camera_index_is_a_clear_error():
    with pytest.raises(DataError, match="no camera at index 7"):
        open_source("7")


def test_unreachable_url_is_a_clear_error():
    with socket.socket() as s:  # a port nobody listens on: bind, note it, close
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    t0 = time.monotonic()
    with pytest.raises(DataError, match="could not open url source"):
        open_source(f"rtsp://127.0.0.1:{port}/cam", open_timeout=2.0)
    with pytest.raises(DataError, match="could not open url source"):
        open_source(f"http://127.0.0.1:{port}/video.mjpg", open_timeout=2.0)
    assert time.monotonic() - t0 < 30  # a sanity bound against hangs, not a speed claim


def test_an_open_that_hangs_hits_the_deadline():
    def hanging(target, api, params):
        time.sleep(5)

    with pytest.raises(DataError, match="within 0.3 s"):
        open_source("3", factory=hanging, open_timeout=0.3)


def test_gstreamer_without_support_says_so():
    if gstreamer_available():
        pytest.skip("this OpenCV has GStreamer; the missing-support message cannot be shown")
    with pytest.raises(MissingDependencyError, match="built without GStreamer"):
        open_source("gst:videotestsrc ! appsink")


def test_picamera_without_picamera2_names_the_package():
    pytest.importorskip("numpy")
    try:
        import picamera2  # noqa: F401

        pytest.skip("picamera2 is installed")
    except ImportError:
        pass
    with pytest.raises(MissingDependencyError, match="python3-picamera2"):
        make_source("picamera")


def test_empty_and_bad_gst_specs_are_usage_errors():
    with pytest.raises(UsageError, match="--source is empty"):
        make_source("  ")
    with pytest.raises(UsageError, match="needs a pipeline"):
        make_source("gst:")


def test_a_server_that_never_answers_times_out():
    with socket.socket() as srv:  # accepts connections (the kernel does) but never replies
        srv.bind(("127.0.0.1", 0))
        srv.listen(4)
        port = srv.getsockname()[1]
        for url in (f"rtsp://127.0.0.1:{port}/cam", f"http://127.0.0.1:{port}/video.mjpg"):
            with pytest.raises(DataError, match="could not open url source"):
                open_source(url, open_timeout=1.0)


def test_a_file_that_is_not_a_video_is_a_clear_error(tmp_path):
    bad = tmp_path / "notes.mp4"
    bad.write_text("not a video")
    with pytest.raises(DataError, match="is it a video file OpenCV can decode"):
        open_source(str(bad))


def test_bomb_images_are_skipped_not_decoded(image_folder, png_bomb, large_png, caplog):
    import logging
    import shutil

    shutil.copy(png_bomb, image_folder / "a_bomb.png")
    shutil.copy(large_png, image_folder / "b_large.png")
    with caplog.at_level(logging.WARNING, logger="edgeres.data"):
        with open_source(str(image_folder)) as src:
            assert len(_drain(src)) == 5
        with open_source(str(png_bomb)) as src:  # one image file: read like a folder's
            assert src.kind == "image" and _drain(src) == []
    assert "a_bomb.png': declares 60000x60000" in caplog.text
    assert "b_large.png': declares 30000x30000" in caplog.text


def test_credentials_never_shown_in_source_names_or_errors():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    url = f"rtsp://admin:hunter2@127.0.0.1:{port}/cam?token=s3cret&x=1"
    src = make_source(url, open_timeout=1.0)
    assert src.name == f"rtsp://***@127.0.0.1:{port}/cam?token=***&x=1"
    assert src.target == url  # OpenCV still gets the real address
    with pytest.raises(DataError) as err:
        src.open()
    assert "hunter2" not in str(err.value) and "s3cret" not in str(err.value)
    with pytest.raises(DataError) as err:
        make_source("ftp://admin:hunter2@cam/")  # an unknown scheme: the error shows it
    assert "ftp://***@cam/" in str(err.value) and "hunter2" not in str(err.value)
    gst = make_source(
        "gst:rtspsrc location=rtsp://u:hunter2@cam/ ! appsink", factory=lambda *a: None
    )
    assert "hunter2" not in gst.name
    # An unescaped "@" in the password, a user name alone: nothing of either is left.
    assert make_source("rtsp://admin:p@ss@cam/live", open_timeout=1.0).name == "rtsp://***@cam/live"
    assert make_source("http://viewer@cam/v.mjpg", open_timeout=1.0).name == "http://***@cam/v.mjpg"


def test_csv_cells_never_start_a_formula_and_lines_are_clipped():
    from edgeres.text import clipped, csv_cell

    for text in ('=HYPERLINK("http://x")', "+1", "-2+3", "@SUM(A1)"):
        assert csv_cell(text) == "'" + text
    # Control and bidi characters are escaped as on the terminal: no raw tab, CR, ESC or RLO.
    assert csv_cell("\tx") == "\\tx" and csv_cell("\rx") == "\\rx"
    assert csv_cell("cat\x1b[2J") == "cat\\x1b[2J" and csv_cell("\u202egnp.exe") == "\\u202egnp.exe"
    assert (
        csv_cell("model.onnx") == "model.onnx" and csv_cell(-1.5) == -1.5 and csv_cell(None) is None
    )
    line = clipped("x" * 1_000_000)
    assert len(line) < 400 and line.endswith("(999700 more characters)")
    assert clipped("short") == "short"
