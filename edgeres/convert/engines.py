"""Minimal raw runners for verifying exported files (parity, quantization report).

Verification talks to ONNX Runtime and LiteRT directly rather than through ``edgeres.runtime`` so
that a bug in the runtime's own pre/post-processing cannot hide (or cause) a conversion error.
Both take a float batch in the file's own layout and return float logits, looping over the batch
when the file's batch dimension is fixed.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np


class OnnxRunner:
    """ONNX Runtime on the CPU, float in, float out."""

    def __init__(self, path: str | Path, threads: int = 0) -> None:
        import onnxruntime as ort

        opts = ort.SessionOptions()
        opts.log_severity_level = 3
        if threads:
            opts.intra_op_num_threads = threads
        self.session = ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])
        inp = self.session.get_inputs()[0]
        self.input_name = inp.name
        self.fixed_batch = inp.shape[0] if isinstance(inp.shape[0], int) else None

    def infer(self, batch: np.ndarray) -> np.ndarray:
        """Logits for a float batch (the file's layout)."""
        batch = np.ascontiguousarray(batch, dtype=np.float32)
        if self.fixed_batch in (None, len(batch)):
            return self.session.run(None, {self.input_name: batch})[0]
        step = self.fixed_batch
        return np.concatenate(
            [
                self.session.run(None, {self.input_name: batch[i : i + step]})[0]
                for i in range(0, len(batch), step)
            ]
        )


class TFLiteRunner:
    """LiteRT (XNNPACK by default), float in, float out; int8 I/O is (de)quantized here."""

    def __init__(
        self, path: str | Path | None = None, *, content: bytes | None = None, threads: int = 0
    ) -> None:
        from ai_edge_litert.interpreter import Interpreter

        from edgeres.convert.common import native_stderr_silenced

        kw = {"num_threads": threads} if threads else {}
        source = {"model_content": content} if content is not None else {"model_path": str(path)}
        # LiteRT prints "Created TensorFlow Lite XNNPACK delegate" from C++ on every load.
        with native_stderr_silenced():
            self.interpreter = Interpreter(**source, **kw)
            self.interpreter.allocate_tensors()
        self.inp = self.interpreter.get_input_details()[0]
        self.out = self.interpreter.get_output_details()[0]

    def _one(self, x: np.ndarray) -> np.ndarray:
        dtype = self.inp["dtype"]
        if dtype != np.float32:
            scale, zero = self.inp["quantization"]
            info = np.iinfo(dtype)
            x = np.clip(np.round(x / scale) + zero, info.min, info.max).astype(dtype)
        self.interpreter.set_tensor(self.inp["index"], x)
        self.interpreter.invoke()
        y = self.interpreter.get_tensor(self.out["index"])
        if self.out["dtype"] != np.float32:
            scale, zero = self.out["quantization"]
            y = (y.astype(np.float32) - zero) * scale
        return y.astype(np.float32)

    def infer(self, batch: np.ndarray) -> np.ndarray:
        """Logits for a float NHWC batch."""
        step = int(self.inp["shape"][0])
        batch = np.ascontiguousarray(batch, dtype=np.float32)
        return np.concatenate([self._one(batch[i : i + step]) for i in range(0, len(batch), step)])


def runner_for(path: str | Path, threads: int = 0):
    """The runner for a ``.onnx`` or ``.tflite`` file."""
    if Path(path).suffix.lower() == ".tflite":
        return TFLiteRunner(path, threads=threads)
    return OnnxRunner(path, threads=threads)
