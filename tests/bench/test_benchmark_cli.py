"""`edgeres benchmark` end to end on real engines with a budget of a few milliseconds."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from edgeres.cli import main

pytestmark = pytest.mark.filterwarnings("ignore::UserWarning")

# Conv and Gemm MACs of test_resnet at 32 px, layer by layer (output elements x kernel x in-channels).
TEST_RESNET_MACS = (
    16 * 16 * 8 * (3 * 3 * 3)  # stem, stride 2
    + 16 * 16 * 16 * (3 * 3 * 8 + 3 * 3 * 16 + 8)  # block 1: conv1, conv2, 1x1 projection
    + 8 * 8 * 32 * (3 * 3 * 16 + 3 * 3 * 32 + 16)  # block 2, stride 2
    + 32 * 10  # classifier
)
# Flags that shrink the budget to a few milliseconds per model.
TINY_BUDGET = [
    "--runs",
    "5",
    "--warmup",
    "1",
    "--min-time",
    "0",
    "--warmup-time",
    "0",
    "--trials",
    "2",
    "--pause",
    "0",
]


def run(*args: str):
    return CliRunner().invoke(main, [str(a) for a in args])


@pytest.fixture(scope="module")
def base_json(fp32_onnx, int8_onnx, fp32_tflite, tmp_path_factory):
    """One benchmark of all three files, saved as JSON (also the baseline for the gate tests)."""
    out = tmp_path_factory.mktemp("bench") / "base.json"
    res = run(
        "benchmark",
        fp32_onnx,
        int8_onnx,
        fp32_tflite,
        *TINY_BUDGET,
        "--save",
        out,
        "--json",
    )
    assert res.exit_code == 0, res.output
    return out


def test_json_report_has_every_figure(base_json):
    data = json.loads(base_json.read_text())
    assert (
        data["profile"] == "host"
        and data["profile_is_host"]
        and data["label"] == "measured on this machine"
    )
    assert data["environment"]["cpu_model"] and "onnxruntime" in data["environment"]["libraries"]
    first, int8, tfl = data["results"]
    assert (first["format"], int8["precision"], tfl["format"]) == ("onnx", "int8", "tflite")
    assert first["macs"] == TEST_RESNET_MACS and tfl["macs"] == TEST_RESNET_MACS
    for r in data["results"]:
        lat = r["latency"]
        assert (
            lat["runs"] >= 10
            and lat["min_ms"] <= lat["p50_ms"] <= lat["p90_ms"] <= lat["p99_ms"] <= lat["max_ms"]
        )
        assert r["load_ms"] > 0 and r["first_ms"] > 0 and r["file_size_bytes"] > 0
        assert r["providers"] and r["estimate"] is None and len(r["trial_p50_ms"]) == 2
        assert "cpu_mhz" in r["env_before"] and "temperature_c" in r["env_after"]
        assert r["peak_rss_mb"] >= r["rss_before_mb"] > 0
    assert tfl["providers"][0].lower() == "xnnpack"


def test_macs_are_counted_from_the_graph_of_files_without_metadata(third_party):
    res = run("benchmark", third_party["onnx"], third_party["tflite"], *TINY_BUDGET, "--json")
    assert res.exit_code == 0, res.output
    for r in json.loads(res.stdout)["results"]:
        assert r["macs"] == TEST_RESNET_MACS and "graph" in r["macs_source"]


def test_table_md_csv_plot(fp32_onnx, fp32_tflite, tmp_path):
    md, csv_path, png = tmp_path / "b.md", tmp_path / "b.csv", tmp_path / "b.png"
    res = run(
        "benchmark",
        fp32_onnx,
        fp32_tflite,
        *TINY_BUDGET,
        "--md",
        md,
        "--csv",
        csv_path,
        "--plot",
        png,
    )
    assert res.exit_code == 0, res.output
    assert "speed-up" in res.output and "1.00x" in res.output and fp32_tflite.name in res.output
    assert f"| {fp32_onnx.name} |" in md.read_text() and "command: `edgeres" in md.read_text()
    assert csv_path.read_text().count("\n") == 3
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    again = run("benchmark", fp32_onnx, *TINY_BUDGET, "--md", md)
    assert again.exit_code == 2 and "--force" in again.output


def test_other_device_profile_gets_labelled_estimate(fp32_onnx):
    res = run(
        "benchmark",
        fp32_onnx,
        *TINY_BUDGET,
        "--profile",
        "raspberry-pi-4",
        "--threads",
        "1",
        "--json",
    )
    assert res.exit_code == 0, res.output
    data = json.loads(res.stdout)
    assert (
        data["label"].startswith("measured here") and "raspberry-pi-4's settings" in data["label"]
    )
    est = data["results"][0]["estimate"]
    assert est["kind"] == "estimate, not a measurement" and est["p50_ms"] > 0


def test_thread_sweep_and_warning(int8_onnx):
    from edgeres.profiles.facts import this_machine

    cores = this_machine().cores
    res = run("benchmark", int8_onnx, *TINY_BUDGET, "--threads", "1,64", "--json")
    assert res.exit_code == 0, res.output
    data = json.loads(res.stdout)
    assert [r["threads"] for r in data["results"]] == list(dict.fromkeys([1, cores]))
    assert "exceeds" in data["notes"][0] and "warning: --threads 64" in res.stderr
    assert f"capped at {cores}" in data["notes"][0]


def test_rows_run_in_a_fresh_process_unless_in_process(fp32_onnx):
    import os

    res = run("benchmark", fp32_onnx, *TINY_BUDGET, "--json")
    assert res.exit_code == 0, res.output
    (row,) = json.loads(res.stdout)["results"]
    assert row["pid"] not in (0, os.getpid())  # a worker measured it: its own peak memory
    res = run("benchmark", fp32_onnx, *TINY_BUDGET, "--in-process", "--json")
    assert res.exit_code == 0, res.output
    assert json.loads(res.stdout)["results"][0]["pid"] == os.getpid()


def test_accuracy_with_data(fp32_onnx):
    res = run(
        "benchmark",
        fp32_onnx,
        *TINY_BUDGET,
        "--data",
        "shapes",
        "--limit",
        "20",
        "--json",
    )
    assert res.exit_code == 0, res.output
    r = json.loads(res.stdout)["results"][0]
    assert 0.0 <= r["accuracy"] <= 1.0 and r["accuracy_n"] == 20


def test_baseline_gate_passes_and_fails(fp32_onnx, base_json, tmp_path):
    data = json.loads(base_json.read_text())
    slow = json.loads(json.dumps(data))
    for r in slow["results"]:
        r["latency"]["p50_ms"] *= 1000  # the baseline was far slower: no regression
    ok_base = tmp_path / "slow.json"
    ok_base.write_text(json.dumps(slow))
    res = run("benchmark", fp32_onnx, *TINY_BUDGET, "--baseline", ok_base)
    assert res.exit_code == 0, res.output
    for r in data["results"]:
        r["latency"]["p50_ms"] /= 1000  # the baseline was far faster: regression
    bad_base = tmp_path / "fast.json"
    bad_base.write_text(json.dumps(data))
    res = run("benchmark", fp32_onnx, *TINY_BUDGET, "--baseline", bad_base, "--tolerance", "5")
    assert res.exit_code == 1 and "regression" in res.output and "WORSE" in res.output


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--runs", "0"], "--runs must be >= 1"),
        (["--trials", "0"], "--trials must be >= 1"),
        (["--profile", "rasberry-pi-4"], "did you mean raspberry-pi-4"),
        (["--threads", "two"], "--threads takes N"),
        (["--threads", "0"], ">= 1"),
        (["--csv", "/proc/nope/x.csv"], "not writable"),
        (["--csv", "/tmp/edgeres-same.out", "--md", "/tmp/edgeres-same.out"], "both name"),
    ],
)
def test_bad_input_is_one_line_exit_2(fp32_onnx, args, message):
    res = run("benchmark", fp32_onnx, *TINY_BUDGET, *args)
    assert res.exit_code == 2 and message in res.output and "Traceback" not in res.output


def test_bad_model_and_bad_profile_file(fp32_onnx, tmp_path):
    broken = tmp_path / "broken.onnx"
    broken.write_bytes(b"\xff\xff\xff not onnx")
    res = run("benchmark", broken, *TINY_BUDGET)
    assert res.exit_code == 2 and "broken.onnx" in res.output
    prof = tmp_path / "p.yaml"
    prof.write_text("name: x\nthreads: 2\n")
    res = run("benchmark", fp32_onnx, "--profile", prof)
    assert res.exit_code == 2 and str(prof) in res.output and "missing" in res.output
    bad_base = tmp_path / "b.json"
    bad_base.write_text("{}")
    res = run("benchmark", fp32_onnx, *TINY_BUDGET, "--baseline", bad_base)
    assert res.exit_code == 2 and "not an edgeres benchmark result" in res.output


def test_full_disk_after_measuring_prints_results_and_names_the_file(
    fp32_onnx, tmp_path, fsize_limited_cli
):
    args = ["benchmark", str(fp32_onnx), *map(str, TINY_BUDGET), "--md", "b.md", "--save", "b.json"]
    r = fsize_limited_cli([*args, "--json"], 1500, tmp_path)
    assert r.returncode == 2, r.stderr
    assert "Traceback" not in r.stderr
    assert "could not write 'b.json': no space left on the device" in r.stderr
    assert json.loads(r.stdout)["results"]  # the measured figures are not thrown away
    assert (tmp_path / "b.md").is_file() and not (tmp_path / "b.json").exists()


def _hostile_baselines(base: dict) -> dict[str, str]:
    def with_row(**change):
        doc = json.loads(json.dumps(base))
        for r in doc["results"]:
            for key, value in change.items():
                if key == "p50_ms":
                    r["latency"]["p50_ms"] = value
                else:
                    r[key] = value
        return json.dumps(doc).replace('"NAN"', "NaN")

    return {
        "nested": "[" * 100_000 + "]" * 100_000,
        "nested_dict": '{"schema": "edgeres.benchmark/1", "results": ' + "[" * 100_000,
        "p50_zero": with_row(p50_ms=0),
        "p50_negative": with_row(p50_ms=-1),
        "p50_nan": with_row(p50_ms="NAN"),
        "p50_string": with_row(p50_ms="fast"),
        "threads_string": with_row(threads="two"),
        "accuracy_string": with_row(accuracy="high"),
        "results_string": json.dumps({**base, "results": "none"}),
        "row_list": json.dumps({**base, "results": [[1, 2]]}),
    }


def test_hostile_baselines_are_one_line_exit_2(fp32_onnx, base_json, tmp_path):
    base = json.loads(base_json.read_text())
    for case, text in _hostile_baselines(base).items():
        path = tmp_path / f"{case}.json"
        path.write_text(text)
        res = run("benchmark", fp32_onnx, *TINY_BUDGET, "--baseline", path)
        assert res.exit_code == 2, (case, res.output)
        assert "Traceback" not in res.output and len(res.output.strip().splitlines()) == 1, case


def test_plot_draws_file_names_that_look_like_mathtext(fp32_onnx, tmp_path):
    import shutil

    model = tmp_path / "$\\undefinedcmd$.onnx"
    shutil.copy(fp32_onnx, model)
    png = tmp_path / "b.png"
    res = run("benchmark", model, *TINY_BUDGET, "--in-process", "--plot", png)
    assert res.exit_code == 0, res.output
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
