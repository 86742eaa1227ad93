"""ONNX Runtime providers: order, fallback with a warning, strict failure, what really runs."""

from __future__ import annotations

import pytest

from edgeres import runtime
from edgeres.errors import MissingDependencyError, UsageError


def test_missing_cuda_falls_back_to_cpu_with_a_warning(model_files):
    with pytest.warns(UserWarning, match="CUDAExecutionProvider is not available"):
        backend = runtime.load(
            model_files["onnx"], providers=["CUDAExecutionProvider", "CPUExecutionProvider"]
        )
    with backend:
        assert backend.providers == ["CPUExecutionProvider"]


def test_profile_order_tensorrt_cuda_cpu(model_files):
    with pytest.warns(UserWarning, match="TensorrtExecutionProvider"):
        backend = runtime.load(model_files["onnx"], profile="jetson-orin-nano")
    assert backend.providers == ["CPUExecutionProvider"]


def test_strict_makes_a_missing_provider_an_error(model_files):
    with pytest.raises(MissingDependencyError, match="CUDAExecutionProvider"):
        runtime.load(model_files["onnx"], providers=["cuda"], strict=True)


def test_unknown_provider_name_offers_close_matches(model_files):
    with pytest.raises(UsageError, match="did you mean"):
        runtime.load(model_files["onnx"], providers=["CPUExecutionProvidr"])


def test_engine_options(model_files):
    with runtime.load(
        model_files["onnx"], threads=1, graph_opt="basic", providers=["cpu"]
    ) as backend:
        assert backend.providers == ["CPUExecutionProvider"]
    with pytest.raises(UsageError, match="graph_opt"):
        runtime.load(model_files["onnx"], graph_opt="max")
    with pytest.raises(UsageError, match="threads"):
        runtime.load(model_files["onnx"], threads=0)


# LiteRT's Delegate.__del__ trips over the delegate that failed to load; harmless, not ours.
@pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")
def test_missing_tflite_delegate_falls_back(model_files, tmp_path):
    with pytest.warns(UserWarning, match="could not be loaded"):
        backend = runtime.load(
            model_files["tflite"], delegates=[str(tmp_path / "libnope.so"), "xnnpack"]
        )
    assert backend.providers[0] == "XNNPACK"
    with pytest.raises(MissingDependencyError):
        runtime.load(model_files["tflite"], delegates=[str(tmp_path / "libnope.so")], strict=True)
