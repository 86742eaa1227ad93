"""TFLite backend: LiteRT (``ai_edge_litert``), else ``tflite_runtime``, else ``tensorflow.lite``.

The file is verified structurally (``tflite_verify``) before the interpreter sees it. INT8/UINT8
inputs and outputs are quantized and dequantized here with the tensors' own scale and zero point,
so callers pass float batches and get float logits. ``spec`` describes what ``infer`` takes: NHWC
when the file's input is NHWC (what edgeres exports), NCHW when it is NCHW.
"""

from __future__ import annotations

import importlib
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from edgeres.errors import EngineUnavailable, MissingDependencyError, ModelFileError, UsageError
from edgeres.formats.base import Engine, Probe
from edgeres.formats.tflite import embedded_info
from edgeres.formats.tflite_verify import verify_tflite
from edgeres.runtime.base import Backend, check_threads, first_line
from edgeres.runtime.common import check_batch, resolve_info
from edgeres.spec import InputSpec

DEFAULT_DELEGATE = "xnnpack"


def interpreters() -> list[tuple[str, Engine]]:
    """Interpreter modules in order of preference, each with its row of the format table."""
    from edgeres.formats import FORMATS

    return [
        (e.options["engine"], e)
        for fmt in FORMATS.values()
        for e in fmt.engines
        if e.backend.endswith(":TFLiteBackend") and "engine" in e.options
    ]


def interpreter_module(engine: str | None = None) -> Any:
    """The first importable interpreter module (or the one named by ``engine``: its module, or
    the package it lives in)."""
    known = interpreters()
    names = [m for m, _ in known if engine in (None, m, m.split(".")[0])]
    if not names:
        valid = ", ".join(m.split(".")[0] for m, _ in known)
        raise UsageError(f"unknown TFLite engine '{engine}' (valid: {valid})")
    for name in names:
        try:
            return importlib.import_module(name)
        except ImportError:
            continue
        except Exception as e:  # tflite_runtime built for numpy 1.x raises on import under numpy 2
            warnings.warn(f"{name} is installed but cannot load: {e}", UserWarning, stacklevel=2)
    hints = "; or ".join(e.install for _, e in known)
    raise EngineUnavailable(f"running .tflite files needs a TFLite interpreter: {hints}")


class TFLiteBackend(Backend):
    """A ``.tflite`` file on a TFLite interpreter.

    Args:
        path: The model file.
        info: Use this ``ModelInfo`` instead of the embedded one.
        threads: Interpreter threads (None: the engine's default).
        delegates: Delegates in order: ``"xnnpack"`` (the default CPU delegate), ``"cpu"`` (plain
            kernels, no default delegate) or a path to a delegate library.
        strict: Make a delegate that fails to load an error instead of a warning.
        spec_override: ``InputSpec`` or dict of its fields replacing the embedded/defaulted spec.
        classes: Class names replacing the embedded/defaulted ones.
        engine: Force one interpreter package (``ai_edge_litert``, ``tflite_runtime``, ``tensorflow``).
    """

    format = "tflite"

    def __init__(
        self,
        path: str | Path,
        info: Any = None,
        threads: int | None = None,
        delegates: Sequence[str] | None = None,
        strict: bool = False,
        spec_override: InputSpec | dict | None = None,
        classes: Sequence[str] | None = None,
        engine: str | None = None,
    ) -> None:
        self.path = Path(path)
        try:
            data = self.path.read_bytes()
        except OSError as e:
            raise ModelFileError(f"cannot read '{self.path}': {e.strerror}") from None
        summary = verify_tflite(data, self.path)
        module = interpreter_module(engine)
        self.interpreter_package = module.__name__.split(".")[0]
        check_threads(threads)
        self.interpreter, self.providers = self._open(
            module, data, threads, delegates or [DEFAULT_DELEGATE], strict
        )
        embedded = info or embedded_info(data, summary, self.path)
        try:
            self._setup_io(embedded, spec_override, classes)
        except UnicodeDecodeError as e:  # tensor names that are not UTF-8: a corrupted file
            raise ModelFileError(
                f"'{self.path}' is not a valid TFLite file (garbled names: {e})"
            ) from None

    def _open(
        self, module: Any, data: bytes, threads: int | None, delegates: Sequence[str], strict: bool
    ) -> tuple[Any, list[str]]:
        loaded, names = [], []
        plain_cpu = False
        for name in delegates:
            key = name.lower()
            if key == DEFAULT_DELEGATE:
                names.append("XNNPACK")
            elif key == "cpu":
                plain_cpu = True
            else:
                try:
                    loaded.append(_api(module, "load_delegate")(name))
                    names.append(Path(name).stem)
                except (ValueError, OSError, RuntimeError, TypeError) as e:
                    msg = f"TFLite delegate '{name}' could not be loaded ({e})"
                    if strict:
                        raise MissingDependencyError(f"{msg}; install it or drop it") from None
                    warnings.warn(f"{msg}; falling back to the next one", UserWarning, stacklevel=3)
        kwargs: dict[str, Any] = {"model_content": data, "num_threads": threads}
        if loaded:
            kwargs["experimental_delegates"] = loaded
        resolver = _api(module, "OpResolverType")
        if plain_cpu and "XNNPACK" not in names and resolver is not None:
            kwargs["experimental_op_resolver_type"] = resolver.BUILTIN_WITHOUT_DEFAULT_DELEGATES
        elif "XNNPACK" not in names:
            names.append("XNNPACK")  # applied by default unless the resolver type says otherwise
        try:
            interpreter = module.Interpreter(**kwargs)
            interpreter.allocate_tensors()
        except (ValueError, RuntimeError) as e:  # UnicodeDecodeError is a ValueError
            raise ModelFileError(
                f"the TFLite interpreter cannot load '{self.path}': {first_line(e)}"
            ) from None
        return interpreter, [*names, "CPU"]

    def _setup_io(self, embedded: Any, spec_override: Any, classes: Any) -> None:
        inputs, outputs = (
            self.interpreter.get_input_details(),
            self.interpreter.get_output_details(),
        )
        if len(inputs) != 1 or len(outputs) < 1:
            shapes = ", ".join(str([int(d) for d in i["shape"]]) for i in inputs)
            raise ModelFileError(
                f"'{self.path}' takes {len(inputs)} inputs ({shapes}); edgeres runs image "
                "classifiers with one image input"
            )
        inp, out = inputs[0], outputs[0]
        self._in_index, self._out_index = inp["index"], out["index"]
        self._in_dtype = np.dtype(inp["dtype"])
        self._in_quant = _quant(inp, "input")
        self._out_quant = _quant(out, "output")
        if self._in_dtype not in (np.float32, np.int8, np.uint8):
            raise ModelFileError(
                f"'{self.path}' takes {self._in_dtype} input; edgeres runs float32, int8 and uint8"
            )
        shape = [int(d) for d in inp.get("shape_signature", inp["shape"])]
        self.fixed_batch = int(inp["shape"][0]) if shape and shape[0] > 0 else None
        self._batch = int(inp["shape"][0])
        precision = "int8" if self._in_dtype != np.float32 or self._out_quant else "fp32"
        n_out = int(out["shape"][-1])
        self.info = resolve_info(
            self.path, embedded, shape, n_out, precision, spec_override, classes
        )

    def infer(self, batch: np.ndarray) -> np.ndarray:
        """Run a float32 batch shaped ``spec.shape(n)``; return float32 logits ``n x classes``."""
        batch = check_batch(batch, self.spec)
        if self._in_quant is not None:
            batch = _quantize(batch, *self._in_quant, self._in_dtype)
        n = batch.shape[0]
        if self.fixed_batch not in (None, n) and self.fixed_batch != 1:
            raise UsageError(
                f"'{self.path.name}' takes batches of exactly {self.fixed_batch}, got {n}"
            )
        if self.fixed_batch is None and self._batch != n:  # dynamic batch: resize once per size
            self.interpreter.resize_tensor_input(self._in_index, list(batch.shape))
            self.interpreter.allocate_tensors()
            self._batch = n
        if self.fixed_batch in (None, n):
            out = self._run(batch)
        else:  # batch-1 files (what litert-torch exports) run image by image
            out = np.concatenate([self._run(batch[i : i + 1]) for i in range(n)])
        if self._out_quant is not None:
            scale, zero = self._out_quant
            return (out.astype(np.float32) - zero) * scale
        return out.astype(np.float32, copy=False)

    def _run(self, batch: np.ndarray) -> np.ndarray:
        it = self.interpreter
        it.set_tensor(self._in_index, batch)
        try:
            it.invoke()
        except RuntimeError as e:  # the input was checked: a failure here is the model's
            raise ModelFileError(
                f"the TFLite interpreter failed running '{self.path}': {first_line(e)}"
            ) from e
        out = it.get_tensor(self._out_index)
        return out.reshape(batch.shape[0], -1)

    def close(self) -> None:
        self.interpreter = None


def _quant(detail: dict, what: str) -> tuple[float, int] | None:
    """``(scale, zero_point)`` of an integer tensor, None for float tensors."""
    if np.dtype(detail["dtype"]) == np.float32:
        return None
    scale, zero = detail.get("quantization", (0.0, 0))
    if not scale:
        raise ModelFileError(
            f"the model's {what} is {np.dtype(detail['dtype'])} without a quantization scale"
        )
    return float(scale), int(zero)


def _quantize(batch: np.ndarray, scale: float, zero: int, dtype: np.dtype) -> np.ndarray:
    info = np.iinfo(dtype)
    q = np.rint(batch / np.float32(scale)) + zero
    return np.clip(q, info.min, info.max).astype(dtype)


def _api(module: Any, name: str) -> Any:
    """``name`` from the interpreter module (``tensorflow.lite`` keeps it under ``experimental``)."""
    return getattr(module, name, None) or getattr(getattr(module, "experimental", None), name, None)


def probe(engine: Engine) -> Probe:
    """``doctor``'s look at one TFLite interpreter row: import it, say its version."""
    importlib.import_module(engine.options["engine"])
    return Probe(engine.installed_version() or "installed")
