"""TFLite files made elsewhere: without edgeres metadata, with TFLite Support metadata, or not
image classifiers at all, through every device command."""

from __future__ import annotations

import json
import warnings

import numpy as np
import pytest
from click.testing import CliRunner
from tflite_support_writer import support_metadata, with_support_metadata

from edgeres import runtime
from edgeres.cli import main
from edgeres.errors import ModelFileError
from edgeres.formats import read_metadata
from edgeres.formats.tflite_support import MAX_LABEL_BYTES

BUDGET = ["--runs", "3", "--warmup", "1", "--min-time", "0.01", "--warmup-time", "0.01"]


def _run(*args):
    return CliRunner().invoke(main, [str(a) for a in args])


def _support_args(model_files, key):
    """TFLite Support's mean/std (on 0..255 pixels) and labels saying what edgeres' metadata says."""
    spec, classes = read_metadata(model_files[key]).spec, read_metadata(model_files[key]).classes
    return [m / spec.scale for m in spec.mean], [s / spec.scale for s in spec.std], list(classes)


@pytest.fixture(scope="module")
def support(model_files, tmp_path_factory):
    """``tflite`` and ``tflite_int8`` stripped of edgeres metadata, given TFLite Support's."""
    out = tmp_path_factory.mktemp("support")
    files = {}
    for key in ("tflite", "tflite_int8"):
        mean, std, labels = _support_args(model_files, key)
        files[key] = with_support_metadata(
            model_files[key], out / f"{key}.tflite", mean, std, labels
        )
    return files


@pytest.fixture(scope="module")
def not_classifiers(tmp_path_factory):
    """Real litert-torch exports of a two-image-input graph and of a vector-input one."""
    import litert_torch
    import torch

    class Two(torch.nn.Module):
        def forward(self, a, b):
            return a.mean(dim=(1, 2)) + b.mean(dim=(1, 2))

    out = tmp_path_factory.mktemp("odd")
    image = torch.randn(1, 8, 8, 3)
    made = {
        "two_inputs": litert_torch.convert(Two().eval(), (image, image)),
        "vector": litert_torch.convert(torch.nn.Linear(10, 4).eval(), (torch.randn(1, 10),)),
    }
    for name, edge in made.items():
        (out / f"{name}.tflite").write_bytes(bytes(edge.model_content()))
    return {name: out / f"{name}.tflite" for name in made}


def _predictions(path, shapes_test):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        with runtime.load(path, engine="litert") as backend:
            result = runtime.evaluate(backend, shapes_test, quiet=True)
            classes = backend.info.classes
    return result.predictions, classes, [str(w.message) for w in caught]


@pytest.mark.parametrize("key", ["tflite", "tflite_int8"])
def test_support_metadata_gives_normalisation_and_labels(key, model_files, support, shapes_test):
    ours, ours_classes, _ = _predictions(model_files[key], shapes_test)
    theirs, classes, notes = _predictions(support[key], shapes_test)
    assert classes == ours_classes
    np.testing.assert_array_equal(theirs, ours)
    assert any("TFLite Support metadata" in n and "10 labels from labels.txt" in n for n in notes)
    # Without it the defaults are assumed, and this model then predicts otherwise.
    bare, bare_classes, notes = _predictions(model_files[f"{key}_nometa"], shapes_test)
    assert bare_classes == tuple(str(i) for i in range(10)) and (bare != ours).any()
    assert any("no edgeres metadata" in n for n in notes)


def test_support_metadata_without_normalisation_or_label_zip(model_files, tmp_path):
    mean, std, labels = _support_args(model_files, "tflite")
    path = with_support_metadata(model_files["tflite"], tmp_path / "a.tflite", mean, std, None,
                                 normalize=False)  # fmt: skip
    info = read_metadata(path)
    assert info.classes == tuple(str(i) for i in range(10)) and info.spec.mean == (0.0, 0.0, 0.0)
    assert "no normalisation given" in info.extra["assumed"]


def test_support_metadata_is_read_as_bounded_data(model_files, tmp_path):
    from tflite_support_writer import rewrite_metadata

    src = model_files["tflite"]
    bad = rewrite_metadata(src, tmp_path / "bad.tflite", {"TFLITE_METADATA": b"\x08\0\0\0M001xx"})
    with pytest.raises(ModelFileError, match="malformed TFLite Support metadata"):
        read_metadata(bad)
    zero = support_metadata("m", [0.0], [0.0], None)
    path = rewrite_metadata(src, tmp_path / "zero.tflite", {"TFLITE_METADATA": zero})
    with pytest.raises(ModelFileError, match="std"):
        read_metadata(path)
    big = with_support_metadata(src, tmp_path / "big.tflite", [0.0], [1.0], ["x" * 999] * 4300)
    assert len(big.read_bytes()) < MAX_LABEL_BYTES  # deflated; the label file itself is over
    with pytest.raises(ModelFileError, match="over the limit"):
        read_metadata(big)


@pytest.mark.slow
@pytest.mark.parametrize("kind", ["tflite_int8_nometa", "support"])
def test_every_device_command_runs_on_a_tflite_file_from_elsewhere(
    kind, model_files, support, sample_images
):
    path = support["tflite"] if kind == "support" else model_files[kind]
    note = "TFLite Support metadata" if kind == "support" else "no edgeres metadata"
    res = _run("inspect", path, "--json")
    assert res.exit_code == 0, res.output
    facts = json.loads(res.stdout)
    assert facts["input_shape"] == [1, 32, 32, 3]
    said = facts.get("assumed") or facts["provenance"]["assumed"]
    assert "NHWC 32x32" in said and ("[0, 1]" in said) == (kind != "support")
    res = _run("predict", path, *sample_images, "--json")
    assert res.exit_code == 0, res.output
    assert note in res.stderr and len(json.loads(res.stdout)["results"]) == len(sample_images)
    res = _run("eval", path, "--data", "shapes", "--limit", "16", "--json")
    assert res.exit_code == 0, res.output
    assert json.loads(res.stdout)["total"] == 16 and note in res.stderr
    res = _run("benchmark", path, *BUDGET, "--threads", "1", "--json")
    assert res.exit_code == 0, res.output
    assert any(note in n for n in json.loads(res.stdout)["notes"])
    res = _run("tune", path, "--threads", "1", "--engines", "litert", "--min-time", "0.05",
               "--trials", "1", "--json")  # fmt: skip
    assert res.exit_code == 0, res.output
    doc = json.loads(res.stdout)
    assert doc["rows"][0]["result"] and any(note in n for n in doc["notes"])


@pytest.mark.slow
def test_several_inputs_or_a_vector_input_refused_in_one_line(not_classifiers, sample_images):
    for name, words in (("two_inputs", "2 inputs"), ("vector", "shape [1, 10]")):
        path = not_classifiers[name]
        res = _run("inspect", path, "--json")
        assert res.exit_code == 0, res.output  # described, not refused
        doc = json.loads(res.stdout)
        assert doc.get("inputs", doc["input_shape"]) == (
            [[1, 8, 8, 3]] * 2 if name == "two_inputs" else [1, 10]
        )
        for args in (["predict", path, sample_images[0]],
                     ["eval", path, "--data", "shapes", "--limit", "4"],
                     ["benchmark", path, *BUDGET, "--threads", "1"]):  # fmt: skip
            res = _run(*args)
            lines = [ln for ln in res.stderr.splitlines() if ln.startswith("error:")]
            assert res.exit_code == 2 and len(lines) == 1 and words in lines[0], res.output
            assert "Traceback" not in res.output
