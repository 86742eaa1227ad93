"""A folder holding only some of the model's classes: matched by name, scored, the rest named."""

from __future__ import annotations

import json
import logging

import cv2
import numpy as np
import pytest
from click.testing import CliRunner

from edgeres import runtime
from edgeres.cli import main
from edgeres.data import open_split
from edgeres.data.shapes import CLASSES, generate
from edgeres.errors import DataError
from edgeres.runtime.classes import model_labels

KEEP = ("square", "cross")


def _run(*args):
    return CliRunner().invoke(main, [str(a) for a in args])


@pytest.fixture(scope="module")
def subset(tmp_path_factory):
    """Shapes test images of two of the ten classes, one folder each, named or numbered."""
    images, labels = generate(120, 32, split="test", seed=3)
    root = tmp_path_factory.mktemp("subset")
    for i, (image, label) in enumerate(zip(images, labels, strict=True)):
        name = CLASSES[label]
        if name in KEEP:
            for folder in (root / "named" / name, root / "numbered" / str(label)):
                folder.mkdir(parents=True, exist_ok=True)
                cv2.imwrite(str(folder / f"{i}.png"), image)
    return root


def _expected(model, folder) -> tuple[int, int]:
    """Correct and total of the model on the folder's test split, scored here image by image."""
    source = open_split(folder, "test", 32)
    with runtime.load(model) as backend:
        preds = [int(backend.predict(source.read(i), topk=1)[0].indices[0])
                 for i in range(len(source))]  # fmt: skip
    truth = [CLASSES.index(source.classes[lab]) for lab in source.labels]
    return int(np.sum(np.asarray(preds) == truth)), len(source)


def test_eval_scores_the_classes_a_folder_holds(model_files, subset, caplog):
    folder = subset / "named"
    with caplog.at_level(logging.WARNING, logger="edgeres.runtime"):
        res = _run("eval", model_files["onnx"], "--data", folder, "--json")
    assert res.exit_code == 0, res.output
    doc = json.loads(res.stdout)
    assert (doc["correct"], doc["total"]) == _expected(model_files["onnx"], folder)
    assert "holds 2 of the model's 10 classes" in caplog.text and "absent: circle" in caplog.text
    res = _run("eval", model_files["onnx"], "--data", folder, "--by-index")
    assert res.exit_code == 2 and "labels.txt" in res.stderr and "Traceback" not in res.output
    (folder / "labels.txt").write_text("\n".join(CLASSES))
    try:
        res = _run("eval", model_files["onnx"], "--data", folder, "--by-index", "--json")
    finally:
        (folder / "labels.txt").unlink()
    assert res.exit_code == 0 and json.loads(res.stdout)["correct"] == doc["correct"]


def test_numbered_folders_are_the_outputs_they_name(model_files, subset):
    res = _run("eval", model_files["onnx_nometa"], "--data", subset / "numbered", "--json",
               "--report", subset / "report")  # fmt: skip
    assert res.exit_code == 0, res.output
    assert json.loads(res.stdout)["total"] == len(open_split(subset / "numbered", "test", 32))
    numbers = tuple(str(CLASSES.index(c)) for c in sorted(KEEP, key=CLASSES.index))
    unnamed = tuple(str(i) for i in range(10))
    assert model_labels(np.array([0, 1, 1]), numbers, unnamed).tolist() == [
        int(numbers[0]), int(numbers[1]), int(numbers[1])]  # fmt: skip
    res = _run("eval", model_files["onnx_nometa"], "--data", subset / "named")
    assert res.exit_code == 2 and "names no classes" in res.stderr


def test_only_a_class_the_model_does_not_know_is_refused():
    with pytest.raises(DataError, match="only in the data: emu"):
        model_labels(np.array([0, 1]), ("emu", "square"), CLASSES)
    with pytest.raises(DataError, match="outputs 0..9 only"):
        model_labels(np.array([0]), ("12",), CLASSES)


@pytest.mark.slow
def test_quantize_eval_data_takes_a_subset_folder(model_files, subset, tmp_path):
    res = _run("quantize", model_files["pt"], "--to", "onnx", "--calib", subset / "named",
               "--samples", "8", "--eval-data", subset / "named", "--out", tmp_path, "--json")  # fmt: skip
    assert res.exit_code in (0, 1), res.output  # 1: the accuracy gate, a verdict on the model
    doc = json.loads(res.stdout)
    assert doc["report"]["eval_samples"] == len(open_split(subset / "named", "test", 32))
