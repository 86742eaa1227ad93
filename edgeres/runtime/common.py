"""What every backend does the same way: the model's ``ModelInfo`` and checking ``infer``'s input.

Files exported by edgeres carry their ``ModelInfo``. A third-party file does not: its spec then
comes from the input shape (NCHW when the 3 channels come first, NHWC when they come last) and the
documented defaults of ``edgeres.spec`` (pixels scaled to [0, 1], no mean/std, RGB), its classes
are ``"0".."N-1"``, and a warning says so. ``spec_override`` and ``classes`` override either.
"""

from __future__ import annotations

import dataclasses
import functools
import warnings
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from edgeres.errors import FlagWarning, ModelFileError, UsageError
from edgeres.spec import InputSpec, ModelInfo
from edgeres.text import shown


def detect_layout(shape: Sequence[Any]) -> str | None:
    """``"NCHW"`` or ``"NHWC"`` from a 4-d image input shape, None when it cannot tell."""
    if len(shape) != 4:
        return None
    first, last = shape[1] == 3, shape[3] == 3
    if first and not last:
        return "NCHW"
    if last and not first:
        return "NHWC"
    return None


def _size(shape: Sequence[Any], layout: str) -> tuple[int | None, int | None]:
    h, w = (shape[2], shape[3]) if layout == "NCHW" else (shape[1], shape[2])
    return (
        h if isinstance(h, int) and h > 0 else None,
        w if isinstance(w, int) and w > 0 else None,
    )


def class_count(dims: Sequence[Any]) -> int | None:
    """The number of scores in an output of ``dims`` (a free dim: not an int): N x C, or
    N x C x 1 x 1 as classic zoo graphs end (a 1x1 convolution or a global pool)."""
    dims = list(dims)
    if len(dims) == 4 and dims[2:] == [1, 1]:
        dims = dims[:2]
    last = dims[-1] if dims else None
    return last if isinstance(last, int) and last > 0 else None


def resolve_info(
    path: Path,
    embedded: ModelInfo | None,
    input_shape: Sequence[Any],
    num_classes: int | None,
    precision: str,
    spec_override: InputSpec | dict | None = None,
    classes: Sequence[str] | None = None,
) -> ModelInfo:
    """The ``ModelInfo`` a backend uses: embedded or defaulted, laid out like the file's input."""
    layout = detect_layout(input_shape)
    if layout is None and len(input_shape) == 4 and embedded is not None:
        layout = embedded.spec.layout  # 3x3 images would be ambiguous; trust the metadata
    if layout is None:
        raise ModelFileError(
            f"'{shown(path)}' takes input of shape {list(input_shape)}, not one image batch with 3 "
            "colour channels (N x 3 x H x W or N x H x W x 3); edgeres runs image classifiers only"
        )
    info = (
        embedded
        if embedded is not None
        else _default_info(path, input_shape, layout, num_classes, precision)
    )
    if embedded is not None and embedded.extra.get("assumed") and spec_override is None:
        # Metadata of another tool (TFLite Support) gave part of the spec: say what was assumed.
        warnings.warn(shown(str(embedded.extra["assumed"])), UserWarning, stacklevel=4)
    spec = info.spec.with_layout(layout)
    if spec_override is not None:
        spec = _override(spec, spec_override, layout)
    h, w = _size(input_shape, layout)
    if (h and h != spec.height) or (w and w != spec.width):
        raise ModelFileError(
            f"'{shown(path)}' takes {h}x{w} images but its metadata says {spec.height}x{spec.width}; "
            "the file is inconsistent (re-export it) or override the spec"
        )
    out = dataclasses.replace(info, spec=spec)
    if classes is not None:
        out = dataclasses.replace(out, classes=tuple(classes))
    if num_classes and len(out.classes) != num_classes:
        raise ModelFileError(
            f"'{shown(path)}' outputs {num_classes} scores but names {len(out.classes)} classes"
        )
    return out


def _default_info(
    path: Path, shape: Sequence[Any], layout: str, num_classes: int | None, precision: str
) -> ModelInfo:
    h, w = _size(shape, layout)
    if h is None or w is None:
        raise ModelFileError(
            f"'{shown(path)}' has no edgeres metadata and a dynamic input size {list(shape)}; "
            "pass spec_override={'height': H, 'width': W} (or re-export it with edgeres)"
        )
    assumed = (
        f"'{shown(path.name)}' has no edgeres metadata: assuming RGB input scaled to [0, 1] with no "
        f"mean/std, {layout} {h}x{w}, classes 0..{(num_classes or 1) - 1}"
    )
    warnings.warn(
        FlagWarning(
            f"{assumed}; pass spec_override= and classes= if that is wrong",
            f"{assumed}; if that is wrong, convert or quantize it with --img-size, --mean, --std "
            "and --labels, which embed them in the file",
        ),
        stacklevel=4,
    )
    return ModelInfo(
        name=path.stem,
        classes=tuple(str(i) for i in range(num_classes or 0)),
        spec=InputSpec(height=h, width=w, layout=layout),
        precision=precision,
        extra={"metadata": "defaults"},
    )


def _override(spec: InputSpec, override: InputSpec | dict, layout: str) -> InputSpec:
    fields = override.to_dict() if isinstance(override, InputSpec) else dict(override)
    if fields.get("layout", layout) != layout:
        raise UsageError(
            f"spec_override asks for layout {fields['layout']} but the file's input is {layout}"
        )
    fields["layout"] = layout
    try:
        return dataclasses.replace(spec, **fields)
    except TypeError as e:
        raise UsageError(f"spec_override has an unknown field: {e}") from None


@functools.lru_cache(maxsize=64)
def _expected_shape(spec: InputSpec) -> tuple[int, int, int]:
    return spec.shape(1)[1:]


def check_batch(batch: Any, spec: InputSpec) -> np.ndarray:
    """Check ``infer``'s input: a float32 array shaped ``spec.shape(n)`` with n >= 1."""
    expected = _expected_shape(spec)
    # The common case first and cheaply: this runs on every inference call.
    if (
        isinstance(batch, np.ndarray)
        and batch.dtype == np.float32
        and batch.shape[1:] == expected
        and batch.ndim == 4
        and batch.shape[0] > 0
    ):
        return batch
    dims = ", ".join(map(str, expected))
    if not isinstance(batch, np.ndarray):
        raise UsageError(
            f"infer takes a numpy float32 array of shape (N, {dims}), got {type(batch).__name__}"
        )
    if batch.dtype != np.float32:
        raise UsageError(
            f"infer takes float32 input, got {batch.dtype}; preprocess images with "
            "backend.spec.preprocess (or call predict with uint8 frames)"
        )
    raise UsageError(
        f"infer takes shape (N, {dims}) in {spec.layout} layout, got {tuple(batch.shape)}"
    )


def run_in_batches(
    batch: np.ndarray, fixed: int | None, run: Callable[[np.ndarray], np.ndarray], name: str
) -> np.ndarray:
    """Run ``batch`` through ``run`` whole, or image by image when the file's batch is fixed at 1.

    Exports fix batch 1 by default; a file fixed at another size takes exactly that many images.
    """
    n = batch.shape[0]
    if fixed is None or fixed == n:
        return run(batch)
    if fixed != 1:
        raise UsageError(f"'{name}' takes batches of exactly {fixed}, got {n}")
    return np.concatenate([run(batch[i : i + 1]) for i in range(n)])
