"""edgeres eval --report: per-class scores on a known case, the files, the CLI, --compare."""

from __future__ import annotations

import json

import numpy as np
import pytest
from click.testing import CliRunner

from edgeres.cli import main
from edgeres.evalreport import build_report, write_report

PNG = b"\x89PNG\r\n\x1a\n"
NAMES = ("cat", "dog", "fox")
# Three cats (one taken for a dog), two dogs (one taken for a fox), one fox.
LABELS = np.array([0, 0, 0, 1, 1, 2])
PREDS = np.array([0, 0, 1, 1, 2, 2])


def test_three_class_toy_by_hand():
    r = build_report("m.onnx", "toy", LABELS, PREDS, NAMES)
    assert r.matrix.tolist() == [[2, 1, 0], [0, 1, 1], [0, 0, 1]]
    by = {c.name: c for c in r.classes}
    # precision = TP / predicted as the class; recall = TP / truly the class
    assert by["cat"].precision == 1.0 and by["cat"].recall == pytest.approx(2 / 3)
    assert by["dog"].precision == 0.5 and by["dog"].recall == 0.5
    assert by["fox"].precision == 0.5 and by["fox"].recall == 1.0
    assert by["cat"].f1 == pytest.approx(0.8) and by["fox"].f1 == pytest.approx(2 / 3)
    assert [c.support for c in r.classes] == [3, 2, 1]
    assert r.accuracy == pytest.approx(4 / 6)
    assert r.macro_f1 == pytest.approx((0.8 + 0.5 + 2 / 3) / 3)
    assert {(p["true"], p["predicted"], p["count"]) for p in r.pairs} == {
        ("cat", "dog", 1),
        ("dog", "fox", 1),
    }


def test_class_never_predicted_scores_zero_not_nan():
    r = build_report("m", "toy", np.array([0, 1, 2]), np.array([0, 0, 0]), NAMES)
    assert [c.precision for c in r.classes] == [pytest.approx(1 / 3), 0.0, 0.0]
    assert [c.f1 for c in r.classes][1:] == [0.0, 0.0]


def test_files_and_contact_sheet(tmp_path):
    reference = LABELS  # a perfect reference: it disagrees with PREDS on images 2 and 4
    r = build_report("int8.onnx", "toy", LABELS, PREDS, NAMES, ("fp32.onnx", reference))
    images = np.random.default_rng(0).integers(0, 255, (6, 16, 16, 3), dtype=np.uint8)
    write_report(r, tmp_path, images)
    for name in ("confusion.png", "disagreements.png"):
        assert (tmp_path / name).read_bytes()[:8] == PNG
    doc = json.loads((tmp_path / "report.json").read_text())
    assert doc["confusion_matrix"] == [[2, 1, 0], [0, 1, 1], [0, 0, 1]]
    assert doc["classes"][0] == {
        "name": "cat",
        "precision": 1.0,
        "recall": pytest.approx(2 / 3),
        "f1": pytest.approx(0.8),
        "support": 3,
    }
    assert doc["compare"]["count"] == 2 and [s["index"] for s in doc["compare"]["shown"]] == [2, 4]
    md = (tmp_path / "report.md").read_text()
    assert "| cat | 1.000 | 0.667 | 0.800 | 3 |" in md and "disagreements.png" in md
    with pytest.raises(Exception, match="already holds a report"):
        write_report(r, tmp_path, images)


def test_without_matplotlib_json_and_markdown_still_written(tmp_path, monkeypatch):
    from edgeres.evalreport import plots

    monkeypatch.setattr(plots, "_pyplot", lambda: None)
    r = build_report("m", "toy", LABELS, PREDS, NAMES)
    write_report(r, tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["report.json", "report.md"]
    assert (
        "pip install 'edgeres[plot]'"
        in json.loads((tmp_path / "report.json").read_text())["missing"][0]
    )
    assert "edgeres[plot]" in (tmp_path / "report.md").read_text()


def test_cli_report_with_compare(int8_onnx, fp32_onnx, tmp_path):
    out = tmp_path / "rep"
    args = ["eval", str(int8_onnx), "--data", "shapes", "--limit", "48", "--report", str(out)]
    res = CliRunner().invoke(main, [*args, "--compare", str(fp32_onnx), "--json"])
    assert res.exit_code == 0, res.output
    doc = json.loads((out / "report.json").read_text())
    assert sum(c["support"] for c in doc["classes"]) == 48
    assert np.trace(np.array(doc["confusion_matrix"])) == round(doc["accuracy"] * 48)
    assert doc["compare"]["reference"] == str(fp32_onnx) and 0 <= doc["compare"]["count"] <= 48
    assert (out / "confusion.png").read_bytes()[:8] == PNG
    assert (out / "disagreements.png").exists() == (doc["compare"]["count"] > 0)
    assert json.loads(res.stdout)["report"]["accuracy"] == doc["accuracy"]


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--compare", "x.onnx"], "--compare needs a report folder"),
        (["--report", "old"], "already holds a report"),
    ],
)
def test_cli_bad_report_flags(fp32_onnx, tmp_path, extra, message):
    (tmp_path / "old").mkdir()
    (tmp_path / "old" / "report.json").write_text("{}")
    extra = [str(tmp_path / a) if a == "old" else a for a in extra]
    res = CliRunner().invoke(main, ["eval", str(fp32_onnx), "--data", "shapes", *extra])
    assert res.exit_code == 2 and message in res.output and "Traceback" not in res.output


HOSTILE_CLASSES = (
    "$\\undefinedcmd$",
    "<img src=x onerror=alert(1)>",
    "a|b\nc",
    "[x](javascript:y)",
)


def _hostile_folder(root):
    import cv2

    names = HOSTILE_CLASSES + tuple(f"c{i}" for i in range(6))  # the model's 10 classes
    for i, name in enumerate(names):
        for split in ("train", "test"):
            (root / split / name).mkdir(parents=True)
            for k in range(2):
                image = np.full((32, 32, 3), 20 * i + 10 * k, np.uint8)
                cv2.imwrite(str(root / split / name / f"{k}.png"), image)
    return root


def test_hostile_class_names_are_escaped_in_markdown_and_plots(fp32_onnx, tmp_path):
    data, out = _hostile_folder(tmp_path / "data"), tmp_path / "rep"
    args = ["eval", str(fp32_onnx), "--data", str(data), "--by-index"]
    res = CliRunner().invoke(main, [*args, "--report", str(out)])
    assert res.exit_code == 0, res.output
    assert (out / "confusion.png").read_bytes()[:8] == PNG  # mathtext did not parse "$\..$"
    md = (out / "report.md").read_text()
    assert "<img" not in md and "&lt;img src=x onerror=alert\\(1\\)&gt;" in md
    assert "a\\|b\\\\nc" in md and "\\[x\\]\\(javascript:y\\)" in md
    rows = [line for line in md.splitlines() if line.startswith("| ") and "---" not in line]
    assert len(rows) == 11 and all(row.count(" | ") == 4 for row in rows)  # no cell added


def test_report_never_replaces_a_users_files(fp32_onnx, tmp_path):
    out = tmp_path / "mine"
    out.mkdir()
    (out / "report.md").write_text("my notes")
    args = ["eval", str(fp32_onnx), "--data", "shapes", "--limit", "8", "--report", str(out)]
    res = CliRunner().invoke(main, args)
    assert res.exit_code == 2 and "report.md (not a report's)" in res.output, res.output
    assert (out / "report.md").read_text() == "my notes" and len(list(out.iterdir())) == 1


def test_compare_honours_by_index(fp32_onnx, int8_onnx, tmp_path):
    data, out = _hostile_folder(tmp_path / "data"), tmp_path / "rep"
    args = ["eval", str(int8_onnx), "--data", str(data), "--by-index"]
    res = CliRunner().invoke(main, [*args, "--report", str(out), "--compare", str(fp32_onnx)])
    assert res.exit_code == 0, res.output
    assert json.loads((out / "report.json").read_text())["compare"]["reference"] == str(fp32_onnx)


def test_a_report_written_meanwhile_into_the_folder_is_not_replaced(tmp_path, monkeypatch):
    import edgeres.evalreport as er
    from edgeres.errors import OutputExistsError

    real = er.markdown

    def other_run_finishes_first(report):
        (tmp_path / "report.md").write_text("the other run's report")
        return real(report)

    monkeypatch.setattr(er, "markdown", other_run_finishes_first)
    with pytest.raises(OutputExistsError, match="another command wrote it"):
        write_report(build_report("m", "toy", LABELS, PREDS, NAMES), tmp_path)
    assert (tmp_path / "report.md").read_text() == "the other run's report"
    assert not (tmp_path / "report.json").exists()
