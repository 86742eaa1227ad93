"""ONNX Runtime backend.

Providers are tried in the order given (a profile lists them: TensorRT, CUDA, XNNPACK, CPU); one that
is not available here is dropped with a warning, or is an error with ``strict=True``. ``providers``
reports what the session really uses. Before ONNX Runtime opens a file, a protobuf walk refuses
corrupted files and external data outside the model's folder.
"""

from __future__ import annotations

import contextlib
import io
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from edgeres.errors import (
    EngineUnavailable,
    MissingDependencyError,
    ModelFileError,
    UsageError,
    unknown_name,
)
from edgeres.formats.base import Engine, Probe
from edgeres.formats.onnx import open_checked, precision_of, read_onnx_metadata
from edgeres.runtime.base import Backend, OpTime, check_threads, first_line
from edgeres.runtime.common import check_batch, class_count, resolve_info, run_in_batches
from edgeres.spec import InputSpec

CPU = "CPUExecutionProvider"
# Short names accepted besides ONNX Runtime's own, so profiles and flags can say "cuda".
_SHORT = {
    "cpu": CPU,
    "cuda": "CUDAExecutionProvider",
    "tensorrt": "TensorrtExecutionProvider",
    "trt": "TensorrtExecutionProvider",
    "xnnpack": "XnnpackExecutionProvider",
    "coreml": "CoreMLExecutionProvider",
    "openvino": "OpenVINOExecutionProvider",
    "dml": "DmlExecutionProvider",
}
GRAPH_OPT = {
    "disable": "ORT_DISABLE_ALL",
    "basic": "ORT_ENABLE_BASIC",
    "extended": "ORT_ENABLE_EXTENDED",
    "all": "ORT_ENABLE_ALL",
}
_FLOAT_INPUTS = {"tensor(float)": np.float32, "tensor(float16)": np.float16}


def _ort() -> Any:
    try:
        import onnxruntime
    except ImportError:
        raise EngineUnavailable(
            "running .onnx files needs onnxruntime (part of the core install): pip install onnxruntime"
        ) from None
    return onnxruntime


def pick_providers(requested: Sequence[str] | None, strict: bool = False) -> list[str]:
    """Map provider names to the available ones, in order, always ending with the CPU."""
    ort = _ort()
    available = ort.get_available_providers()
    names = list(requested) if requested else [CPU]
    known = set(ort.get_all_providers())
    chosen = []
    for name in names:
        full = _SHORT.get(name.lower(), name)
        if full not in known:
            raise unknown_name("ONNX Runtime provider", name, sorted(known | set(_SHORT)))
        if full in available:
            chosen.append(full)
            continue
        msg = f"ONNX Runtime provider {full} is not available here (available: {', '.join(available)})"
        if strict:
            raise MissingDependencyError(
                f"{msg}; install the onnxruntime build that has it, or drop it (no --strict)"
            )
        warnings.warn(f"{msg}; falling back to the next provider", UserWarning, stacklevel=3)
    if CPU not in chosen:
        chosen.append(CPU)
    return list(dict.fromkeys(chosen))


class OnnxBackend(Backend):
    """A ``.onnx`` file on ONNX Runtime.

    Args:
        path: The model file.
        info: Use this ``ModelInfo`` instead of the embedded one.
        providers: Execution providers in order of preference (full or short names).
        threads: Intra-op threads (None: ONNX Runtime's default, one per core).
        graph_opt: Graph optimisation level, one of ``disable|basic|extended|all``.
        strict: Make an unavailable provider an error instead of a warning.
        spec_override: ``InputSpec`` or dict of its fields replacing the embedded/defaulted spec.
        classes: Class names replacing the embedded/defaulted ones.
    """

    format = "onnx"
    engine = "onnxruntime"

    def __init__(
        self,
        path: str | Path,
        info: Any = None,
        providers: Sequence[str] | None = None,
        threads: int | None = None,
        graph_opt: str = "all",
        strict: bool = False,
        spec_override: InputSpec | dict | None = None,
        classes: Sequence[str] | None = None,
    ) -> None:
        self.path = Path(path)
        ort = _ort()
        scan = open_checked(self.path)
        requested = pick_providers(providers, strict)
        self.session = self._session(ort, requested, threads, graph_opt)
        self.providers = list(self.session.get_providers())
        missing = [p for p in requested if p not in self.providers]
        if missing:
            msg = f"ONNX Runtime could not start {', '.join(missing)}; running on {', '.join(self.providers)}"
            if strict:
                raise MissingDependencyError(msg)
            warnings.warn(msg, UserWarning, stacklevel=2)
        try:
            self._setup_io(info, spec_override, classes, precision_of(scan))
        except UnicodeDecodeError as e:  # names that are not UTF-8: a corrupted file
            raise ModelFileError(
                f"'{self.path}' is not a valid ONNX file (garbled names: {e})"
            ) from None

    def _session(self, ort: Any, providers: list[str], threads: int | None, graph_opt: str) -> Any:
        if graph_opt not in GRAPH_OPT:
            raise UsageError(f"graph_opt must be one of {', '.join(GRAPH_OPT)}, got '{graph_opt}'")
        opts = ort.SessionOptions()
        opts.graph_optimization_level = getattr(ort.GraphOptimizationLevel, GRAPH_OPT[graph_opt])
        check_threads(threads)
        if threads is not None:
            opts.intra_op_num_threads = threads
        opts.inter_op_num_threads = 1
        opts.log_severity_level = 3  # ORT's own warnings would duplicate ours on stderr
        try:
            # ORT prints its provider-fallback retries with print(); keep stdout clean for --json.
            with contextlib.redirect_stdout(io.StringIO()):
                return ort.InferenceSession(str(self.path), sess_options=opts, providers=providers)
        except Exception as e:  # ORT raises its own pybind exception types
            raise ModelFileError(f"ONNX Runtime cannot load '{self.path}': {first_line(e)}") from e

    def _setup_io(self, info: Any, spec_override: Any, classes: Any, precision: str) -> None:
        inputs, outputs = self.session.get_inputs(), self.session.get_outputs()
        if len(inputs) != 1 or inputs[0].type not in _FLOAT_INPUTS:
            got = ", ".join(f"{i.name}: {i.type}{i.shape}" for i in inputs)
            raise ModelFileError(
                f"'{self.path}' must take one float image tensor; it takes {got or 'nothing'}"
            )
        inp, out = inputs[0], outputs[0]
        self.input_name, self.output_name = inp.name, out.name
        self._input_dtype = _FLOAT_INPUTS[inp.type]
        shape = [d if isinstance(d, int) else -1 for d in inp.shape]
        self.fixed_batch = shape[0] if shape and shape[0] > 0 else None
        n_out = class_count(out.shape or [])
        embedded = info or read_onnx_metadata(self.session.get_modelmeta().custom_metadata_map)
        self.info = resolve_info(
            self.path, embedded, shape, n_out, precision, spec_override, classes
        )

    def infer(self, batch: np.ndarray) -> np.ndarray:
        """Run a float32 batch shaped ``spec.shape(n)``; return float32 logits ``n x classes``."""
        batch = check_batch(batch, self.spec)
        if self._input_dtype is not np.float32:
            batch = batch.astype(self._input_dtype)
        return run_in_batches(batch, self.fixed_batch, self._run, self.path.name)

    def _run(self, batch: np.ndarray) -> np.ndarray:
        try:
            out = self.session.run([self.output_name], {self.input_name: batch})[0]
        except Exception as e:  # the input was checked: a failure here is the model's
            raise ModelFileError(
                f"ONNX Runtime failed running '{self.path}': {first_line(e)}"
            ) from e
        return out.astype(np.float32, copy=False).reshape(batch.shape[0], -1)

    def op_profile(self, batch: np.ndarray, runs: int) -> list[OpTime]:
        """ONNX Runtime's profiler on a second session of the same file and options."""
        import json
        import tempfile

        ort = _ort()
        batch = check_batch(batch, self.spec)[:1]
        with tempfile.TemporaryDirectory(prefix="edgeres-ops-") as tmp:
            opts = ort.SessionOptions()
            opts.enable_profiling = True
            opts.profile_file_prefix = str(Path(tmp) / "ort")
            opts.log_severity_level = 3
            opts.intra_op_num_threads = self.session.get_session_options().intra_op_num_threads
            session = ort.InferenceSession(str(self.path), opts, providers=self.providers)
            for _ in range(runs):
                session.run([self.output_name], {self.input_name: batch})
            events = json.loads(Path(session.end_profiling()).read_text())
        totals: dict[tuple[str, str, str], float] = {}
        for e in events:
            if e.get("cat") == "Node" and e.get("name", "").endswith("_kernel_time"):
                args = e.get("args", {})
                key = (
                    e["name"][: -len("_kernel_time")],
                    args.get("op_name", ""),
                    args.get("provider", ""),
                )
                totals[key] = totals.get(key, 0.0) + e.get("dur", 0) / 1000.0
        return [
            OpTime(name, op, ms / runs, provider.replace("ExecutionProvider", ""), _integer_op(op))
            for (name, op, provider), ms in totals.items()
        ]

    def close(self) -> None:
        self.session = None


# Compute operators: in float they are the INT8 file's leftover float work.
_FLOAT_COMPUTE = {"Conv", "ConvTranspose", "Gemm", "MatMul"}


def _integer_op(op_type: str) -> bool | None:
    """Whether an ONNX Runtime kernel computes in integers (None: not a compute operator)."""
    if op_type.startswith("QLinear") or op_type.endswith("Integer") or op_type.startswith("QGemm"):
        return True
    return False if op_type in _FLOAT_COMPUTE else None


def probe(engine: Engine) -> Probe:
    """``doctor``'s look at ONNX Runtime: its version and the providers this build has."""
    import onnxruntime as ort

    providers = tuple(ort.get_available_providers())
    return Probe(f"{ort.__version__}; providers: {', '.join(providers)}", providers)
