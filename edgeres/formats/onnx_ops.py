"""The ONNX operators ``formats.onnx_module`` reads, each as the PyTorch function computing it.

``OPS`` maps an operator name to ``function(inputs..., a=attributes)``; ``FOLD_ONLY`` holds the
shape arithmetic computed once when a module is built, never at run time. Semantics follow the
ONNX operator specification (opsets 11-21; older graphs are brought to 13 by
``onnx_normalize`` first); ``tests/byom/test_onnx_source.py`` checks the easily
mistaken variants (SAME padding, asymmetric pads, ceil-mode pooling, Gemm alpha/beta) against
ONNX Runtime.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from edgeres.errors import ModelFileError


def attributes(node) -> dict[str, Any]:
    import onnx

    return {a.name: onnx.helper.get_attribute_value(a) for a in node.attribute}


def _pads(pads: list[int] | None, dims: int = 2) -> tuple[list[int], bool]:
    """ONNX pads (begins then ends) as F.pad's order (last axis first); symmetric or not."""
    pads = list(pads or [0] * 2 * dims)
    begins, ends = pads[:dims], pads[dims:]
    torch_pad: list[int] = []
    for b, e in zip(reversed(begins), reversed(ends), strict=True):
        torch_pad += [b, e]
    return torch_pad, begins == ends


def _auto_pads(a: dict, size: tuple[int, int], kernel, strides, dilations) -> list[int] | None:
    mode = a.get("auto_pad", b"NOTSET")
    mode = mode.decode() if isinstance(mode, bytes) else mode
    if mode in ("NOTSET", ""):
        return a.get("pads")
    if mode == "VALID":
        return [0] * 4
    begins, ends = [], []
    for n, k, s, d in zip(size, kernel, strides, dilations, strict=True):
        out = math.ceil(n / s)
        total = max(0, (out - 1) * s + (k - 1) * d + 1 - n)
        small, big = total // 2, total - total // 2
        begins.append(big if mode == "SAME_LOWER" else small)
        ends.append(small if mode == "SAME_LOWER" else big)
    return begins + ends


def _conv(x, w, b=None, *, a):
    kernel = list(w.shape[2:])
    strides = a.get("strides", [1, 1])
    dilations = a.get("dilations", [1, 1])
    pads = _auto_pads(a, tuple(x.shape[2:]), kernel, strides, dilations)
    torch_pad, symmetric = _pads(pads)
    if symmetric:
        padding = torch_pad[::2][::-1]
    else:
        x, padding = F.pad(x, torch_pad), 0
    return F.conv2d(x, w, b, strides, padding, dilations, a.get("group", 1))


def _pool(x, *, a, kind: str):
    kernel = a["kernel_shape"]
    strides = a.get("strides", [1] * len(kernel))
    dilations = a.get("dilations", [1] * len(kernel))
    pads = _auto_pads(a, tuple(x.shape[2:]), kernel, strides, dilations)
    torch_pad, symmetric = _pads(pads)
    ceil = bool(a.get("ceil_mode", 0))
    if kind == "max":
        if not symmetric:
            x, torch_pad = F.pad(x, torch_pad, value=float("-inf")), [0] * 4
        return F.max_pool2d(x, kernel, strides, torch_pad[::2][::-1], dilations, ceil_mode=ceil)
    include = bool(a.get("count_include_pad", 0))
    if not symmetric:
        padded = F.pad(x, torch_pad)
        total = F.avg_pool2d(padded, kernel, strides, 0, ceil, True)
        if include:
            return total
        # Padding left out of the count (GoogLeNet's 7x7 pool padded [0, 0, 1, 1]): the window's
        # mean over the padded input, divided by the share of it that is real input.
        real = F.pad(torch.ones_like(x[:1, :1]), torch_pad)
        return total / F.avg_pool2d(real, kernel, strides, 0, ceil, True)
    return F.avg_pool2d(x, kernel, strides, torch_pad[::2][::-1], ceil, include)


def _gemm(x, w, b=None, *, a):
    if not a.get("transA", 0) and a.get("alpha", 1.0) == 1.0 and a.get("beta", 1.0) == 1.0:
        # F.linear: the op quantizers annotate (a matmul and an add stay float in TFLite)
        return F.linear(x, w if a.get("transB", 0) else w.transpose(0, 1), b)
    if a.get("transA", 0):
        x = x.transpose(0, 1)
    if a.get("transB", 0):
        w = w.transpose(0, 1)
    y = a.get("alpha", 1.0) * (x @ w)
    return y if b is None else y + a.get("beta", 1.0) * b


def _axes(a: dict, given) -> list[int] | None:
    axes = given if given is not None else a.get("axes")
    return None if axes is None else [int(v) for v in np.asarray(axes).reshape(-1)]


def _reduce(x, axes=None, *, a, fn: Callable):
    dims = _axes(a, axes)
    keep = bool(a.get("keepdims", 1))
    if dims is None:
        if a.get("noop_with_empty_axes", 0):
            return x
        dims = list(range(x.dim()))
    if fn is torch.mean and x.dim() == 4 and sorted(d % 4 for d in dims) == [2, 3]:
        # a global average pool (the dynamo exporter's): as one, so quantizers annotate it
        y = F.adaptive_avg_pool2d(x, 1)
        return y if keep else torch.flatten(y, 1)
    return fn(x, dim=dims, keepdim=keep)


def _reshape(x, shape, *, a):
    target = [int(v) for v in np.asarray(shape).reshape(-1)]
    if not a.get("allowzero", 0):
        target = [x.shape[i] if v == 0 else v for i, v in enumerate(target)]
    return x.reshape(target)


def _clip(x, lo=None, hi=None, *, a):
    lo = a.get("min") if lo is None else float(np.asarray(lo))
    hi = a.get("max") if hi is None else float(np.asarray(hi))
    return torch.clamp(x, lo, hi)


def _squeeze(x, axes=None, *, a):
    dims = _axes(a, axes)
    if dims is None:
        return x.squeeze()
    for d in sorted((d % x.dim() for d in dims), reverse=True):
        x = x.squeeze(d)
    return x


def _unsqueeze(x, axes=None, *, a):
    dims = _axes(a, axes)
    out_rank = (x.dim() if isinstance(x, torch.Tensor) else np.ndim(x)) + len(dims)
    for d in sorted(d % out_rank for d in dims):
        x = x.unsqueeze(d) if isinstance(x, torch.Tensor) else np.expand_dims(x, d)
    return x


def _pad(x, pads, value=None, axes=None, *, a):
    mode = a.get("mode", b"constant")
    mode = mode.decode() if isinstance(mode, bytes) else mode
    if axes is not None:
        raise ModelFileError("Pad with axes")
    pads = [int(v) for v in np.asarray(pads).reshape(-1)]
    dims = len(pads) // 2
    if any(pads[: dims - 2]) or any(pads[dims : 2 * dims - 2]):
        raise ModelFileError("Pad of the batch or channel axis")
    torch_pad, _ = _pads(pads[dims - 2 : dims] + pads[2 * dims - 2 :])
    fill = 0.0 if value is None else float(np.asarray(value))
    return F.pad(x, torch_pad, mode=mode, **({"value": fill} if mode == "constant" else {}))


def _lrn(x, *, a):
    """ONNX LRN: x / (bias + alpha / size * sum of x^2 over ``size`` channels)^beta, as
    F.local_response_norm computes it for an odd size; ONNX Runtime refuses an even one (the
    window's centre differs between the two there), so no file reaches this with one."""
    return F.local_response_norm(
        x, int(a["size"]), a.get("alpha", 1e-4), a.get("beta", 0.75), a.get("bias", 1.0)
    )


def _softmax(x, *, a, log: bool = False):
    axis = a.get("axis", -1)
    return F.log_softmax(x, axis) if log else F.softmax(x, axis)


# Operator -> function(inputs..., a=attributes). Tensors arrive as torch tensors at run time and
# as numpy arrays when folded at build time; the functions below that fold (shape arithmetic)
# take either.
OPS: dict[str, Callable] = {
    "Conv": _conv,
    "BatchNormalization": lambda x, s, b, m, v, *, a: F.batch_norm(
        x, m, v, s, b, False, 0.0, a.get("epsilon", 1e-5)
    ),
    "Relu": lambda x, *, a: F.relu(x),
    "LeakyRelu": lambda x, *, a: F.leaky_relu(x, a.get("alpha", 0.01)),
    "PRelu": lambda x, slope, *, a: torch.where(x >= 0, x, x * slope),
    "Sigmoid": lambda x, *, a: torch.sigmoid(x),
    "HardSigmoid": lambda x, *, a: torch.clamp(x * a.get("alpha", 0.2) + a.get("beta", 0.5), 0, 1),
    "HardSwish": lambda x, *, a: F.hardswish(x),
    "Tanh": lambda x, *, a: torch.tanh(x),
    "Clip": _clip,
    "Add": lambda x, y, *, a: x + y,
    "Sum": lambda *xs, a: sum(xs[1:], xs[0]),
    "LRN": _lrn,
    "Sub": lambda x, y, *, a: x - y,
    "Mul": lambda x, y, *, a: x * y,
    "Div": lambda x, y, *, a: x / y,
    "MaxPool": lambda x, *, a: _pool(x, a=a, kind="max"),
    "AveragePool": lambda x, *, a: _pool(x, a=a, kind="avg"),
    "GlobalAveragePool": lambda x, *, a: F.adaptive_avg_pool2d(x, 1),
    "GlobalMaxPool": lambda x, *, a: x.amax((2, 3), keepdim=True),
    "ReduceMean": lambda x, axes=None, *, a: _reduce(x, axes, a=a, fn=torch.mean),
    "ReduceMax": lambda x, axes=None, *, a: _reduce(x, axes, a=a, fn=torch.amax),
    "Flatten": lambda x, *, a: x.reshape(int(np.prod(x.shape[: a.get("axis", 1)])), -1),
    "Reshape": _reshape,
    "Gemm": _gemm,
    "MatMul": lambda x, y, *, a: x @ y,
    "Identity": lambda x, *, a: x,
    "Dropout": lambda x, *rest, a: x,
    "Transpose": lambda x, *, a: x.permute(*a["perm"]),
    "Squeeze": _squeeze,
    "Unsqueeze": _unsqueeze,
    "Concat": lambda *xs, a: (
        torch.cat(xs, a["axis"])
        if isinstance(xs[0], torch.Tensor)
        else np.concatenate(xs, a["axis"])
    ),
    "Pad": _pad,
    "Softmax": _softmax,
    "LogSoftmax": lambda x, *, a: _softmax(x, a=a, log=True),
}

# Computed at build time only (shape arithmetic on constants); never at run time.
FOLD_ONLY: dict[str, Callable] = {
    "Shape": lambda shape, *, a: np.asarray(shape[a.get("start", 0) : a.get("end")], np.int64),
    "Gather": lambda x, i, *, a: np.take(x, i, axis=a.get("axis", 0)),
    "Cast": lambda x, *, a: np.asarray(x).astype(_numpy_type(a["to"])),
    "Slice": lambda x, starts, ends, axes=None, steps=None, *, a: (
        x[
            tuple(
                slice(int(s), int(e), int(st))
                for s, e, st in zip(
                    starts, ends, steps if steps is not None else [1] * len(starts), strict=True
                )
            )
        ]
        if axes is None or list(axes) == list(range(len(starts)))
        else None
    ),
}


def _numpy_type(onnx_type: int):
    from onnx import helper

    return helper.tensor_dtype_to_np_dtype(onnx_type)


def constant(a: dict) -> np.ndarray:
    from onnx import numpy_helper

    if "value" in a:
        return numpy_helper.to_array(a["value"])
    for key in ("value_float", "value_int"):
        if key in a:
            return np.asarray(a[key])
    for key in ("value_floats", "value_ints"):
        if key in a:
            return np.asarray(list(a[key]))
    raise ModelFileError(f"a Constant node of a kind edgeres does not read ({', '.join(a)})")
