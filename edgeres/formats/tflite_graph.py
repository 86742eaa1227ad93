"""The TFLite graph as the file states it: tensors and operators of the main subgraph.

One reader for everything that looks inside a ``.tflite`` (``inspect``, MAC counting, the
full-integer check, the float-layer search): ``tflite_verify.read_graph`` returns what the
structural verifier collects on its walk through the flatbuffer, so every offset was
bounds-checked before it was read, no interpreter is started and no private interpreter API
(``_get_ops_details``) is used.
Field numbers are the TFLite schema's (``schema.fbs``: ``Tensor``, ``Operator``, ``SubGraph``).
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np

# TensorType -> numpy dtype name (``schema.fbs``); the types numpy lacks keep the schema's name.
_DTYPES = {
    0: "float32", 1: "float16", 2: "int32", 3: "uint8", 4: "int64", 5: "string", 6: "bool",
    7: "int16", 8: "complex64", 9: "int8", 10: "float64", 11: "complex128", 12: "uint64",
    13: "resource", 14: "variant", 15: "uint32", 16: "uint16", 17: "int4", 18: "bfloat16",
}  # fmt: skip


@dataclass(frozen=True)
class Tensor:
    """One tensor of the graph.

    Attributes:
        index: Its position in the subgraph's tensor list (what operators refer to).
        name: The name the converter gave it.
        shape: Declared shape, as the file stores it.
        signature: ``shape_signature`` (``-1`` for dynamic dimensions), else ``shape``.
        dtype: Element type as a numpy dtype name (``"float32"``, ``"int8"``...).
        constant: Whether its buffer holds data (a weight or bias).
        scale: Quantization scales (empty for float tensors).
        zero_point: Quantization zero points.
    """

    index: int
    name: str
    shape: tuple[int, ...]
    signature: tuple[int, ...]
    dtype: str
    constant: bool
    scale: tuple[float, ...] = ()
    zero_point: tuple[int, ...] = ()

    @property
    def is_float(self) -> bool:
        return self.dtype in ("float32", "float16", "float64", "bfloat16")

    @property
    def quantization(self) -> tuple[float, int]:
        """``(scale, zero_point)`` of a per-tensor quantized tensor, ``(0.0, 0)`` otherwise."""
        if len(self.scale) != 1:
            return 0.0, 0
        return float(self.scale[0]), int(self.zero_point[0]) if self.zero_point else 0

    def numpy_dtype(self) -> np.dtype | None:
        try:
            return np.dtype(self.dtype)
        except TypeError:
            return None


@dataclass(frozen=True)
class Operator:
    """One operator: its builtin name (or custom code) and the tensors it reads and writes
    (``-1`` marks an optional input left out)."""

    index: int
    name: str
    inputs: tuple[int, ...]
    outputs: tuple[int, ...]


@dataclass(frozen=True)
class Graph:
    """The main subgraph (subgraph 0, the one the interpreter runs)."""

    tensors: tuple[Tensor, ...]
    operators: tuple[Operator, ...]
    inputs: tuple[int, ...]
    outputs: tuple[int, ...]

    def input_tensors(self) -> list[Tensor]:
        return [self.tensors[i] for i in self.inputs]

    def output_tensors(self) -> list[Tensor]:
        return [self.tensors[i] for i in self.outputs]

    def constants(self) -> list[Tensor]:
        """Tensors operators read that nothing computes and the caller does not feed: weights."""
        produced = {t for op in self.operators for t in op.outputs}
        read = {t for op in self.operators for t in op.inputs if t >= 0}
        return [self.tensors[t] for t in sorted(read - produced - set(self.inputs))]


def dtype_name(code: int) -> str:
    """The numpy dtype name of a TFLite ``TensorType`` code."""
    return _DTYPES.get(code, f"type{code}")


@functools.cache
def _builtin_names() -> dict[int, str]:
    # The schema's enum (pure Python, no interpreter); without it an op is named by its number.
    try:
        from ai_edge_litert.schema_py_generated import BuiltinOperator
    except ImportError:
        return {}
    return {v: k for k, v in vars(BuiltinOperator).items() if isinstance(v, int)}


def op_name(builtin_code: int, custom_code: str) -> str:
    """An operator code's name: ``CONV_2D``..., or the custom code of a custom operator."""
    if builtin_code == 32 and custom_code:  # BuiltinOperator.CUSTOM
        return custom_code
    return _builtin_names().get(builtin_code, f"BUILTIN_{builtin_code}")
