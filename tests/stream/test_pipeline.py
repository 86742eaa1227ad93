"""The pipeline: every frame of a file in order, bounds, stop, smoothing, statistics."""

from __future__ import annotations

import io
import json
import threading

import numpy as np
import pytest

from edgeres.errors import UsageError
from edgeres.runtime.base import softmax
from edgeres.stream import JsonLinesSink, Sink, StreamConfig, open_source, run_stream
from edgeres.stream.pipeline import Smoother
from edgeres.stream.stats import Reservoir


def _no_threads_left() -> bool:
    return not [t for t in threading.enumerate() if t.name.startswith("edgeres-")]


def test_file_gives_every_frame_in_order_with_json_lines(backend, video_file, video_frames):
    out = io.StringIO()
    summary = run_stream(backend, open_source(str(video_file)), [JsonLinesSink(out)])
    assert summary.frames == video_frames and summary.stopped_by == "end"
    assert summary.dropped == 0 and summary.reconnects == 0
    assert set(summary.stages) == {"capture", "preprocess", "infer", "postprocess", "sink", "e2e"}
    assert summary.fps > 0
    lines = [json.loads(line) for line in out.getvalue().splitlines()]
    assert [d["frame"] for d in lines] == list(range(video_frames))
    assert [d["source_frame"] for d in lines] == list(range(video_frames))
    first = lines[0]
    assert set(first) == {"frame", "source_frame", "timestamp", "topk", "latency_ms", "fps"}
    assert len(first["topk"]) == 5 and first["topk"][0]["label"] in backend.info.classes
    scores = [t["score"] for t in first["topk"]]
    assert scores == sorted(scores, reverse=True)
    assert set(first["latency_ms"]) == {"capture", "preprocess", "infer", "postprocess", "e2e"}
    assert lines[1]["timestamp"] > lines[0]["timestamp"]
    assert _no_threads_left()


def test_realtime_file_is_paced_and_still_ends(backend, video_file, video_frames):
    summary = run_stream(backend, open_source(str(video_file)), config=StreamConfig(realtime=True))
    assert summary.stopped_by == "end"
    assert summary.frames + summary.dropped == video_frames


def test_max_frames_and_duration_bound_a_live_run(backend):
    s = run_stream(backend, open_source("demo", 96, 64, 100), config=StreamConfig(max_frames=7))
    assert (s.frames, s.stopped_by) == (7, "max-frames")
    s = run_stream(backend, open_source("demo", 96, 64, 100), config=StreamConfig(duration=0.5))
    assert s.stopped_by == "duration" and s.frames > 0
    assert _no_threads_left()


def test_stop_event_ends_a_live_run_cleanly(backend):
    stop = threading.Event()
    threading.Timer(0.5, stop.set).start()
    s = run_stream(backend, open_source("demo", 96, 64, 50), stop=stop)
    assert s.stopped_by == "signal" and s.frames > 0
    assert _no_threads_left()


class _Boom(Sink):
    def write(self, result):
        raise RuntimeError("disk on fire")


def test_a_failing_sink_fails_the_run_and_stops_every_thread(backend, video_file):
    with pytest.raises(RuntimeError, match="disk on fire"):
        run_stream(backend, open_source(str(video_file)), [_Boom()])
    assert _no_threads_left()


def test_smoothing_is_an_ema_of_probabilities():
    sm = Smoother(0.5)
    a, b = np.array([[2.0, 0.0, 0.0]]), np.array([[0.0, 2.0, 0.0]])
    sm(a)
    out = softmax(sm(b))
    np.testing.assert_allclose(out, 0.5 * softmax(a) + 0.5 * softmax(b), rtol=1e-5)
    assert Smoother(0.0)(a) is a


def test_bad_config_is_a_usage_error():
    for kw in ({"topk": 0}, {"smooth": 1.0}, {"max_frames": 0}, {"duration": -1}):
        with pytest.raises(UsageError):
            StreamConfig(**kw)


@pytest.mark.slow  # builds the shared trained artifacts (train + convert + quantize) if not yet built
@pytest.mark.parametrize("artifact", ["fp32_tflite", "int8_tflite"])
def test_tflite_models_run_on_the_demo_scene(artifact, request):
    from edgeres.runtime import load

    with load(request.getfixturevalue(artifact), threads=1) as b:
        s = run_stream(b, open_source("demo", 160, 120, 100), config=StreamConfig(max_frames=10))
    assert s.frames == 10 and s.stages["infer"].count == 10


def test_reservoir_keeps_a_fixed_size_and_an_exact_mean():
    r = Reservoir(size=64)
    for v in range(10_000):
        r.add(float(v))
    assert r.count == 10_000 and r.mean == pytest.approx(4999.5)
    assert 7000 < r.percentile(90) < 9999
    assert r._buf.size == 64


def test_a_slow_model_on_a_live_source_drops_old_frames_and_counts_them(backend, monkeypatch):
    infer = backend.infer

    def slow_infer(batch):
        threading.Event().wait(0.03)  # a model slower than the 100 fps camera
        return infer(batch)

    monkeypatch.setattr(backend, "infer", slow_infer)
    out = io.StringIO()
    s = run_stream(
        backend,
        open_source("demo", 96, 64, 100),
        [JsonLinesSink(out)],
        StreamConfig(max_frames=10),
    )
    seen = [json.loads(line)["source_frame"] for line in out.getvalue().splitlines()]
    gaps = sum(b - a - 1 for a, b in zip(seen, seen[1:], strict=False))
    assert seen == sorted(seen) and 0 < gaps <= s.dropped
