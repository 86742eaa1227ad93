"""The attained peak: a real probe model on every installed ONNX engine, cached per machine, and
read back by benchmark as each result's share of it."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from edgeres.bench import peak
from edgeres.cli import main

TINY = {"channels": 8, "size": 8, "layers": 1}


@pytest.fixture
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    return tmp_path / "edgeres" / "peak.json"


def test_a_tiny_probe_measures_both_precisions_and_caches_them(cache):
    pytest.importorskip("onnx")
    figures = peak.measure_peak(min_seconds=0.01, **TINY)
    assert set(figures) == {"fp32", "int8"}
    for fig in figures.values():
        assert fig.gmacs > 0 and fig.macs == peak.probe_macs(**TINY)
        assert fig.engine in {"onnxruntime", "openvino"} and "GMAC/s" in fig.line()
    assert peak.cached_peak() is None
    peak.save_peak(figures)
    assert peak.cached_peak() == figures
    cache.write_text("not json")
    assert peak.cached_peak() is None  # a damaged cache is measured again, not trusted


def test_benchmark_reports_the_share_of_a_cached_peak(cache, fp32_onnx):
    fig = peak.PeakFigure("fp32", 1.0, "onnxruntime", 2, 1.0, 10**6)  # 1 GMAC/s
    peak.save_peak({"fp32": fig})
    res = CliRunner().invoke(
        main, ["benchmark", str(fp32_onnx), "--quick", "--in-process", "--json"]
    )
    assert res.exit_code == 0, res.output
    doc = json.loads(res.stdout)
    assert doc["peak"]["fp32"]["gmacs"] == 1.0
    r = doc["results"][0]
    gmacs = r["macs"] / r["latency"]["p50_ms"] / 1e6
    assert gmacs > 0  # and the text table shows it as a share of the 1 GMAC/s peak
    text = CliRunner().invoke(main, ["benchmark", str(fp32_onnx), "--quick", "--in-process"])
    assert "% peak: share of this machine's attained peak (FP32 1 GMAC/s" in text.output
