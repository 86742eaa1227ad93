"""``predict DIR --out`` and ``eval`` stream in batches: rows written as they come, the same
results with and without workers, unreadable folder files skipped and counted."""

import csv
import json

import cv2
import numpy as np
import pytest
from click.testing import CliRunner

from edgeres import runtime
from edgeres.cli import main
from edgeres.data import load_split
from edgeres.data.shapes import generate
from edgeres.errors import OutputExistsError
from edgeres.runtime.predict import PredictionWriter, list_images, predict_batches


def _run(*args):
    return CliRunner().invoke(main, [str(a) for a in args])


@pytest.fixture
def photos(tmp_path):
    images, _ = generate(23, 32, split="test", seed=9)
    root = tmp_path / "photos"
    (root / "sub").mkdir(parents=True)
    for i, image in enumerate(images):
        cv2.imwrite(str(root / ("sub" if i % 3 else "") / f"{i:02d}.png"), image)
    (root / "sub" / "broken.jpg").write_bytes(b"no image here")
    return root


def test_predict_out_writes_every_readable_image(tiny_ckpt, photos, tmp_path):
    out = tmp_path / "preds.csv"
    res = _run("predict", tiny_ckpt, photos, "--out", out, "--batch-size", "5", "--topk", "2")
    assert res.exit_code == 0, res.output
    assert "wrote 23 predictions" in res.stdout and "1 unreadable skipped" in res.stdout
    rows = list(csv.DictReader(out.open()))
    assert len(rows) == 23 and set(rows[0]) == {"image", "label1", "score1", "label2", "score2"}
    assert not list(tmp_path.glob(".*partial"))
    doc = json.loads(_run("predict", tiny_ckpt, photos, "--workers", "0", "--json").stdout)
    assert [r["topk"][0]["label"] for r in doc["results"]] == [r["label1"] for r in rows]
    assert doc["skipped"] == 1 and doc["images"] == 23
    res = _run("predict", tiny_ckpt, photos, "--out", out)
    assert res.exit_code == 2 and "--force" in res.output
    jsonl = tmp_path / "preds.jsonl"
    res = _run("predict", tiny_ckpt, photos, "--out", jsonl, "--workers", "2", "--json")
    assert res.exit_code == 0 and json.loads(res.stdout)["images_per_second"] > 0
    lines = [json.loads(line) for line in jsonl.read_text().splitlines()]
    assert [r["topk"][0]["label"] for r in lines] == [r["label1"] for r in rows]


def test_a_stopped_predict_keeps_its_rows_in_the_partial_file_only(
    tiny_ckpt, photos, tmp_path, monkeypatch
):
    calls = []
    real = PredictionWriter.write

    def stop_on_second(self, rows):
        if calls:
            raise KeyboardInterrupt
        calls.append(len(rows))
        real(self, rows)

    monkeypatch.setattr(PredictionWriter, "write", stop_on_second)
    out = tmp_path / "preds.jsonl"
    _run("predict", tiny_ckpt, photos, "--out", out, "--batch-size", "4", "--workers", "0")
    assert not out.exists()
    (partial,) = tmp_path.glob(".preds.jsonl.*.partial")
    assert len(partial.read_text().splitlines()) == calls[0] == 4


def test_two_predicts_to_one_out_never_lose_rows(tiny_ckpt, photos, tmp_path):
    """Two runs at once: each has its own temporary; the second to finish fails with one line
    and keeps its rows in its partial file instead of replacing the first one's file."""
    out = tmp_path / "preds.csv"
    with runtime.load(tiny_ckpt) as backend:
        rows = [r for b in predict_batches(backend, *list_images((photos,)), topk=1) for r in b]
    first, second = PredictionWriter(out, 1), PredictionWriter(out, 1)
    assert first.partial != second.partial
    first.write(rows[:10])
    second.write(rows)
    first.close()
    with pytest.raises(OutputExistsError, match="already exists"):
        second.close()
    assert len(list(csv.reader(out.open()))) == 1 + 10
    assert len(list(csv.reader(second.partial.open()))) == 1 + len(rows)
    replacing = PredictionWriter(out, 1, overwrite=True)
    replacing.write(rows)
    replacing.close()
    assert len(list(csv.reader(out.open()))) == 1 + len(rows)


def test_eval_streams_with_workers_to_the_in_memory_score(tiny_ckpt):
    results = []
    for workers in ("0", "2"):
        res = _run("eval", tiny_ckpt, "--data", "shapes", "--limit", "150", "--workers", workers,
                   "--batch-size", "32", "--json")  # fmt: skip
        assert res.exit_code == 0, res.output
        results.append(json.loads(res.stdout))
    with runtime.load(tiny_ckpt) as backend:
        held = runtime.evaluate(backend, load_split("shapes", "test", 32, limit=150), quiet=True)
    assert results[0]["correct"] == results[1]["correct"] == held.correct
    assert results[0]["total"] == 150 and results[0]["images_per_second"] > 0
    assert np.isclose(results[0]["accuracy"], held.accuracy)


def test_eval_report_leaves_unreadable_images_out_of_every_count(tiny_ckpt, tmp_path):
    """A file that fails to decode while streaming is scored as a black frame by the engine;
    the accuracy leaves it out, and so must the report's confusion matrix and per-class counts."""
    from edgeres.data.shapes import CLASSES

    images, labels = generate(30, 32, split="test", seed=4)
    root = tmp_path / "folder"
    for i, (image, label) in enumerate(zip(images, labels, strict=True)):
        for split in ("train", "test"):
            (root / split / CLASSES[label]).mkdir(parents=True, exist_ok=True)
            cv2.imwrite(str(root / split / CLASSES[label] / f"{i:02d}.png"), image)
    for k, name in enumerate(CLASSES[:3]):  # listed as images, unreadable when decoded
        (root / "test" / name).mkdir(exist_ok=True)
        (root / "test" / name / f"broken{k}.png").write_bytes(b"\x89PNG\r\n\x1a\n" + b"\0" * 64)
    res = _run("eval", tiny_ckpt, "--data", root, "--workers", "0", "--json",
               "--report", tmp_path / "rep", "--compare", tiny_ckpt)  # fmt: skip
    assert res.exit_code == 0, res.output
    doc = json.loads(res.stdout)
    report = json.loads((tmp_path / "rep" / "report.json").read_text())
    assert doc["skipped"] == 3 and doc["total"] == 30
    assert int(np.asarray(report["confusion_matrix"]).sum()) == 30
    assert sum(c["support"] for c in report["classes"]) == 30
    assert np.isclose(report["accuracy"], doc["accuracy"])


@pytest.mark.slow
def test_ctrl_c_to_the_process_group_prints_no_worker_traceback(fp32_onnx, tmp_path):
    """Ctrl-C in a terminal signals every process of the group: the workers ignore it and the
    main process stops them, so the only output is the main process's one line."""
    import os
    import signal
    import subprocess
    import sys
    import time

    images, _ = generate(400, 32, split="test", seed=3)
    for i, image in enumerate(images):
        cv2.imwrite(str(tmp_path / f"{i:03d}.png"), image)
    out = tmp_path / "preds.csv"
    proc = subprocess.Popen(
        [sys.executable, "-m", "edgeres", "predict", str(fp32_onnx), str(tmp_path), "--out",
         str(out), "--workers", "2", "--batch-size", "2"],
        stderr=subprocess.PIPE, text=True, start_new_session=True,
    )  # fmt: skip
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and not any(
        p.stat().st_size > 200 for p in tmp_path.glob(".preds.csv.*.partial")
    ):
        time.sleep(0.05)
    os.killpg(proc.pid, signal.SIGINT)
    _, err = proc.communicate(timeout=60)
    assert "Traceback" not in err and "KeyboardInterrupt" not in err, err[-3000:]
    assert proc.returncode != 0 and not out.exists()
