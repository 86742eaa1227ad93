"""Every backend x FP32/INT8 x with/without metadata, through `runtime.load`."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from edgeres import runtime
from edgeres.data.shapes import CLASSES  # what `tiny_ckpt` was trained on
from edgeres.errors import UsageError
from edgeres.spec import DEFAULT_MEAN, DEFAULT_STD, InputSpec

WITH_META = ["pt", "onnx", "onnx_int8", "tflite", "tflite_nchw", "tflite_int8"]
NO_META = ["onnx_nometa", "onnx_int8_nometa", "tflite_nometa", "tflite_int8_nometa"]
LAYOUT = {
    "pt": "NCHW",
    "onnx": "NCHW",
    "onnx_int8": "NCHW",
    "tflite": "NHWC",
    "tflite_nchw": "NCHW",
    "tflite_int8": "NHWC",
}


def _load(path, **kw):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        backend = runtime.load(path, **kw)
    return backend, [str(w.message) for w in caught if issubclass(w.category, UserWarning)]


@pytest.fixture(scope="module")
def reference(model_files, shapes_test):
    """Float logits of the checkpoint on the test images."""
    with runtime.load(model_files["pt"]) as pt:
        return pt.infer(pt.spec.normalize(shapes_test.images))


@pytest.mark.parametrize("key", WITH_META)
def test_backend_with_metadata(key, model_files, shapes_test, reference):
    backend, warned = _load(model_files[key])
    with backend:
        assert not warned
        assert backend.format == model_files[key].suffix.lstrip(".").replace("pt", "pytorch")
        assert backend.info.name == "test_resnet"
        assert backend.info.classes[0] == CLASSES[0]
        assert backend.spec.layout == LAYOUT[key]
        assert backend.providers and isinstance(backend.providers[0], str)
        logits = backend.infer(backend.spec.normalize(shapes_test.images))
        assert logits.shape == reference.shape and logits.dtype == np.float32
        top1 = logits.argmax(1) == reference.argmax(1)
        if "int8" in key:
            assert backend.info.precision == "int8"
            assert top1.mean() >= 0.9
        else:
            np.testing.assert_allclose(logits, reference, atol=1e-4)
            assert top1.all()


@pytest.mark.parametrize("key", NO_META)
def test_third_party_file_uses_defaults_with_a_warning(key, model_files):
    backend, warned = _load(model_files[key])
    with backend:
        assert any("no edgeres metadata" in w for w in warned)
        assert any("spec_override=" in w for w in warned)  # the library names its parameters
        assert backend.info.classes == tuple(str(i) for i in range(10))
        assert backend.spec.mean == DEFAULT_MEAN and backend.spec.std == DEFAULT_STD
        assert backend.spec.size == (32, 32)
        assert backend.info.precision == ("int8" if "int8" in key else "fp32")
        assert len(backend.predict(np.zeros((48, 64, 3), np.uint8), topk=3)[0].labels) == 3


@pytest.mark.parametrize("key", ["onnx_nometa", "tflite_nometa"])
def test_overrides_make_third_party_files_match(key, model_files, shapes_test, reference):
    with runtime.load(model_files["pt"]) as pt:
        spec = pt.spec
    override = {"mean": spec.mean, "std": spec.std}
    classes = [f"c{i}" for i in range(10)]
    backend, _ = _load(model_files[key], spec_override=override, classes=classes)
    with backend:
        assert backend.info.classes[3] == "c3"
        logits = backend.infer(backend.spec.normalize(shapes_test.images))
        np.testing.assert_allclose(logits, reference, atol=1e-4)
    whole = InputSpec(32, 32, layout=backend.spec.layout, mean=spec.mean, std=spec.std)
    with _load(model_files[key], spec_override=whole)[0] as b2:
        assert b2.spec == whole


@pytest.mark.parametrize("key", ["pt", "onnx", "tflite", "tflite_int8"])
def test_predict_takes_camera_frames(key, model_files):
    frame = np.random.default_rng(1).integers(0, 255, (480, 640, 3), dtype=np.uint8)
    with runtime.load(model_files[key]) as backend:
        one = backend.predict(frame, topk=3)
        many = backend.predict([frame, frame[:100, :200]], topk=1)
    assert len(one) == 1 and len(one[0].labels) == 3
    assert all(label in CLASSES for label in one[0].labels)
    assert sum(one[0].scores) <= 1.0 + 1e-6 and one[0].scores[0] >= one[0].scores[-1]
    assert many[0].indices[0] == one[0].indices[0] and len(many) == 2


@pytest.mark.parametrize("key", ["pt", "onnx", "tflite", "tflite_int8"])
def test_wrong_input_is_a_usage_error(key, model_files):
    with runtime.load(model_files[key]) as backend:
        good = np.zeros(backend.spec.shape(2), np.float32)
        with pytest.raises(UsageError, match="float32"):
            backend.infer(good.astype(np.float64))
        with pytest.raises(UsageError, match=r"got \(2, 3, 3, 3\)"):
            backend.infer(np.zeros((2, 3, 3, 3), np.float32))
        with pytest.raises(UsageError, match="numpy"):
            backend.infer([[1.0]])
        wrong_layout = (
            good.transpose(0, 3, 1, 2)
            if backend.spec.layout == "NHWC"
            else good.transpose(0, 2, 3, 1)
        )
        with pytest.raises(UsageError, match=backend.spec.layout):
            backend.infer(np.ascontiguousarray(wrong_layout))


def test_evaluate_all_fp32_formats_agree(model_files, shapes_test):
    results = {}
    for key in ("pt", "onnx", "tflite", "tflite_nchw"):
        with runtime.load(model_files[key]) as backend:
            results[key] = runtime.evaluate(backend, shapes_test, batch_size=64, quiet=True)
    ref = results["pt"]
    assert ref.total == len(shapes_test.labels) and 0 <= ref.accuracy <= 1
    assert ref.correct == int((ref.predictions == shapes_test.labels).sum())
    for r in results.values():
        np.testing.assert_array_equal(r.predictions, ref.predictions)
        assert r.seconds > 0 and r.images_per_second > 0
        assert set(r.to_dict()) >= {"accuracy", "correct", "total", "seconds", "images_per_second"}


def test_evaluate_rejects_images_of_the_wrong_size(model_files, shapes_test):
    from types import SimpleNamespace

    with runtime.load(model_files["onnx"]) as backend:
        with pytest.raises(UsageError, match="model takes 32x32"):
            runtime.evaluate(
                backend,
                SimpleNamespace(images=np.zeros((2, 16, 16, 3), np.uint8), labels=np.zeros(2)),
            )
        with pytest.raises(UsageError, match="batch size"):
            runtime.evaluate(backend, shapes_test, batch_size=0)


def test_profile_sets_threads_and_unknown_options_are_refused(model_files):
    with runtime.load(model_files["tflite"], profile="raspberry-pi-5") as backend:
        assert backend.providers[0] == "XNNPACK"
    with pytest.raises(UsageError, match="bogus"):
        runtime.load(model_files["onnx"], bogus=1)


def test_tflite_plain_cpu_delegate(model_files):
    with runtime.load(model_files["tflite"], delegates=["cpu"], threads=1) as backend:
        assert backend.providers == ["CPU"]
        assert backend.infer(np.zeros(backend.spec.shape(1), np.float32)).shape == (1, 10)
